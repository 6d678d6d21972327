import type { Command } from 'commander';
import { verify } from '../../maintenance/verify.js';
import type { CommandContext } from '../context.js';
import { ExitCode } from '../errors.js';
import { formatSize, plural } from '../format.js';
import { withStore } from '../open-store.js';
import { action } from './action.js';

interface VerifyCliOptions {
  fix?: boolean;
}

/** `memostrata verify [--fix]`: exit 1 when problems are found. */
export function verifyCommand(program: Command): void {
  program
    .command('verify')
    .description('check every key: values decode and match their digest, large values\' blobs are whole and match their checksums and names, records are sound and refer to values that exist (exit 1 on problems)')
    .option('--fix', 'remove the broken keys (and the records that refer to broken or missing values, damaged blobs and the keys that name them or a missing one, and the hit counters of calls not held soundly); salvage a store with unreadable parts first (LevelDB repair); nothing else')
    .action(action(verifyStore));
}

async function verifyStore(context: CommandContext, options: VerifyCliOptions): Promise<number> {
  const fix = options.fix === true;
  const result = await withStore(context.store(), 'existing', (store) => context.withProgress('verifying', (onProgress) => verify(store, { fix, onProgress })));
  const exitCode = result.problems.length > 0 ? ExitCode.problem : ExitCode.ok;
  if (context.json) {
    context.printJson({ ok: result.problems.length === 0, checked: result.checked, unverified: result.unverified, problems: result.problems, removed: result.removed, repaired: result.repaired, blobs: result.blobs });
    return exitCode;
  }
  const lines = result.problems.map((problem) => `${problem.kind.padEnd(15)} ${problem.key} ${problem.message}${problem.fixable ? '' : ' (not fixable by --fix)'}`);
  lines.push(
    result.problems.length === 0
      ? `ok: ${plural(result.checked, 'key', 'keys')} checked, no problems`
      : `${plural(result.problems.length, 'problem', 'problems')} in ${plural(result.checked, 'key', 'keys')} checked`,
  );
  if (result.blobs.checked > 0) lines.push(`${plural(result.blobs.checked, 'blob', 'blobs')} of large values (${formatSize(result.blobs.bytes)}) read whole and checked block by block and against their names`);
  if (result.blobs.orphans.length > 0) {
    const unfinished = result.blobs.orphans.filter((blob) => !blob.complete).length;
    const bytes = result.blobs.orphans.reduce((sum, blob) => sum + blob.bytes, 0);
    lines.push(
      `${plural(result.blobs.orphans.length, 'blob', 'blobs')} (${formatSize(bytes)}) that nothing names${unfinished > 0 ? `, ${unfinished} of them unfinished writes` : ''}: ` +
        'not a problem (a checkpoint killed before it committed leaves them); `memostrata prune` deletes them',
    );
  }
  if (fix && result.blobs.removed.length > 0) lines.push(`deleted ${plural(result.blobs.removed.length, 'damaged blob', 'damaged blobs')}: ${result.blobs.removed.join(', ')}`);
  if (result.unverified > 0) lines.push(`${plural(result.unverified, 'value', 'values')} of unregistered types decoded but not digest-checked`);
  if (result.repaired) lines.push('salvaged the readable parts of the store (LevelDB repair); keys in unreadable parts are lost; their calls will be recomputed');
  if (fix) lines.push(`removed ${plural(result.removed.length, 'key', 'keys')}`);
  else if (result.problems.some((problem) => problem.fixable)) lines.push('run `memostrata verify --fix` to remove the broken keys (and salvage unreadable parts)');
  context.print(lines.join('\n'));
  return exitCode;
}
