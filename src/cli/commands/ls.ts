import { Option, type Command } from 'commander';
import type { MemoRecord } from '../../layers/proxy-object-database.js';
import { queryRecords, type EntrySortKey } from '../../maintenance/inventory.js';
import type { CommandContext } from '../context.js';
import { CliError } from '../errors.js';
import { formatDuration, formatSize, formatTable, formatTime, parseDuration } from '../format.js';
import { recordJson, savedMs } from '../record-json.js';
import { withStore } from '../open-store.js';
import { readPins } from '../../maintenance/pins.js';
import { action } from './action.js';

/** Characters of the call digest that `ls` shows; `show` and `rm` take any unique prefix. */
export const SHORT_DIGEST = 12;

const sortKeys = ['created', 'size', 'hits', 'saved', 'compute', 'last-hit'] as const;
type SortKey = (typeof sortKeys)[number];

interface LsOptions {
  sort?: SortKey;
  limit?: string;
  since?: string;
  before?: string;
  minCompute?: string;
  pinned?: boolean;
}

/** `memostrata ls [module]`: one line per memoized call. */
export function lsCommand(program: Command): void {
  program
    .command('ls')
    .description('list memoized calls: digest, created, last hit, hits, result size, compute time')
    .argument('[module]', 'only this module')
    .addOption(new Option('--sort <key>', 'largest / most / newest first').choices(sortKeys))
    .option('--limit <n>', 'show at most n calls')
    .option('--since <time>', 'only calls stored since then: a date (2026-05-01, 2026-05-01T12:00Z) or a duration ago (2d, 12h)')
    .option('--before <time>', 'only calls stored before then: a date or a duration ago')
    .option('--min-compute <duration>', 'only calls whose computation took at least this long (500ms, 2min)')
    .option('--pinned', 'only pinned calls (memostrata pin): those prune --max-size and maxBytes eviction keep')
    .action(action(ls));
}


/** The `--sort` keys as `cache.entries({ sortBy })` names them: one home for the orders. */
const orders: Record<SortKey, EntrySortKey> = {
  created: 'createdAt',
  size: 'bytes',
  hits: 'hits',
  saved: 'savedMs',
  compute: 'computeMs',
  'last-hit': 'lastHitAt',
};

/** A time given as a date, or as a duration before now. */
function parseTime(text: string, option: string, now = Date.now()): number {
  if (/^\s*\d+(?:\.\d+)?\s*[a-z]+\s*$/i.test(text)) return now - parseDuration(text, option);
  const time = Date.parse(text);
  if (Number.isNaN(time)) throw new CliError(`${option} takes a date (2026-05-01, 2026-05-01T12:00Z) or a duration ago (2d, 12h); got '${text}'`);
  return time;
}

async function ls(context: CommandContext, module: string | undefined, options: LsOptions): Promise<number> {
  const limit = options.limit === undefined ? Infinity : Number(options.limit);
  if (options.limit !== undefined && !(Number.isInteger(limit) && limit >= 0)) throw new CliError(`--limit takes a whole number >= 0; got '${options.limit}'`);
  const query = {
    ...(module === undefined ? {} : { module }),
    ...(options.since === undefined ? {} : { since: parseTime(options.since, '--since') }),
    ...(options.before === undefined ? {} : { before: parseTime(options.before, '--before') }),
    ...(options.minCompute === undefined ? {} : { minComputeMs: parseDuration(options.minCompute, '--min-compute') }),
    // Without --sort: key order, which is by module, then by call digest.
    ...(options.sort === undefined ? {} : { sortBy: orders[options.sort] }),
  };
  const { found, pins } = await withStore(context.store(), 'existing', (store) =>
    context.withProgress('listing', async (onProgress) => {
      const pins = await readPins(store, module);
      const found: MemoRecord[] = [];
      for await (const record of queryRecords(store, query)) {
        if (options.pinned === true && !pins.has(record.module, record.call)) continue;
        if (found.push(record) % 1000 === 0) onProgress(found.length, undefined);
      }
      return { found, pins };
    }),
  );
  let records = found;
  const pinMark = (record: MemoRecord): string => (pins.hasOwn(record.module, record.call) ? 'pinned' : pins.modules.has(record.module) ? 'module' : '');
  const total = records.length;
  if (limit < records.length) records = records.slice(0, limit);
  if (context.json) {
    context.printJson({
      total,
      entries: records.map((record) => ({ ...recordJson(record), pinned: pins.has(record.module, record.call) })),
    });
    return 0;
  }
  if (total === 0) {
    context.print(`no ${options.pinned === true ? 'pinned ' : ''}calls${module === undefined ? '' : ` for module ${module}`}`);
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
    ...(pins.empty ? [] : [pinMark(record)]),
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
        // Only a store with pins shows the column: 'pinned' by its own pin, 'module' by its module's.
        ...(pins.empty ? [] : [{ header: 'pin' }]),
      ],
      rows,
    ),
  );
  if (records.length < total) context.print(`… ${(total - records.length).toLocaleString('en-US')} more (of ${total.toLocaleString('en-US')})`);
  return 0;
}
