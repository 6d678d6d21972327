/**
 * The benchmark: `npm run bench` (every scenario, full sizes) or
 * `npm run bench -- --quick` (smaller sizes, fewer repetitions, under two
 * minutes on two cores). Prints a table and writes bench/results.json. Every
 * figure is a ratio to a baseline measured in the same run, each a median of
 * several repetitions. Not a test: nothing here asserts a time.
 *
 * Options: --quick, --only <scenario[,scenario…]>.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { machineInfo } from './lib/machine.js';
import type { BenchResult, Scenario } from './lib/results.js';
import { markdownTable } from './lib/table.js';
import { checkpointScenario } from './scenarios/checkpoint.js';
import { coldRestart } from './scenarios/cold-restart.js';
import { explainMisses } from './scenarios/explain-misses.js';
import { hitMemory } from './scenarios/hit-memory.js';
import { large } from './scenarios/large.js';
import { largeValues } from './scenarios/large-values.js';
import { layers } from './scenarios/layers.js';
import { leaseCost } from './scenarios/lease-cost.js';
import { parallel } from './scenarios/parallel.js';
import { pythonPeers } from './scenarios/python-peers.js';
import { redisCheckpoint } from './scenarios/redis-checkpoint.js';
import { scale } from './scenarios/scale.js';
import { scaleBudget } from './scenarios/scale-budget.js';

const scenarios: Scenario[] = [hitMemory, coldRestart, checkpointScenario, large, largeValues, pythonPeers, scale, scaleBudget, parallel, leaseCost, redisCheckpoint, explainMisses, layers];

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
  },
});
const quick = values.quick === true;
const only = values.only?.split(',').map((name) => name.trim());
const unknown = only?.filter((name) => !scenarios.some((scenario) => scenario.name === name)) ?? [];
if (unknown.length > 0) {
  console.error(`Unknown scenario ${unknown.join(', ')}; the scenarios are ${scenarios.map((s) => s.name).join(', ')}.`);
  process.exit(2);
}

const machine = machineInfo();
console.log(
  `memostrata bench (${quick ? 'quick' : 'full'}): ${machine.cores} cores (${machine.cpuModel}), ${machine.memoryGiB} GiB, Node ${machine.node}, ` +
    `load ${machine.loadAtStart.join(' ')}, commit ${machine.commit}${machine.uncommittedSrc.length > 0 ? ` + uncommitted src changes (${machine.uncommittedSrc.join(', ')})` : ''}`,
);

const scratch = mkdtempSync(join(tmpdir(), 'memostrata-bench-'));
const results: BenchResult[] = [];
const notes: string[] = [];
const skipped: { scenario: string; reason: string }[] = [];
const timings: Record<string, number> = {};
const started = performance.now();
try {
  for (const scenario of scenarios) {
    if (only !== undefined && !only.includes(scenario.name)) continue;
    console.log(`\n== ${scenario.name}: ${scenario.title}`);
    const scenarioStarted = performance.now();
    const outcome = await scenario.run({ quick, scratch, log: (message) => console.log(`   ${message}`) });
    timings[scenario.name] = Math.round(performance.now() - scenarioStarted);
    if (outcome.skipped !== undefined) {
      console.log(`   SKIPPED: ${outcome.skipped}`);
      skipped.push({ scenario: scenario.name, reason: outcome.skipped });
    }
    results.push(...outcome.results);
    notes.push(...(outcome.notes ?? []));
    if (outcome.results.length > 0) console.log(markdownTable(outcome.results));
    console.log(`   (${((timings[scenario.name] ?? 0) / 1000).toFixed(1)} s)`);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
const totalSeconds = (performance.now() - started) / 1000;
const loadAtEnd = loadavg().map((load) => Math.round(load * 100) / 100);

console.log(`\n== All results (${quick ? 'quick' : 'full'} run, ${totalSeconds.toFixed(0)} s, load at end ${loadAtEnd.join(' ')})\n`);
console.log(markdownTable(results));
for (const note of notes) console.log(`- ${note}`);
for (const { scenario, reason } of skipped) console.log(`- ${scenario} skipped: ${reason}`);

const output = fileURLToPath(new URL('./results.json', import.meta.url));
writeFileSync(
  output,
  `${JSON.stringify({ mode: quick ? 'quick' : 'full', machine: { ...machine, loadAtEnd }, seconds: Math.round(totalSeconds), scenarioMs: timings, results, notes, skipped }, null, 2)}\n`,
);
console.log(`\nWrote ${output}`);
