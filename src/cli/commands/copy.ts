import type { Command } from 'commander';
import { backup, restore, type CopyResult } from '../../maintenance/copy.js';
import type { CommandContext } from '../context.js';
import { formatSize, plural } from '../format.js';
import { MemostrataError } from '../../errors.js';
import { storeDirectory, withStore } from '../open-store.js';
import { OpaqueTypes } from '../opaque-types.js';
import { action } from './action.js';

interface RestoreCliOptions {
  force?: boolean;
}

/** `memostrata backup <dest>` and `memostrata restore <src> <store>`. */
export function copyCommands(program: Command): void {
  program
    .command('backup')
    .description('copy the store, from one consistent snapshot, into a new directory')
    .argument('<dest>', 'a new or empty directory')
    .action(action(backupStore));
  program
    .command('restore')
    .description('copy the backup at <src> into <store> (new or empty; with --force, replace it once the copy is complete)')
    .argument('<src>', 'a backup (any LevelDB or LMDB store directory)')
    .argument('[store]', 'the store directory to write (default: --store, --config, $MEMOSTRATA_CONFIG, ./.memostrata)')
    .option('--force', 'replace a store that holds data')
    .action(action(restoreStore));
}

async function backupStore(context: CommandContext, dest: string): Promise<number> {
  const result = await withStore(context.store(), 'existing', (store) => context.withProgress('copying', (onProgress) => backup(store, dest, { onProgress })));
  return report(context, 'backed up', result);
}

async function restoreStore(context: CommandContext, src: string, target: string | undefined, options: RestoreCliOptions): Promise<number> {
  const config = context.store(target);
  const directory = storeDirectory(config);
  if (directory === undefined) {
    throw new MemostrataError(
      'CONFIG',
      `restore writes a store directory, and ${context.options.config ?? 'the configured store'} names a Redis store; to copy the backup at ${src} into it, run \`memostrata merge ${src} --into-config <that config file>\` (or export the backup, then import the file).`,
    );
  }
  const result = await context.withProgress('copying', (onProgress) => restore(src, directory, { onProgress, force: options.force === true, types: new OpaqueTypes() }));
  return report(context, 'restored', result);
}

function report(context: CommandContext, verb: string, result: CopyResult): number {
  if (context.json) context.printJson({ path: result.path, entries: result.entries, bytes: result.bytes, blobs: result.blobs, blobBytes: result.blobBytes });
  else {
    const blobs = result.blobs > 0 ? ` and ${plural(result.blobs, 'blob', 'blobs')} of large values (${formatSize(result.blobBytes)})` : '';
    context.print(`${verb} ${plural(result.entries, 'key', 'keys')} (${formatSize(result.bytes)})${blobs} into ${result.path}`);
  }
  return 0;
}
