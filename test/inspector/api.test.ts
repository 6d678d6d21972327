import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/cache/store.js';
import { openCliStore } from '../../src/cli/open-store.js';
import { startInspector, type Inspector } from '../../src/inspector/server.js';
import { readPins } from '../../src/maintenance/pins.js';
import { fixtureCache, makeStore, removeScratch, scratchDir } from '../cli/cli-helpers.js';
import { startServe, type ServeFailure } from './serve-helpers.js';

/*
 * The inspector's HTTP surface without a browser: the token, the checks on
 * writes, and validation of paths and parameters.
 */

let path: string;
let store: Store;
let readOnly: Inspector;
let writable: Inspector;
let internalErrors: unknown[];

beforeAll(async () => {
  path = join(scratchDir(), 'store');
  await makeStore(path);
  const cache = await fixtureCache(path);
  const spare = cache.memoize('spare', (n: number) => n + 1);
  for (let n = 0; n < 5; n += 1) await spare(n);
  await cache.memoize('dir/sub name', (n: number) => -n)(1);
  // Lineage: report(n) uses square(n), which uses load(n).
  const load = cache.memoize('load', (n: number) => n * 10);
  const square = cache.memoize('square', async (n: number) => (await load(n)) ** 2);
  const report = cache.memoize('report', async (n: number) => (await square(n)) + 1);
  await report(2);
  await report(3);
  const near = cache.memoize('near', (a: number, b: string) => `${a}${b}`, { version: '1' });
  await near(1, 'x');
  await near(1, 'y');
  await near(2, 'y');
  await cache.close();
  const later = await fixtureCache(path);
  await later.memoize('near', (a: number, b: string) => `${a}${b}`, { version: '2' })(1, 'x');
  await later.close();
  store = await openCliStore({ type: 'level', path }, 'existing');
  internalErrors = [];
  const onInternalError = (error: unknown) => internalErrors.push(error);
  readOnly = await startInspector(store, { onInternalError });
  writable = await startInspector(store, { allowWrite: true, onInternalError, maxValueBytes: 100_000 });
});

afterAll(async () => {
  await readOnly?.close();
  await writable?.close();
  await store?.proxy.close();
  removeScratch();
});

function get(inspector: Inspector, target: string, headers: Record<string, string> = { 'x-memostrata-token': inspector.token }): Promise<Response> {
  return fetch(`${inspector.origin}${target}`, { headers, redirect: 'manual' });
}

function post(inspector: Inspector, target: string, headers: Record<string, string>): Promise<Response> {
  return fetch(`${inspector.origin}${target}`, { method: 'POST', headers, redirect: 'manual' });
}

async function firstCall(inspector: Inspector, module: string): Promise<string> {
  const body = (await (await get(inspector, `/api/modules/${module}/entries?limit=1`)).json()) as { entries: { call: string }[] };
  return body.entries[0]!.call;
}

describe('the inspector refuses requests without the token', () => {
  it('answers 401 to a page, a static file and an API call without it, and to a wrong one', async () => {
    for (const target of ['/', '/modules/spare', '/static/inspector.js', '/api/overview']) {
      expect((await get(readOnly, target, {})).status).toBe(401);
      expect((await get(readOnly, target, { 'x-memostrata-token': 'wrong' })).status).toBe(401);
    }
    const api = await get(readOnly, '/api/overview', {});
    expect(await api.json()).toEqual({ error: { code: 'UNAUTHORIZED', message: expect.stringContaining('token') } });
  });

  it('turns the token of the printed URL into an HttpOnly SameSite=Strict cookie and takes it out of the address', async () => {
    const first = await fetch(readOnly.url, { redirect: 'manual' });
    expect(first.status).toBe(302);
    expect(first.headers.get('location')).toBe('/');
    const cookie = first.headers.get('set-cookie')!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    const page = await get(readOnly, '/', { cookie: cookie.split(';')[0]! });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('data-page="overview"');
  });

  it('refuses a loopback server reached under another host name (DNS rebinding)', async () => {
    const port = new URL(readOnly.origin).port;
    // fetch() will not send another Host header: node:http does.
    const status = (host: string) =>
      new Promise<number | undefined>((resolve, reject) => {
        request(`${readOnly.origin}/api/overview`, { headers: { host, 'x-memostrata-token': readOnly.token } }, (response) => {
          response.resume();
          resolve(response.statusCode);
        })
          .on('error', reject)
          .end();
      });
    expect(await status(`evil.example:${port}`)).toBe(403);
    expect(await status(`localhost:${port}`)).toBe(200);
  });
});

describe('writes', () => {
  it('are refused by a read-only inspector, and nothing is removed', async () => {
    const call = await firstCall(readOnly, 'spare');
    const response = await post(readOnly, `/api/modules/spare/entries/${call}/delete`, { 'x-memostrata-token': readOnly.token });
    expect(response.status).toBe(403);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('READ_ONLY');
    expect((await get(readOnly, `/api/modules/spare/entries/${call}`)).status).toBe(200);
  });

  it('are refused when they come from another site, or carry the token only in the cookie', async () => {
    const call = await firstCall(writable, 'spare');
    const target = `/api/modules/spare/entries/${call}/delete`;
    const token = writable.token;
    const cookie = `memostrata-token-${new URL(writable.origin).port}=${token}`;
    const refusals: Record<string, string>[] = [
      { 'x-memostrata-token': token, origin: 'http://evil.example' },
      { 'x-memostrata-token': token, 'sec-fetch-site': 'cross-site' },
      { 'x-memostrata-token': token, 'sec-fetch-site': 'same-site' },
      { cookie },
      { cookie, origin: writable.origin, 'sec-fetch-site': 'same-origin' },
    ];
    for (const headers of refusals) expect((await post(writable, target, headers)).status).toBe(403);
    expect((await post(writable, target, {})).status).toBe(401);
    expect((await get(writable, `/api/modules/spare/entries/${call}`)).status).toBe(200);
  });

  it('delete an entry when sent by the inspector’s own page, and it is gone from the listing', async () => {
    const call = await firstCall(writable, 'spare');
    const before = (await (await get(writable, '/api/modules/spare/entries')).json()) as { total: number };
    const response = await post(writable, `/api/modules/spare/entries/${call}/delete`, { 'x-memostrata-token': writable.token, origin: writable.origin, 'sec-fetch-site': 'same-origin' });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { removed: { records: number } }).removed.records).toBe(1);
    expect((await get(writable, `/api/modules/spare/entries/${call}`)).status).toBe(404);
    const after = (await (await get(writable, '/api/modules/spare/entries')).json()) as { total: number; entries: { call: string }[] };
    expect(after.total).toBe(before.total - 1);
    expect(after.entries.map((entry) => entry.call)).not.toContain(call);
  });

  it('are POSTs only: a GET of an action is 405', async () => {
    const response = await get(writable, '/api/modules/spare/clear');
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
  });
});

describe('malformed requests get a 400 with a JSON error and no stack trace', () => {
  const bad = [
    '/api/modules/spare/entries?limit=9999',
    '/api/modules/spare/entries?limit=0',
    '/api/modules/spare/entries?offset=-1',
    '/api/modules/spare/entries?sort=__proto__',
    '/api/modules/spare/entries?order=sideways',
    '/api/modules/spare/entries?call=xyz',
    '/api/modules/spare/entries?status=maybe',
    '/api/modules/spare/entries?limit=1&limit=2',
    '/api/modules/spare/entries?select=*',
    '/api/modules/spare/entries/not-a-digest',
    '/api/modules/%E0%A4%A/entries',
    '/api/modules/a!b/entries',
    `/api/modules/spare/entries/${'0'.repeat(32)}/lineage?depth=0`,
    `/api/modules/spare/entries/${'0'.repeat(32)}/lineage?depth=11`,
    `/api/modules/spare/entries/${'0'.repeat(32)}/lineage?deep=2`,
    `/api/modules/spare/entries/${'0'.repeat(32)}/neighbours?limit=21`,
    '/api/modules/spare/entries/not-a-digest/cascade',
  ];
  for (const target of bad) {
    it(`GET ${target}`, async () => {
      const response = await get(readOnly, target);
      expect(response.status).toBe(400);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      const body = (await response.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('BAD_REQUEST');
      expect(JSON.stringify(body)).not.toMatch(/\n\s+at |\.ts:\d+|\.js:\d+/);
    });
  }

  it('serves static files from a fixed list: a path that climbs out finds nothing', async () => {
    for (const target of ['/static/..%2Fpackage.json', '/static/%2e%2e%2f%2e%2e%2fpackage.json', '/static/../../package.json', '/static/inspector.js%00.png']) {
      const response = await get(readOnly, target);
      expect(response.status).toBe(404);
      expect(await response.text()).not.toContain('"name": "memostrata"');
    }
    expect((await get(readOnly, '/static/uPlot.iife.min.js')).status).toBe(200);
  });

  it('finds a module whose name holds a slash and a space, percent-encoded in one path segment', async () => {
    const response = await get(readOnly, `/api/modules/${encodeURIComponent('dir/sub name')}/entries`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { module: string; total: number; entries: { call: string }[] };
    expect(body).toMatchObject({ module: 'dir/sub name', total: 1 });
    expect((await get(readOnly, `/api/modules/${encodeURIComponent('dir/sub name')}/entries/${body.entries[0]!.call}`)).status).toBe(200);
    expect((await get(readOnly, '/api/modules/dir/sub%20name/entries')).status).toBe(404);
  });

  it('answers 404 for a module the store does not have', async () => {
    expect((await get(readOnly, '/api/modules/nope/entries')).status).toBe(404);
    expect((await get(readOnly, `/api/modules/nope/entries/${'0'.repeat(32)}`)).status).toBe(404);
  });

  it('logged no internal error along the way', () => {
    expect(internalErrors).toEqual([]);
  });
});

/** The call of `module` whose arguments' previews are `args`. */
async function callWith(inspector: Inspector, module: string, ...args: unknown[]): Promise<string> {
  const listing = (await (await get(inspector, `/api/modules/${module}/entries`)).json()) as { entries: { call: string; version: string }[] };
  for (const { call } of listing.entries) {
    const entry = (await (await get(inspector, `/api/modules/${module}/entries/${call}`)).json()) as { record: { version: string }; inputs: { summary: unknown }[] };
    if (JSON.stringify(entry.inputs.map((input) => input.summary)) === JSON.stringify(args)) return call;
  }
  throw new Error(`no call of ${module} with ${JSON.stringify(args)}`);
}

interface NodeJson {
  module: string;
  call: string;
  state: string;
  cut: string | null;
  children: NodeJson[];
}

describe('lineage', () => {
  it('names the calls an entry was computed from and those computed from it', async () => {
    const [load2, square2, report2] = [await callWith(readOnly, 'load', 2), await callWith(readOnly, 'square', 2), await callWith(readOnly, 'report', 2)];
    const response = await get(readOnly, `/api/modules/square/entries/${square2}/lineage`);
    expect(response.status).toBe(200);
    const lineage = (await response.json()) as { depth: number; call: NodeJson; uses: NodeJson[]; usedBy: NodeJson[] };
    expect(lineage.depth).toBe(3);
    expect(lineage.call).toMatchObject({ module: 'square', call: square2, state: 'stored' });
    expect(lineage.uses).toEqual([expect.objectContaining({ module: 'load', call: load2, state: 'stored', cut: null, children: [] })]);
    expect(lineage.usedBy).toEqual([expect.objectContaining({ module: 'report', call: report2, state: 'stored', children: [] })]);
  });

  it('stops each tree at the depth asked for, and says so', async () => {
    const load2 = await callWith(readOnly, 'load', 2);
    const deep = (await (await get(readOnly, `/api/modules/load/entries/${load2}/lineage`)).json()) as { usedBy: NodeJson[] };
    expect(deep.usedBy[0]).toMatchObject({ module: 'square', cut: null, children: [expect.objectContaining({ module: 'report' })] });
    const shallow = (await (await get(readOnly, `/api/modules/load/entries/${load2}/lineage?depth=1`)).json()) as { usedBy: NodeJson[] };
    expect(shallow.usedBy[0]).toMatchObject({ module: 'square', cut: 'depth', children: [] });
  });
});

describe('neighbours', () => {
  it('lists the nearest stored calls of the module, fewest differences first, with what differs', async () => {
    const listing = (await (await get(readOnly, '/api/modules/near/entries')).json()) as { entries: { call: string; version: string }[] };
    const v1 = listing.entries.filter((entry) => entry.version === '1').map((entry) => entry.call);
    // near(1, 'x') of version 1: the one of its calls stored with version 1 whose arguments are 1 and 'x'.
    let own = '';
    for (const candidate of v1) {
      const entry = (await (await get(readOnly, `/api/modules/near/entries/${candidate}`)).json()) as { inputs: { summary: unknown }[] };
      if (JSON.stringify(entry.inputs.map((input) => input.summary)) === '[1,"x"]') own = candidate;
    }
    const response = await get(readOnly, `/api/modules/near/entries/${own}/neighbours`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { scanned: number; truncated: boolean; neighbours: { call: string; differences: { kind: string; position?: number; detail: string }[] }[] };
    expect(body).toMatchObject({ scanned: 3, truncated: false });
    const kinds = body.neighbours.map((neighbour) => neighbour.differences.map((difference) => `${difference.kind}${difference.position ?? ''}`));
    expect(kinds.slice(0, 2).sort()).toEqual([['argument1'], ['version']]);
    expect(kinds[2]).toEqual(['argument0', 'argument1']);
    expect(body.neighbours.flatMap((neighbour) => neighbour.differences).find((difference) => difference.kind === 'version')!.detail).toBe('this call "1", neighbour "2"');
    const one = (await (await get(readOnly, `/api/modules/near/entries/${own}/neighbours?limit=1`)).json()) as { neighbours: unknown[] };
    expect(one.neighbours).toHaveLength(1);
  });
});

describe('invalidate with cascade', () => {
  const sameOrigin = () => ({ 'x-memostrata-token': writable.token, origin: writable.origin, 'sec-fetch-site': 'same-origin' });

  it('lists, as a dry run, the entry and every call computed from it, and removes nothing', async () => {
    const load2 = await callWith(readOnly, 'load', 2);
    const plan = (await (await get(readOnly, `/api/modules/load/entries/${load2}/cascade`)).json()) as { calls: { module: string; call: string }[] };
    expect(plan.calls.map((call) => call.module)).toEqual(['load', 'square', 'report']);
    expect(plan.calls[0]!.call).toBe(load2);
    expect((await get(readOnly, `/api/modules/load/entries/${load2}`)).status).toBe(200);
  });

  it('is refused read-only and from another site, and nothing is removed', async () => {
    const load2 = await callWith(readOnly, 'load', 2);
    const target = `/api/modules/load/entries/${load2}/cascade`;
    const refused = await post(readOnly, target, { 'x-memostrata-token': readOnly.token });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('READ_ONLY');
    expect((await post(writable, target, { 'x-memostrata-token': writable.token, origin: 'http://evil.example' })).status).toBe(403);
    expect((await get(readOnly, `/api/modules/load/entries/${load2}`)).status).toBe(200);
  });

  it('removes the entry and its dependents, and leaves the other lineage alone', async () => {
    const gone = [['load', await callWith(readOnly, 'load', 2)], ['square', await callWith(readOnly, 'square', 2)], ['report', await callWith(readOnly, 'report', 2)]] as const;
    const kept = [['load', await callWith(readOnly, 'load', 3)], ['report', await callWith(readOnly, 'report', 3)]] as const;
    const response = await post(writable, `/api/modules/load/entries/${gone[0][1]}/cascade`, sameOrigin());
    expect(response.status).toBe(200);
    const body = (await response.json()) as { removed: { records: number }; calls: { module: string; call: string }[] };
    expect(body.removed.records).toBe(3);
    expect(body.calls.map(({ module, call }) => [module, call])).toEqual(gone);
    for (const [module, call] of gone) expect((await get(writable, `/api/modules/${module}/entries/${call}`)).status).toBe(404);
    for (const [module, call] of kept) expect((await get(writable, `/api/modules/${module}/entries/${call}`)).status).toBe(200);
    const listing = (await (await get(writable, '/api/modules/report/entries?refresh=1')).json()) as { total: number };
    expect(listing.total).toBe(1);
  });
});

describe('pins', () => {
  const sameOrigin = () => ({ 'x-memostrata-token': writable.token, origin: writable.origin, 'sec-fetch-site': 'same-origin' });
  const entry = async (call: string) => (await (await get(writable, `/api/modules/near/entries/${call}`)).json()) as { pinned: { entry: boolean; module: boolean } };

  it('are refused read-only and from another site, and nothing is pinned', async () => {
    const call = await firstCall(readOnly, 'near');
    for (const target of [`/api/modules/near/entries/${call}/pin`, '/api/modules/near/pin']) {
      expect((await post(readOnly, target, { 'x-memostrata-token': readOnly.token })).status).toBe(403);
      expect((await post(writable, target, { 'x-memostrata-token': writable.token, 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    }
    expect((await entry(call)).pinned).toEqual({ entry: false, module: false });
  });

  it('pin and unpin an entry and a module, as the store, the listing, the entry and the overview show', async () => {
    const call = await firstCall(writable, 'near');
    const pinned = await post(writable, `/api/modules/near/entries/${call}/pin`, sameOrigin());
    expect(pinned.status).toBe(200);
    expect(await pinned.json()).toEqual({ changed: true, pinned: { entry: true, module: false } });
    expect((await entry(call)).pinned).toEqual({ entry: true, module: false });
    const listing = (await (await get(writable, '/api/modules/near/entries')).json()) as { pinned: boolean; entries: { call: string; pinned: boolean }[] };
    expect(listing.entries.filter((row) => row.pinned).map((row) => row.call)).toEqual([call]);
    expect((await readPins(store, 'near')).hasOwn('near', call)).toBe(true);

    expect(await (await post(writable, '/api/modules/near/pin', sameOrigin())).json()).toEqual({ changed: true, pinned: true });
    const overview = (await (await get(writable, '/api/overview')).json()) as { modules: { name: string; pinned: boolean }[] };
    expect(overview.modules.filter((module) => module.pinned).map((module) => module.name)).toEqual(['near']);
    const all = (await (await get(writable, '/api/modules/near/entries')).json()) as { pinned: boolean; entries: { pinned: boolean }[] };
    expect(all.pinned).toBe(true);
    expect(all.entries.every((row) => row.pinned)).toBe(true);

    expect(await (await post(writable, '/api/modules/near/unpin', sameOrigin())).json()).toEqual({ changed: true, pinned: false });
    expect(await (await post(writable, `/api/modules/near/entries/${call}/unpin`, sameOrigin())).json()).toEqual({ changed: true, pinned: { entry: false, module: false } });
    expect((await readPins(store)).empty).toBe(true);
  });

  it('answers 404 for a module or an entry the store does not have', async () => {
    expect((await post(writable, '/api/modules/nosuch/pin', sameOrigin())).status).toBe(404);
    expect((await post(writable, `/api/modules/near/entries/${'0'.repeat(32)}/pin`, sameOrigin())).status).toBe(404);
  });
});

describe('the entry listing', () => {
  it('answers the first look at a module from its key range, then from its index, with the same rows', async () => {
    type Listing = { total: number; matched: number; indexedAt: string | null; entries: { call: string; hits: number }[] };
    const listing = async (): Promise<Listing> => (await (await get(readOnly, '/api/modules/geometry.relax/entries?limit=1&offset=1')).json()) as Listing;
    const first = await listing();
    expect(first.indexedAt).toBeNull();
    expect(first).toMatchObject({ total: 2, matched: 2 });
    let later = await listing();
    while (later.indexedAt === null) later = await listing();
    expect(later.entries).toEqual(first.entries);
    expect(later).toMatchObject({ total: 2, matched: 2 });
  });
});

describe('entry previews', () => {
  it('summarise a large typed array with a downsampled plot, and do not load a value over the size cap', async () => {
    const listing = (await (await get(readOnly, '/api/modules/physics.energy/entries')).json()) as { entries: { call: string }[] };
    const call = listing.entries[0]!.call;
    const loaded = (await (await get(readOnly, `/api/modules/physics.energy/entries/${call}`)).json()) as any;
    expect(loaded.result.loaded).toBe(true);
    expect(loaded.result.summary.grid).toMatchObject({ $type: 'Float64Array', length: 100_000, min: 0, max: 9999.9 });
    expect(loaded.result.plots).toEqual([expect.objectContaining({ path: '.grid', type: 'Float64Array', length: 100_000, min: 0, max: 9999.9 })]);
    expect(loaded.result.plots[0].y).toHaveLength(400);
    // Stored whole (800 kB is under largeValueBytes), so it was loaded, not read in windows.
    expect(loaded.result.plots[0].read).toBeNull();
    // The writable inspector caps values at 100 000 bytes; this result is 800 kB.
    const capped = (await (await get(writable, `/api/modules/physics.energy/entries/${call}`)).json()) as any;
    expect(capped.result).toEqual({ loaded: false, bytes: expect.any(Number), reason: expect.stringContaining('stored whole') });
    expect(capped.inputs[0]).toMatchObject({ loaded: true, summary: expect.anything() });
  });
});

describe('memostrata serve on a store it cannot open', () => {
  it('fails as the other commands do, before starting the server', async () => {
    const missing = (await startServe(['--store', join(scratchDir(), 'nothing-here')]).catch((error: ServeFailure) => error)) as ServeFailure;
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no store at');
    expect(missing.stdout).not.toContain('http://');
    // The store this file holds open is locked for another process.
    const locked = (await startServe(['--store', path]).catch((error: ServeFailure) => error)) as ServeFailure;
    expect(locked.code).toBe(2);
    expect(locked.stderr).toMatch(/in use|locked/i);
    expect(locked.stdout).not.toContain('http://');
  });

  it('refuses a size option it cannot read, before starting the server', async () => {
    for (const option of ['--full-read-bytes', '--max-value-bytes']) {
      const failed = (await startServe(['--store', join(scratchDir(), 'nothing-here'), option, '1X']).catch((error: ServeFailure) => error)) as ServeFailure;
      expect(failed.code, option).toBe(2);
      expect(failed.stderr).toContain(`${option} takes a size`);
      expect(failed.stdout).not.toContain('http://');
    }
  });
});
