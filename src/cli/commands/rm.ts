import type { Command } from 'commander';
import { findRecords } from '../../maintenance/inventory.js';
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

/** `memostrata rm <module> [digest-prefix]` and `memostrata clear`. */
export function removalCommands(program: Command): void {
  program
    .command('rm')
    .description("remove a module's calls, or those whose digest starts with a prefix; then the values no call uses")
    .argument('<module>', 'module name')
    .argument('[digest-prefix]', 'only calls whose digest starts with this')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(action(rm));
  program
    .command('clear')
    .description('remove every call, saved state and value of the store')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(action(clear));
}

async function rm(context: CommandContext, module: string, digestPrefix: string | undefined, options: ConfirmOptions): Promise<number> {
  const config = context.store();
  const removed = await withStore(config, 'existing', async (store) => {
    const records = await findRecords(store, module, digestPrefix ?? '');
    const which = digestPrefix === undefined ? `module ${module}` : `module ${module} with a digest starting with ${digestPrefix}`;
    if (records.length === 0) throw new CliError(`no calls of ${which} in ${store.location}`);
    const question = `Remove ${plural(records.length, 'call', 'calls')} of ${which} from ${store.location}?`;
    if (!(await confirm(question, options.yes, 'remove calls'))) return undefined;
    return measuringDisk(store, () =>
      context.withProgress('removing', (onProgress) => removeRecords(store, records, { statePrefix: `${statePrefix(module)}${(digestPrefix ?? '').toLowerCase()}`, onProgress })),
    );
  });
  return report(context, removed);
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
