import type { Command } from 'commander';
import { diff } from '../../maintenance/diff.js';
import type { CommandContext } from '../context.js';
import { ExitCode } from '../errors.js';
import { plural } from '../format.js';
import { withStore } from '../open-store.js';
import { action } from './action.js';
import { SHORT_DIGEST } from './ls.js';

/** Call digests listed per module and kind before `… N more`. */
const LISTED = 10;

/** `memostrata diff <storeA> <storeB>`: like diff(1), exit 0 when the same, 1 when different. */
export function diffCommand(program: Command): void {
  program
    .command('diff')
    .description('compare two stores: calls added, removed or changed per module, values and saved states in one only (exit 1 when they differ)')
    .argument('<storeA>', 'the first store directory')
    .argument('[storeB]', 'the second store directory (default: --store, --config, $MEMOSTRATA_CONFIG, ./.memostrata)')
    .action(action(diffStores));
}

async function diffStores(context: CommandContext, pathA: string, pathB: string | undefined): Promise<number> {
  const result = await withStore(context.store(pathA), 'existing', (storeA) =>
    withStore(context.store(pathB), 'existing', (storeB) => context.withProgress('comparing', (onProgress) => diff(storeA, storeB, { onProgress }))),
  );
  const exitCode = result.identical ? ExitCode.ok : ExitCode.problem;
  if (context.json) {
    context.printJson(result);
    return exitCode;
  }
  if (result.identical) {
    context.print(`no differences (${plural(result.records.same, 'call', 'calls')} in both)`);
    return exitCode;
  }
  const lines: string[] = [];
  for (const module of result.modules) {
    lines.push(`${module.module}: +${module.added.length} -${module.removed.length} ~${module.changed.length} (=${module.same})`);
    for (const [sign, calls] of [['+', module.added], ['-', module.removed], ['~', module.changed]] as const) {
      for (const call of calls.slice(0, LISTED)) lines.push(`  ${sign} ${call.slice(0, SHORT_DIGEST)}`);
      if (calls.length > LISTED) lines.push(`  ${sign} … ${calls.length - LISTED} more`);
    }
  }
  const { added, removed, changed, same } = result.records;
  lines.push(`calls: ${added} only in B (+), ${removed} only in A (-), ${changed} changed (~), ${same} the same`);
  if (result.values.onlyInA + result.values.onlyInB > 0) lines.push(`values: ${result.values.onlyInA} only in A, ${result.values.onlyInB} only in B`);
  if (result.states.onlyInA + result.states.onlyInB > 0) lines.push(`saved states: ${result.states.onlyInA} only in A, ${result.states.onlyInB} only in B`);
  context.print(lines.join('\n'));
  return exitCode;
}
