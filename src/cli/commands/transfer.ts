import { Option, type Command } from 'commander';
import { exportStore, importStore } from '../../maintenance/export.js';
import { embeddedKinds, type EmbeddedKind } from '../../maintenance/store-kind.js';
import type { CommandContext } from '../context.js';
import { formatSize, isoTime, plural } from '../format.js';
import { withStore, withStoreCreated } from '../open-store.js';
import { action } from './action.js';

interface ExportCliOptions {
  force?: boolean;
}

/** `memostrata export <file>` and `memostrata import <file>`. */
export function transferCommands(program: Command): void {
  program
    .command('export')
    .description('write every key of the store to a portable file (a CBOR sequence, see docs/export-format.md)')
    .argument('<file>', 'the file to write')
    .option('--force', 'overwrite an existing file')
    .action(action(exportToFile));
  program
    .command('import')
    .description('merge an export file into the store (created if missing); checks the whole file before writing anything')
    .argument('<file>', 'a file written by `memostrata export`')
    .addOption(new Option('--type <kind>', 'the kind of the store when the import makes it').choices(embeddedKinds).default('level'))
    .action(action(importFromFile));
}

async function exportToFile(context: CommandContext, file: string, options: ExportCliOptions): Promise<number> {
  const result = await withStore(context.store(), 'existing', (store) =>
    context.withProgress('exporting', (onProgress) => exportStore(store, file, { onProgress, force: options.force === true })),
  );
  if (context.json) context.printJson({ file: result.file, entries: result.entries, bytes: result.bytes, blobs: result.blobs, blobBytes: result.blobBytes });
  else {
    const blobs = result.blobs > 0 ? ` and ${plural(result.blobs, 'blob', 'blobs')} of large values (${formatSize(result.blobBytes)})` : '';
    context.print(`exported ${plural(result.entries, 'key', 'keys')}${blobs} (${formatSize(result.bytes)}) to ${result.file}`);
  }
  return 0;
}

interface ImportCliOptions {
  type: EmbeddedKind;
}

async function importFromFile(context: CommandContext, file: string, options: ImportCliOptions): Promise<number> {
  const result = await withStoreCreated(context.store(undefined, options.type), (store) => context.withProgress('importing', (onProgress) => importStore(store, file, { onProgress })));
  if (context.json) {
    context.printJson({
      file,
      source: result.header.source,
      exportedAt: isoTime(result.header.createdAt),
      entries: result.entries,
      values: result.values,
      records: result.records,
      states: result.states,
      blobs: result.blobs,
      typesAdded: result.typesAdded,
    });
    return 0;
  }
  context.print(
    [
      `imported ${file} (exported from ${result.header.source} at ${isoTime(result.header.createdAt) ?? 'an unknown time'}, ${plural(result.entries, 'key', 'keys')})`,
      `records  ${result.records.added.toLocaleString('en-US')} added, ${result.records.skipped.toLocaleString('en-US')} already present`,
      `values   ${result.values.added.toLocaleString('en-US')} added, ${result.values.skipped.toLocaleString('en-US')} already present`,
      ...(result.states.added + result.states.skipped > 0 ? [`states   ${result.states.added} added, ${result.states.skipped} already present`] : []),
      ...(result.blobs.added + result.blobs.skipped > 0 ? [`blobs    ${result.blobs.added.toLocaleString('en-US')} added, ${result.blobs.skipped.toLocaleString('en-US')} already present`] : []),
    ].join('\n'),
  );
  return 0;
}
