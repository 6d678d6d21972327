import type { Command } from 'commander';
import { findRecords } from '../../maintenance/inventory.js';
import { dependentsOf } from '../../maintenance/lineage.js';
import type { MemoRecord } from '../../layers/memo-record.js';
import { SHORT_DIGEST } from './ls.js';
import { statePrefix } from '../../layers/keys.js';
import { confirm } from '../confirm.js';
import type { CommandContext } from '../context.js';
import { CliError } from '../errors.js';
import { formatSize, plural } from '../format.js';
import { diskChange, measuringDisk, type Measured } from '../disk.js';
import { withStore } from '../open-store.js';
import { clearStore, removeRecords, type Removed } from '../../maintenance/remove.js';
import { action } from './action.js';

interface ConfirmOptions {
  yes?: boolean;
}

interface RmOptions extends ConfirmOptions {
  cascade?: boolean;
  dryRun?: boolean;
}

/** `memostrata rm <module> [digest-prefix]` and `memostrata clear`. */
export function removalCommands(program: Command): void {
  program
    .command('rm')
    .description("remove a module's calls, or those whose digest starts with a prefix; then the values no call uses")
    .argument('<module>', 'module name')
    .argument('[digest-prefix]', 'only calls whose digest starts with this')
    .option('--cascade', 'also remove every stored call computed from them, transitively (their lineage)')
    .option('--dry-run', 'list the calls that would be removed, and remove nothing')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(action(rm));
  program
    .command('clear')
    .description('remove every call, saved state and value of the store')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(action(clear));
}

async function rm(context: CommandContext, module: string, digestPrefix: string | undefined, options: RmOptions): Promise<number> {
  const config = context.store();
  const cascade = options.cascade === true;
  const outcome = await withStore(config, 'existing', async (store) => {
    const records = await findRecords(store, module, digestPrefix ?? '');
    const which = digestPrefix === undefined ? `module ${module}` : `module ${module} with a digest starting with ${digestPrefix}`;
    if (records.length === 0) throw new CliError(`no calls of ${which} in ${store.location}`);
    const dependents = cascade ? await dependentsOf(store, records) : [];
    const doomed = [...records, ...dependents];
    if (options.dryRun === true) return { kind: 'dry-run' as const, doomed };
    const also = dependents.length === 0 ? '' : ` and ${plural(dependents.length, 'call', 'calls')} computed from them`;
    const question = `Remove ${plural(records.length, 'call', 'calls')} of ${which}${also} from ${store.location}?`;
    if (!(await confirm(question, options.yes, 'remove calls'))) return { kind: 'cancelled' as const };
    return {
      kind: 'removed' as const,
      removed: await measuringDisk(store, () =>
        context.withProgress('removing', (onProgress) => removeRecords(store, doomed, { statePrefix: `${statePrefix(module)}${(digestPrefix ?? '').toLowerCase()}`, cascade, onProgress })),
      ),
    };
  });
  if (outcome.kind === 'dry-run') return reportDryRun(context, outcome.doomed);
  return report(context, outcome.kind === 'removed' ? outcome.removed : undefined);
}

/** `--dry-run`: what would go, one call a line (module, digest as `ls` shows it, version), or as JSON. */
function reportDryRun(context: CommandContext, doomed: readonly MemoRecord[]): number {
  if (context.json) {
    context.printJson({ dryRun: true, calls: doomed.map(({ module, call, version }) => ({ module, call, version })) });
    return 0;
  }
  const lines = doomed.map((record) => `${record.module}\t${record.call.slice(0, SHORT_DIGEST)}\t${record.version}`);
  lines.push(`dry run: would remove ${plural(doomed.length, 'call', 'calls')}; nothing was removed`);
  context.print(lines.join('\n'));
  return 0;
}

async function clear(context: CommandContext, options: ConfirmOptions): Promise<number> {
  const removed = await withStore(context.store(), 'existing', async (store) => {
    if (!(await confirm(`Remove every call, saved state and value of ${store.location}?`, options.yes, 'clear the store'))) return undefined;
    return measuringDisk(store, () => clearStore(store));
  });
  return report(context, removed);
}

function report(context: CommandContext, outcome: Measured<Removed> | undefined): number {
  if (context.json) {
    context.printJson(
      outcome === undefined
        ? { cancelled: true, records: 0, states: 0, values: 0, bytes: 0, disk: null }
        : { cancelled: false, ...outcome.result, disk: outcome.disk },
    );
  } else if (outcome === undefined) {
    context.print('cancelled; nothing removed');
  } else {
    const { result: removed, disk } = outcome;
    const states = removed.states > 0 ? ` and ${plural(removed.states, 'saved state', 'saved states')}` : '';
    context.print(`removed ${plural(removed.records, 'call', 'calls')}${states}; freed ${plural(removed.values, 'value', 'values')} (${formatSize(removed.bytes)})${diskChange(disk)}`);
  }
  return 0;
}
