/*
 * Takes the screenshots of docs/inspector.md and the README: builds a small
 * demonstration store (LMDB, so that a call can be running in this process
 * while the inspector reads the store), starts `memostrata serve` on it and
 * photographs each page with Debian's chromium. Run after `npm run build`:
 *
 *   npx tsx test/inspector/take-screenshots.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { currentCall, openCache } from '../../src/index.js';
import { chromiumPath, startServe } from './serve-helpers.js';

const images = fileURLToPath(new URL('../../docs/images/', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'memostrata-screenshots-'));
const path = join(dir, 'demo-store');

/** Keeps the CPU busy for about `ms`, so that compute times look like real work. */
function work(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

const cache = await openCache({ backend: { type: 'lmdb', path }, handleExit: false, flush: 'manual' });
const integrals = cache.memoize('basis.integrals', (basis: string, atoms: number) => {
  work(20 + atoms * 3);
  return { basis, atoms, overlap: Float64Array.from({ length: 4096 }, (_, i) => Math.exp(-i / 600) * Math.cos(i / 40)) };
}, { version: '2', pin: true });
// It calls the integrals it needs, so its entries have lineage to show.
const energy = cache.memoize('scf.energy', async (molecule: { name: string; atoms: number }, basis: string) => {
  await integrals(basis, molecule.atoms);
  work(30 + molecule.atoms * 4);
  // 2 MB: over largeValueBytes, so a blob the entry page reads in part. Fast ripples and one spike show the min-max band.
  const density = Float64Array.from({ length: 250_000 }, (_, i) => Math.sin(i / 9000) * Math.exp(-i / 180_000) + molecule.atoms / 10 + 0.12 * Math.sin(i * 1.3) * Math.exp(-i / 90_000));
  density[173_000] = 2.4;
  return { molecule: molecule.name, basis, energy: -76.02 - molecule.atoms * 0.37, iterations: 9 + molecule.atoms, density };
}, { version: '3', dependsOn: [integrals] });
const relax = cache.memoize('geometry.relax', (name: string, steps: number) => {
  work(15 + steps);
  if (steps > 40) throw new RangeError(`${name} did not converge in ${steps} steps`);
  return { name, converged: true, steps, coords: [[0, 0, 0], [0, 0.757, 0.587], [0, -0.757, 0.587]] };
}, { version: '1', cacheErrors: true });

const molecules = ['water', 'ammonia', 'methane', 'benzene', 'ethanol', 'formaldehyde', 'acetone', 'urea'].map((name, index) => ({ name, atoms: 3 + index * 2 }));
for (const basis of ['sto-3g', 'cc-pvdz']) {
  for (const molecule of molecules) {
    await integrals(basis, molecule.atoms);
    await energy(molecule, basis);
  }
}
for (let round = 0; round < 6; round += 1) for (const molecule of molecules.slice(0, 5 - (round % 3))) await energy(molecule, 'sto-3g');
for (const [name, steps] of [['water', 12], ['benzene', 30], ['urea', 55], ['ethanol', 24]] as const) await relax(name, steps).catch(() => undefined);
await relax('water', 12);
await cache.checkpoint();

// One call left running, with saved state, for the leases page.
let finish!: () => void;
const finished = new Promise<void>((resolve) => (finish = resolve));
let started!: () => void;
const running = new Promise<void>((resolve) => (started = resolve));
const trajectory = cache.memoize('md.trajectory', async (steps: number) => {
  await currentCall().save({ step: 4200 });
  started();
  await finished;
  return steps;
});
const call = trajectory(100_000);
await running;

const serving = await startServe(['--store', path, '--allow-write']);
const browser = await chromium.launch({ executablePath: chromiumPath!, args: ['--no-sandbox'] });
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
  const shoot = async (target: string, name: string): Promise<void> => {
    await page.goto(target);
    await page.waitForSelector('body[data-ready="true"]');
    await page.waitForTimeout(400);
    await page.screenshot({ path: join(images, name), fullPage: true });
    console.log(`docs/images/${name}`);
  };
  await shoot(serving.url, 'inspector-overview.png');
  const listing = await (await page.request.get(`${serving.origin}/api/modules/scf.energy/entries?sort=saved&order=desc&limit=1`)).json();
  // Pinned through its page, as a user would, so that the pictures of the module and the entry show a pinned entry.
  await page.goto(`${serving.origin}/modules/scf.energy/entries/${listing.entries[0].call}`);
  await page.waitForSelector('body[data-ready="true"]');
  await page.click('#pin-entry');
  await page.waitForSelector('#record dd[data-field="pinned"][data-value="true"]');
  await shoot(`${serving.origin}/modules/scf.energy?sort=saved&order=desc&limit=50`, 'inspector-module.png');
  await shoot(`${serving.origin}/modules/scf.energy/entries/${listing.entries[0].call}`, 'inspector-entry.png');
  await shoot(`${serving.origin}/leases`, 'inspector-leases.png');
} finally {
  await browser.close();
  await serving.stop();
  finish();
  await call;
  await cache.close();
  rmSync(dir, { recursive: true, force: true });
}
