import type { Command } from 'commander';
import { CodeVersionTally, type CodeVersion } from '../../maintenance/code-versions.js';
import { rawRecords } from '../../maintenance/common.js';
import { moduleSummaries } from '../../maintenance/inventory.js';
import { blobTotals } from '../../maintenance/blobs.js';
import type { CommandContext } from '../context.js';
import { formatDuration, formatSize, formatTable, isoTime, plural } from '../format.js';
import { withStore } from '../open-store.js';
import { action } from './action.js';

/** `memostrata stats`: per module hits, misses and time saved, with totals. */
export function statsCommand(program: Command): void {
  program
    .command('stats')
    .description('per module: hits, misses (calls computed), compute time, time saved, current code version and older ones; and totals')
    .action(action(stats));
}

interface StatsRow {
  module: string;
  hits: number;
  misses: number;
  hitRate: number | null;
  computeMs: number;
  savedMs: number;
  bytes: number;
  /** The module's code versions, the current one first (only per module, not in the total). */
  versions?: CodeVersion[];
}

async function stats(context: CommandContext): Promise<number> {
  const { summaries, versions, blobs } = await withStore(context.store(), 'existing', async (store) => {
    const summaries = await context.withProgress('reading', (onProgress) => moduleSummaries(store, { onProgress }));
    // A second pass over the records' metadata (no results are read): which code versions each module has.
    const tally = new CodeVersionTally();
    for await (const record of rawRecords(store)) tally.add(record);
    return { summaries, versions: await tally.versions(store), blobs: await blobTotals(store) };
  });
  // Every stored call was computed once: a miss. Hits are those counted in the store (as of each call's last flush).
  const rows: StatsRow[] = summaries.map((summary) => ({
    ...row(summary.name, summary.hits, summary.entries, summary.computeMs, summary.savedMs, summary.bytes),
    versions: versions.get(summary.name) ?? [],
  }));
  const totals = rows.reduce(
    (sum, r) => row('total', sum.hits + r.hits, sum.misses + r.misses, sum.computeMs + r.computeMs, sum.savedMs + r.savedMs, sum.bytes + r.bytes),
    row('total', 0, 0, 0, 0, 0),
  );
  if (context.json) {
    const strip = ({ module, versions: codeVersions = [], ...rest }: StatsRow) => ({
      name: module,
      ...rest,
      version: codeVersions.find((version) => version.current)?.version ?? null,
      versions: codeVersions.map(({ lastUsedAt, ...version }) => ({ ...version, lastUsedAt: isoTime(lastUsedAt) })),
    });
    const { module: _, ...total } = totals;
    context.printJson({ modules: rows.map(strip), total, blobs });
    return 0;
  }
  if (rows.length === 0) {
    context.print('no modules');
    return 0;
  }
  const cells = (r: StatsRow): string[] => [
    r.module,
    r.hits.toLocaleString('en-US'),
    r.misses.toLocaleString('en-US'),
    r.hitRate === null ? '-' : `${(r.hitRate * 100).toFixed(1)}%`,
    formatDuration(r.computeMs),
    formatDuration(r.savedMs),
    formatSize(r.bytes),
    r.versions === undefined ? '' : (r.versions.find((version) => version.current)?.version ?? '-'),
    r.versions === undefined ? '' : olderVersions(r.versions),
  ];
  context.print(
    formatTable(
      [
        { header: 'module' },
        { header: 'hits', align: 'right' },
        { header: 'misses', align: 'right' },
        { header: 'hit rate', align: 'right' },
        { header: 'compute', align: 'right' },
        { header: 'saved', align: 'right' },
        { header: 'results', align: 'right' },
        { header: 'version' },
        { header: 'older versions' },
      ],
      [...rows.map(cells), cells(totals)],
    ),
  );
  // Results are counted as the records say (approximate encoded sizes); the large values' own bytes are these.
  if (blobs.count + blobs.unfinished > 0) {
    const unfinished = blobs.unfinished === 0 ? '' : `; ${plural(blobs.unfinished, 'unfinished write', 'unfinished writes')} (${formatSize(blobs.unfinishedBytes)}) that prune deletes`;
    context.print(`\nblobs: ${plural(blobs.count, 'large value', 'large values')} in ${formatSize(blobs.bytes)}${unfinished}`);
  }
  return 0;
}

/** The versions other than the current one, in a few words: `2 (14 calls)`, or `-` for none. */
function olderVersions(versions: readonly CodeVersion[]): string {
  const older = versions.filter((version) => !version.current);
  if (older.length === 0) return '-';
  const calls = older.reduce((sum, version) => sum + version.entries, 0);
  return `${older.length.toLocaleString('en-US')} (${plural(calls, 'call', 'calls')})`;
}

function row(module: string, hits: number, misses: number, computeMs: number, savedMs: number, bytes: number): StatsRow {
  return { module, hits, misses, hitRate: hits + misses === 0 ? null : hits / (hits + misses), computeMs, savedMs, bytes };
}
