import { Option, type Command } from 'commander';
import type { MemoRecord } from '../../layers/proxy-object-database.js';
import { listRecords } from '../../maintenance/inventory.js';
import type { CommandContext } from '../context.js';
import { CliError } from '../errors.js';
import { formatDuration, formatSize, formatTable, formatTime } from '../format.js';
import { recordJson, savedMs } from '../record-json.js';
import { withStore } from '../open-store.js';
import { action } from './action.js';

/** Characters of the call digest that `ls` shows; `show` and `rm` take any unique prefix. */
export const SHORT_DIGEST = 12;

const sortKeys = ['created', 'size', 'hits', 'saved', 'compute', 'last-hit'] as const;
type SortKey = (typeof sortKeys)[number];

interface LsOptions {
  sort?: SortKey;
  limit?: string;
}

/** `memostrata ls [module]`: one line per memoized call. */
export function lsCommand(program: Command): void {
  program
    .command('ls')
    .description('list memoized calls: digest, created, last hit, hits, result size, compute time')
    .argument('[module]', 'only this module')
    .addOption(new Option('--sort <key>', 'largest / most / newest first').choices(sortKeys))
    .option('--limit <n>', 'show at most n calls')
    .action(action(ls));
}


const orders: Record<SortKey, (a: MemoRecord, b: MemoRecord) => number> = {
  created: (a, b) => b.createdAt - a.createdAt,
  size: (a, b) => b.size - a.size,
  hits: (a, b) => b.hits - a.hits,
  saved: (a, b) => savedMs(b) - savedMs(a),
  compute: (a, b) => b.computeMs - a.computeMs,
  'last-hit': (a, b) => b.lastHitAt - a.lastHitAt,
};

async function ls(context: CommandContext, module: string | undefined, options: LsOptions): Promise<number> {
  const limit = options.limit === undefined ? Infinity : Number(options.limit);
  if (options.limit !== undefined && !(Number.isInteger(limit) && limit >= 0)) throw new CliError(`--limit takes a whole number >= 0; got '${options.limit}'`);
  let records = await withStore(context.store(), 'existing', (store) => context.withProgress('listing', (onProgress) => listRecords(store, module, { onProgress })));
  // Without --sort: key order, which is by module, then by call digest.
  if (options.sort !== undefined) records.sort(orders[options.sort]);
  const total = records.length;
  if (limit < records.length) records = records.slice(0, limit);
  if (context.json) {
    context.printJson({
      total,
      entries: records.map(recordJson),
    });
    return 0;
  }
  if (total === 0) {
    context.print(module === undefined ? 'no calls' : `no calls for module ${module}`);
    return 0;
  }
  const rows = records.map((record) => [
    ...(module === undefined ? [record.module] : []),
    record.version,
    record.call.slice(0, SHORT_DIGEST),
    formatTime(record.createdAt),
    formatTime(record.lastHitAt),
    record.hits.toLocaleString('en-US'),
    record.error === undefined ? formatSize(record.size) : 'error',
    formatDuration(record.computeMs),
    formatDuration(savedMs(record)),
  ]);
  context.print(
    formatTable(
      [
        ...(module === undefined ? [{ header: 'module' }] : []),
        { header: 'version' },
        { header: 'digest' },
        { header: 'created' },
        { header: 'last hit' },
        { header: 'hits', align: 'right' as const },
        { header: 'size', align: 'right' as const },
        { header: 'compute', align: 'right' as const },
        { header: 'saved', align: 'right' as const },
      ],
      rows,
    ),
  );
  if (records.length < total) context.print(`… ${(total - records.length).toLocaleString('en-US')} more (of ${total.toLocaleString('en-US')})`);
  return 0;
}
