import type { Command } from 'commander';
import { storeSummary } from '../../maintenance/inventory.js';
import type { CommandContext } from '../context.js';
import { formatSize, formatTable, formatTime, isoTime } from '../format.js';
import { withStore } from '../open-store.js';
import { action } from './action.js';

/** `memostrata info [store]`: format, backend, size on disk, and each module's calls. */
export function infoCommand(program: Command): void {
  program
    .command('info')
    .description('format version, backend, size on disk, and the modules with their call counts')
    .argument('[store]', 'store directory (default: --store, --config, $MEMOSTRATA_CONFIG, ./.memostrata)')
    .action(action(info));
}

const backendNames: Partial<Record<string, string>> = { level: 'LevelDB (classic-level)', lmdb: 'LMDB (lmdb)', redis: 'Redis (ioredis)' };

async function info(context: CommandContext, path: string | undefined): Promise<number> {
  const summary = await withStore(context.store(path), 'existing', (store) => context.withProgress('reading', (onProgress) => storeSummary(store, { onProgress })));
  if (context.json) {
    context.printJson({
      store: summary.location,
      formatVersion: summary.formatVersion ?? null,
      backend: summary.backend,
      sizeOnDisk: summary.sizeOnDisk ?? null,
      values: summary.values,
      records: summary.records,
      states: summary.states,
      blobs: summary.blobs,
      types: summary.types,
      modules: summary.modules.map((module) => ({
        name: module.name,
        version: module.latestVersion,
        versions: module.versions,
        entries: module.entries,
        bytes: module.bytes,
        hits: module.hits,
        errors: module.errors,
        lastCreatedAt: isoTime(module.lastCreatedAt),
        lastUsedAt: isoTime(module.lastUsedAt),
      })),
    });
    return 0;
  }
  context.print(
    [
      `store     ${summary.location}`,
      `format    ${summary.formatVersion ?? 'missing'}`,
      `backend   ${backendNames[summary.backend] ?? summary.backend}`,
      `on disk   ${summary.sizeOnDisk === undefined ? '-' : formatSize(summary.sizeOnDisk)}`,
      `values    ${summary.values.count.toLocaleString('en-US')} (${formatSize(summary.values.bytes)} encoded)`,
      `records   ${summary.records.toLocaleString('en-US')}`,
      ...(summary.blobs.count + summary.blobs.unfinished > 0 ? [`blobs     ${blobLine(summary.blobs)}`] : []),
      ...(summary.states.count > 0 ? [`states    ${summary.states.count.toLocaleString('en-US')} unfinished calls (${formatSize(summary.states.bytes)})`] : []),
      ...(summary.types.length > 0 ? [`types     ${summary.types.join(', ')}`] : []),
    ].join('\n'),
  );
  if (summary.modules.length === 0) {
    context.print('\nno modules');
    return 0;
  }
  const rows = summary.modules.map((module) => [
    module.name,
    module.versions.length > 1 ? `${module.latestVersion} (+${module.versions.length - 1} older)` : module.latestVersion,
    module.entries.toLocaleString('en-US'),
    formatSize(module.bytes),
    module.hits.toLocaleString('en-US'),
    formatTime(module.lastUsedAt),
  ]);
  context.print(
    `\n${formatTable(
      [
        { header: 'module' },
        { header: 'version' },
        { header: 'calls', align: 'right' },
        { header: 'results', align: 'right' },
        { header: 'hits', align: 'right' },
        { header: 'last used' },
      ],
      rows,
    )}`,
  );
  return 0;
}

/** `3 (1.2 GiB), 1 unfinished write (8 MiB; prune deletes it)`. */
function blobLine(blobs: { count: number; bytes: number; unfinished: number; unfinishedBytes: number }): string {
  const unfinished = blobs.unfinished === 0 ? '' : `, ${blobs.unfinished.toLocaleString('en-US')} unfinished ${blobs.unfinished === 1 ? 'write' : 'writes'} (${formatSize(blobs.unfinishedBytes)}; prune deletes them)`;
  return `${blobs.count.toLocaleString('en-US')} large values (${formatSize(blobs.bytes)})${unfinished}`;
}
