/*
 * A parameter scan over an expensive numerical integration, memoized with
 * memostrata on the embedded LevelDB default (./.memostrata).
 *
 * For each (damping ζ, drive frequency ω) on a grid, integrate a driven,
 * damped Duffing oscillator  x'' + 2ζx' + x + x³ = cos(ωt)  with RK4 and
 * return the steady-state amplitude response as a Float64Array. Each point
 * takes a fraction of a second; the scan is a stand-in for any job made of
 * many expensive, independent steps.
 *
 * Run: npx tsx examples/parameter-scan.ts   (npm run demo runs it twice, killing the first run)
 */
import { openCache } from '../src/index.js';

/** RK4 integration of the Duffing oscillator; returns |x| maxima over the last periods. */
function integrateDuffing(damping: number, omega: number, steps: number): Float64Array {
  const dt = 0.005;
  let t = 0;
  let x = 0;
  let v = 0;
  const accel = (time: number, pos: number, vel: number): number => Math.cos(omega * time) - 2 * damping * vel - pos - pos * pos * pos;
  const tail = 64;
  const maxima = new Float64Array(tail);
  let index = 0;
  let previous = 0;
  for (let step = 0; step < steps; step += 1) {
    const k1x = v;
    const k1v = accel(t, x, v);
    const k2x = v + 0.5 * dt * k1v;
    const k2v = accel(t + 0.5 * dt, x + 0.5 * dt * k1x, v + 0.5 * dt * k1v);
    const k3x = v + 0.5 * dt * k2v;
    const k3v = accel(t + 0.5 * dt, x + 0.5 * dt * k2x, v + 0.5 * dt * k2v);
    const k4x = v + dt * k3v;
    const k4v = accel(t + dt, x + dt * k3x, v + dt * k3v);
    x += (dt / 6) * (k1x + 2 * k2x + 2 * k3x + k4x);
    v += (dt / 6) * (k1v + 2 * k2v + 2 * k3v + k4v);
    t += dt;
    // A sign change of v from + to - is a maximum of x; keep the latest ones (steady state).
    if (previous > 0 && v <= 0) {
      maxima[index % tail] = Math.abs(x);
      index += 1;
    }
    previous = v;
  }
  return maxima;
}

const stepsPerPoint = Number(process.env.SCAN_STEPS ?? 6_000_000);
const dampings = [0.05, 0.1, 0.2, 0.4];
const omegas = [0.8, 1.0, 1.2, 1.4, 1.6, 1.8];

const cache = await openCache();
const response = cache.memoize('duffing.response', (damping: number, omega: number, steps: number) => integrateDuffing(damping, omega, steps), {
  version: '1',
});

const points = dampings.flatMap((damping) => omegas.map((omega) => [damping, omega] as const));
console.log(`Scanning ${points.length} points (${stepsPerPoint.toLocaleString('en')} RK4 steps each); store: ${cache.location}`);
const started = performance.now();
for (const [position, [damping, omega]] of points.entries()) {
  const before = cache.stats().modules['duffing.response']!;
  const pointStarted = performance.now();
  const maxima = await response(damping, omega, stepsPerPoint);
  const after = cache.stats().modules['duffing.response']!;
  const amplitude = maxima.reduce((sum, value) => sum + value, 0) / maxima.length;
  const how = after.hits > before.hits ? 'cache hit' : `computed in ${(performance.now() - pointStarted).toFixed(0)} ms`;
  // A checkpoint after each point: if the job is killed now, this point is never computed again.
  await cache.checkpoint();
  console.log(`[${String(position + 1).padStart(2)}/${points.length}] ζ=${damping.toFixed(2)} ω=${omega.toFixed(1)}  amplitude ${amplitude.toFixed(4)}  (${how})`);
}
const stats = cache.stats().modules['duffing.response']!;
console.log(
  `Done in ${((performance.now() - started) / 1000).toFixed(1)} s: ${stats.hits} hits, ${stats.misses} misses; ` +
    `computing took ${(stats.computeMs / 1000).toFixed(1)} s, the cache saved ${(stats.savedMs / 1000).toFixed(1)} s.`,
);
await cache.close();
