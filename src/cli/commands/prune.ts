import { Option, type Command } from 'commander';
import { resolveCacheOptions } from '../../cache/config.js';
import { CliError } from '../errors.js';
import { prune } from '../../maintenance/prune.js';
import type { CommandContext } from '../context.js';
import { formatSize, parseDuration, parseSize, plural } from '../format.js';
import { diskChange, measuringDisk } from '../disk.js';
import { withStore } from '../open-store.js';
import { action } from './action.js';

interface PruneCliOptions {
  olderThan?: string;
  maxSize?: string;
  staleVersions?: boolean;
  module?: string[];
  dryRun?: boolean;
  policy?: 'lru' | 'cost';
  expired?: boolean;
  maxAge?: string;
  orphanGrace?: string;
}

/** `memostrata prune`: remove calls by age, total size or stale version, then the values nothing uses. */
export function pruneCommand(program: Command): void {
  program
    .command('prune')
    .description('remove calls by age, total size or stale version, then the values no call uses (criteria combine; none: only unused values)')
    .option('--older-than <duration>', 'calls neither created nor hit within this long (30d, 12h, 90min)')
    .option('--max-size <size>', 'then least recently used calls until the values take at most this much (2GB, 500MB)')
    .addOption(new Option('--policy <policy>', 'which calls --max-size removes first: lru (least recently used) or cost (least compute time × (1 + hits) per byte)').choices(['lru', 'cost']).default('lru'))
    .option('--expired', 'calls stored longer ago than the maxAge of --max-age, else of the configuration (--config, MEMOSTRATA_CONFIG)')
    .option('--max-age <duration>', 'the maxAge --expired uses (30d, 12h, 90min)')
    .option('--stale-versions', "calls of a module's older code: all but its current version (the one it last stored calls with, or hit since)")
    .option('--module <name...>', 'only these modules')
    .option('--dry-run', 'report what would be removed; remove nothing')
    .option('--orphan-grace <duration>', 'on a store other processes write (LMDB, Redis): delete a large value\'s blob that nothing names only once it is older than this; a writer may be about to name it (default 15min; LevelDB: at once)')
    .action(action(pruneStore));
}

async function pruneStore(context: CommandContext, options: PruneCliOptions): Promise<number> {
  const olderThanMs = options.olderThan === undefined ? undefined : parseDuration(options.olderThan, '--older-than');
  const maxBytes = options.maxSize === undefined ? undefined : parseSize(options.maxSize, '--max-size');
  const maxAge = expiredMaxAge(context, options);
  const orphanGraceMs = options.orphanGrace === undefined ? undefined : parseDuration(options.orphanGrace, '--orphan-grace');
  const { result, disk } = await withStore(context.store(), 'existing', (store) =>
    measuringDisk(store, () =>
      context.withProgress('pruning', (onProgress) =>
        prune(store, {
          onProgress,
          ...(olderThanMs === undefined ? {} : { olderThanMs }),
          ...(maxBytes === undefined ? {} : { maxBytes, policy: options.policy ?? 'lru' }),
          ...(maxAge === undefined ? {} : { maxAge }),
          staleVersions: options.staleVersions === true,
          ...(options.module === undefined ? {} : { modules: options.module }),
          dryRun: options.dryRun === true,
          ...(orphanGraceMs === undefined ? {} : { orphanGraceMs }),
        }),
      ),
    ),
  );
  const dryRun = options.dryRun === true;
  if (context.json) {
    context.printJson({ dryRun, records: result.records, byModule: result.byModule, values: result.values, bytes: result.bytes, blobs: result.blobs, blobBytes: result.blobBytes, disk, ...(result.pinned === undefined ? {} : { pinned: result.pinned }) });
    return 0;
  }
  const verb = dryRun ? 'would remove' : 'removed';
  const modules = Object.entries(result.byModule)
    .map(([name, count]) => `${name}: ${count.toLocaleString('en-US')}`)
    .join(', ');
  context.print(
    `${verb} ${plural(result.records, 'call', 'calls')}${modules === '' ? '' : ` (${modules})`}; ` +
      `${dryRun ? 'would free' : 'freed'} ${plural(result.values, 'value', 'values')} (${formatSize(result.bytes)})` +
      `${result.blobs > 0 ? ` and ${plural(result.blobs, 'blob', 'blobs')} (${formatSize(result.blobBytes)})` : ''}${dryRun ? '' : diskChange(disk)}`,
  );
  if (result.pinned?.overLimit === true) {
    context.print(
      `note: pinned calls alone take ${formatSize(result.pinned.bytes)} (${plural(result.pinned.records, 'call', 'calls')}), more than --max-size ${options.maxSize}; ` +
        'they were kept. Unpin some (memostrata unpin <module> [--call <digest>]) to get under the limit.',
    );
  }
  return 0;
}

/** The maxAge that `--expired` removes by: `--max-age`, else the configuration's `maxAge`. */
function expiredMaxAge(context: CommandContext, options: PruneCliOptions): number | undefined {
  if (options.maxAge !== undefined && options.expired !== true) throw new CliError('--max-age says what --expired removes: add --expired');
  if (options.expired !== true) return undefined;
  if (options.maxAge !== undefined) {
    const maxAge = parseDuration(options.maxAge, '--max-age');
    if (maxAge <= 0) throw new CliError(`--max-age takes a duration > 0; got '${options.maxAge}'`);
    return maxAge;
  }
  const configured = context.options.config === undefined && process.env.MEMOSTRATA_CONFIG === undefined ? undefined : resolveCacheOptions(context.options.config === undefined ? undefined : { configFile: context.options.config }).maxAge;
  if (configured === undefined) {
    throw new CliError('--expired needs a maxAge: give --max-age <duration> (such as 30d), or a configuration (--config <file>, MEMOSTRATA_CONFIG) that sets maxAge');
  }
  return configured;
}
