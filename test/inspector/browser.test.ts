import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { currentCall, openCache } from '../../src/index.js';
import { fixtureCache, makeStore, removeScratch, runJson, scratchDir } from '../cli/cli-helpers.js';
import { chromiumPath, describeWithChromium, startServe, type Serving } from './serve-helpers.js';

/*
 * The inspector in a real browser (Debian's chromium through playwright-core):
 * one browser for the file, one page walking through the views in order.
 */

interface StatsRow {
  name: string;
  hits: number;
  misses: number;
  computeMs: number;
  savedMs: number;
  bytes: number;
}

/** Waits for what the page shows; the bound is generous because the machine running the suite may be busy. */
function eventually<T>(read: () => Promise<T> | T) {
  return expect.poll(read, { timeout: 20_000 });
}

describeWithChromium('memostrata serve in a browser', () => {
  let path: string;
  let stats: { modules: StatsRow[]; total: Omit<StatsRow, 'name'> };
  let serving: Serving;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let deletedCall: string;

  beforeAll(async () => {
    path = join(scratchDir(), 'store');
    await makeStore(path);
    // Lineage: square(2) is computed from load(2).
    const cache = await fixtureCache(path);
    const load = cache.memoize('load', (n: number) => n * 10);
    await cache.memoize('square', async (n: number) => (await load(n)) ** 2)(2);
    // 2.4 MB: over largeValueBytes, so stored as a blob and read in part by the entry page.
    await cache.memoize('signal', (period: number) => ({ samples: Float64Array.from({ length: 300_000 }, (_, index) => index % period) }))(7001);
    await cache.close();
    // Before serve takes the store's lock.
    stats = (await runJson(['--store', path, 'stats'])).json;
    serving = await startServe(['--store', path, '--allow-write']);
    browser = await chromium.launch({ executablePath: chromiumPath!, args: ['--no-sandbox'] });
    context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    page = await context.newPage();
  });

  afterAll(async () => {
    await browser?.close();
    await serving?.stop();
    removeScratch();
  });

  async function ready(): Promise<void> {
    await page.waitForSelector('body[data-ready="true"]');
  }

  it('opens the overview from the printed URL, with the figures of `memostrata stats --json`', async () => {
    await page.goto(serving.url);
    await ready();
    // The token left the address bar for a cookie.
    expect(page.url()).toBe(`${serving.origin}/`);
    for (const module of stats.modules) {
      const row = page.locator(`#modules tr[data-module="${module.name}"]`);
      for (const field of ['hits', 'misses', 'computeMs', 'savedMs', 'bytes'] as const) {
        expect(Number(await row.locator(`td[data-field="${field}"]`).getAttribute('data-value')), `${module.name} ${field}`).toBe(module[field]);
      }
    }
    expect(await page.locator('#modules tbody tr').count()).toBe(stats.modules.length);
    for (const field of ['hits', 'savedMs', 'computeMs', 'bytes'] as const) {
      expect(Number(await page.locator(`#store-figures dd[data-field="${field}"]`).getAttribute('data-value')), `total ${field}`).toBe(stats.total[field]);
    }
    // The chart of time saved is drawn by the chart library the package serves.
    await eventually(() => page.locator('#saved-chart canvas').count()).toBeGreaterThan(0);
    await page.click('#check-health');
    await eventually(() => page.locator('#health-result').textContent()).toMatch(/^ok: \d+ keys checked, no problems/);
  });

  it('goes to a module, sorts its entries on the server, and opens an entry', async () => {
    await page.click('#modules a[data-field="name"]:text("physics.energy")');
    await page.waitForURL(`${serving.origin}/modules/physics.energy`);
    await ready();
    await eventually(() => page.locator('#entries tbody tr[data-call]').count()).toBe(3);
    await page.click('#entries th[data-sort="hits"]');
    await page.waitForURL(/sort=hits&order=desc/);
    await eventually(() => page.locator('#entries tbody tr[data-call] >> nth=0').locator('td[data-field="hits"]').getAttribute('data-value')).toBe('2');
    deletedCall = (await page.locator('#entries tbody tr[data-call] >> nth=0').getAttribute('data-call'))!;
    await page.fill('#filter-call', deletedCall.slice(0, 6));
    await eventually(() => page.locator('#range').getAttribute('data-matched')).toBe('1');
    await page.click(`#entries a[title="${deletedCall}"]`);
    await page.waitForURL(`${serving.origin}/modules/physics.energy/entries/${deletedCall}`);
    await ready();
    expect(await page.locator('#record dd[data-field="hits"]').getAttribute('data-value')).toBe('2');
    expect(await page.locator('#record dd[data-field="version"]').getAttribute('data-value')).toBe('2');
    await eventually(() => page.locator('#result .plot[data-plot=".grid"] canvas').count()).toBe(1);
    expect(await page.locator('#result .plot .caption').textContent()).toContain('Float64Array(100,000)');
    expect(await page.locator('#lineage-uses').textContent()).toBe('(none recorded)');
    await page.click('#explain-neighbours');
    await eventually(() => page.locator('#neighbour-table tbody tr').count()).toBe(2);
    expect(await page.locator('#neighbour-table td[data-field="differences"]').allTextContents()).toContainEqual(expect.stringMatching(/^argument 0 \(other content\)/));
  });

  it('shows a large array stored as a blob: its summary, read in part, and a plot of its downsample', async () => {
    const listing = (await (await page.request.get(`${serving.origin}/api/modules/signal/entries`)).json()) as { entries: { call: string }[] };
    await page.goto(`${serving.origin}/modules/signal/entries/${listing.entries[0]!.call}`);
    await ready();
    await eventually(() => page.locator('#result .plot[data-plot=".samples"] canvas').count()).toBe(1);
    expect(await page.locator('#result .plot .caption').textContent()).toMatch(/^\.samples: Float64Array\(300,000\), min 0, max 7000, mean [\d.]+; 400-bucket downsample/);
    expect(await page.locator('#result [data-field="reading"]').textContent()).toMatch(/^read in part from the store: 1 window, 2\.3 MiB, never loaded whole$/);
    await page.goto(`${serving.origin}/modules/physics.energy/entries/${deletedCall}`);
    await ready();
  });

  it('pins the entry (with --allow-write): the entry page and the module listing show it', async () => {
    expect(await page.locator('#record dd[data-field="pinned"]').getAttribute('data-value')).toBe('false');
    await page.click('#pin-entry');
    await eventually(() => page.locator('#record dd[data-field="pinned"]').getAttribute('data-value')).toBe('true');
    expect(await page.locator('#pin-entry').textContent()).toBe('Unpin this entry');
    const listing = (await (await page.request.get(`${serving.origin}/api/modules/physics.energy/entries`)).json()) as { entries: { call: string; pinned: boolean }[] };
    expect(listing.entries.filter((entry) => entry.pinned).map((entry) => entry.call)).toEqual([deletedCall]);
  });

  it('deletes the entry (with --allow-write), and the module no longer lists it', async () => {
    page.once('dialog', (dialog) => void dialog.accept());
    await page.click('#delete-entry');
    await page.waitForURL(`${serving.origin}/modules/physics.energy?deleted=${deletedCall}`);
    await ready();
    await eventually(() => page.locator('#range').getAttribute('data-total')).toBe('2');
    expect(await page.locator(`#entries tr[data-call="${deletedCall}"]`).count()).toBe(0);
    expect((await page.request.get(`${serving.origin}/api/modules/physics.energy/entries/${deletedCall}`)).status()).toBe(404);
    // Its pin went with it.
    expect(await page.locator('#entries .badge.pinned').count()).toBe(0);
  });

  it('follows lineage links between entries, and invalidates an entry with the calls computed from it', async () => {
    await page.goto(`${serving.origin}/modules/square`);
    await ready();
    await eventually(() => page.locator('#entries tbody tr[data-call]').count()).toBe(1);
    const square = (await page.locator('#entries tbody tr[data-call]').getAttribute('data-call'))!;
    await page.click(`#entries a[title="${square}"]`);
    await page.waitForURL(`${serving.origin}/modules/square/entries/${square}`);
    await ready();
    const load = (await page.locator('#lineage-uses a[data-module="load"]').getAttribute('data-call'))!;
    await page.click('#lineage-uses a[data-module="load"]');
    await page.waitForURL(`${serving.origin}/modules/load/entries/${load}`);
    await ready();
    expect(await page.locator(`#lineage-used-by a[data-call="${square}"]`).count()).toBe(1);
    let question = '';
    page.once('dialog', (dialog) => {
      question = dialog.message();
      void dialog.accept();
    });
    await page.click('#cascade-entry');
    await page.waitForURL(`${serving.origin}/modules/load?deleted=${load}&cascade=2`);
    expect(question).toContain(`square ${square.slice(0, 12)}`);
    for (const [module, call] of [['load', load], ['square', square]]) {
      expect((await page.request.get(`${serving.origin}/api/modules/${module}/entries/${call}`)).status()).toBe(404);
    }
  });

  it('refuses a browser without the token', async () => {
    const stranger = await browser.newContext();
    try {
      const other = await stranger.newPage();
      expect((await other.goto(`${serving.origin}/`))!.status()).toBe(401);
      expect((await other.goto(`${serving.origin}/modules/physics.energy`))!.status()).toBe(401);
      expect((await other.goto(`${serving.origin}/api/overview`))!.status()).toBe(401);
    } finally {
      await stranger.close();
    }
  });

  it('refuses a POST that a page of another site sends from the signed-in browser', async () => {
    const listing = await (await page.request.get(`${serving.origin}/api/modules/physics.energy/entries`)).json();
    const target: string = listing.entries[0].call;
    const action = `${serving.origin}/api/modules/physics.energy/entries/${target}/delete`;
    const evil: Server = createServer((_, response) => {
      response.writeHead(200, { 'Content-Type': 'text/html' });
      response.end(`<form id="f" method="POST" action="${action}"><input name="x" value="1"></form><script>document.getElementById('f').submit()</script>`);
    });
    await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
    try {
      const refused = page.waitForResponse(action);
      // localhost is another site than 127.0.0.1 for the browser's cookies and origin checks.
      await page.goto(`http://localhost:${(evil.address() as AddressInfo).port}/`);
      expect([401, 403]).toContain((await refused).status());
    } finally {
      await new Promise((resolve) => evil.close(resolve));
    }
    expect((await page.request.get(`${serving.origin}/api/modules/physics.energy/entries/${target}`)).status()).toBe(200);
  });

  it('shows the calls running on a shared store, refreshed live', async () => {
    const shared = join(scratchDir(), 'shared');
    const cache = await openCache({ backend: { type: 'lmdb', path: shared }, handleExit: false, flush: 'manual' });
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const long = cache.memoize('long.run', async (steps: number) => {
      await currentCall().save({ done: 1 });
      started();
      await finished;
      return steps;
    });
    const call = long(3);
    await running;
    const leases = await startServe(['--store', shared]);
    try {
      await page.goto(leases.url);
      await page.goto(`${leases.origin}/leases`);
      await ready();
      await eventually(() => page.locator('#leases tbody tr[data-call]').count()).toBe(1);
      const row = await page.locator('#leases tbody tr[data-call]').textContent();
      expect(row).toContain('long.run');
      expect(row).toContain(`:${process.pid}`);
      finish();
      expect(await call).toBe(3);
      // No reload: the page polls the API.
      await eventually(() => page.locator('#leases tbody tr[data-call]').count()).toBe(0);
    } finally {
      finish();
      await leases.stop();
      await cache.close();
    }
  });
});
