import { Option, type Command } from 'commander';
import type { Store } from '../../cache/store.js';
import { merge, type MergeResult } from '../../maintenance/merge.js';
import { embeddedKinds, type EmbeddedKind } from '../../maintenance/store-kind.js';
import type { CommandContext } from '../context.js';
import { CliError, ExitCode } from '../errors.js';
import { plural } from '../format.js';
import { openCliStore, resolveStore, withStoreCreated } from '../open-store.js';
import { action } from './action.js';
import { SHORT_DIGEST } from './ls.js';

/** Conflicts listed before `… N more`. */
const LISTED = 10;

interface MergeCliOptions {
  into?: string;
  intoConfig?: string;
  intoType: EmbeddedKind;
}

/** `memostrata merge <store>... --into <store>`: shards (one store per rank or task) into one. */
export function mergeCommand(program: Command): void {
  program
    .command('merge')
    .description('merge LevelDB or LMDB stores (one per rank or task) into one store, new or existing; each source is verified first; merging again changes nothing')
    .argument('<store...>', 'the source store directories')
    .option('--into <path>', 'the target store directory (made if missing)')
    .option('--into-config <file>', 'the target store, as a memostrata JSON config file names it (a Redis store too)')
    .addOption(new Option('--into-type <kind>', 'the kind of the target when the merge makes it').choices(embeddedKinds).default('level'))
    .action(action(mergeStores));
}

async function mergeStores(context: CommandContext, paths: string[], options: MergeCliOptions): Promise<number> {
  if ((options.into === undefined) === (options.intoConfig === undefined)) throw new CliError('merge needs its target: pass --into <path> or --into-config <file> (one of the two)');
  const targetConfig = options.into !== undefined ? resolveStore({}, options.into, {}, options.intoType) : resolveStore({ config: options.intoConfig });
  const sources: Store[] = [];
  let result: MergeResult;
  try {
    for (const path of paths) sources.push(await openCliStore(context.store(path), 'existing'));
    result = await withStoreCreated(targetConfig, (target) => context.withProgress('merging', (onProgress) => merge(sources, target, { onProgress })));
  } finally {
    for (const source of sources) await source.proxy.close();
  }
  if (context.json) {
    context.printJson(result);
    return ExitCode.ok;
  }
  const line = (what: string, count: { added: number; skipped: number }) => `${what.padEnd(9)}${count.added.toLocaleString('en-US')} added, ${count.skipped.toLocaleString('en-US')} already present`;
  const lines = [
    `merged ${plural(result.sources.length, 'store', 'stores')} into ${result.target}`,
    line('calls', result.records),
    line('values', result.values),
    ...(result.states.added + result.states.skipped > 0 ? [line('states', result.states)] : []),
    ...(result.blobs.added + result.blobs.skipped > 0 ? [line('blobs', result.blobs)] : []),
    `${'hits'.padEnd(9)}${result.counters.added.toLocaleString('en-US')} counters added, ${result.counters.updated.toLocaleString('en-US')} updated`,
  ];
  if (result.conflicts.length > 0) {
    lines.push(`${plural(result.conflicts.length, 'conflict', 'conflicts')}: calls held with another result; the target's record was kept (the earliest store given wins):`);
    for (const conflict of result.conflicts.slice(0, LISTED)) lines.push(`  ${conflict.module} ${conflict.call.slice(0, SHORT_DIGEST)} (not taken from ${conflict.source})`);
    if (result.conflicts.length > LISTED) lines.push(`  … ${result.conflicts.length - LISTED} more (--json lists them all)`);
  }
  context.print(lines.join('\n'));
  return ExitCode.ok;
}
