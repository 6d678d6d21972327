import type { Command } from 'commander';
import { migrateStore } from '../../maintenance/migrate.js';
import type { CommandContext } from '../context.js';
import { plural } from '../format.js';
import { withStore } from '../open-store.js';
import { action } from './action.js';

/** `memostrata migrate [store]`: convert a store of the previous format in place. */
export function migrateCommand(program: Command): void {
  program
    .command('migrate')
    .description('convert a store written by an older memostrata to the current format, in place (safe to interrupt and run again)')
    .argument('[store]', 'store directory (default: --store, --config, $MEMOSTRATA_CONFIG, ./.memostrata)')
    .action(action(migrate));
}

async function migrate(context: CommandContext, path: string | undefined): Promise<number> {
  // The format check would refuse the very stores this command is for; migrateStore reads the version itself.
  const result = await withStore(context.store(path), 'existing', (store) => context.withProgress('migrating', (onProgress) => migrateStore(store, { onProgress })), { checkFormat: false });
  if (context.json) {
    context.printJson(result);
    return 0;
  }
  if (result.upToDate) {
    context.print(`nothing to do: the store already has format ${result.to}`);
    return 0;
  }
  const converted = result.from === 1 ? `sealed ${plural(result.records, 'record', 'records')}, wrapped ${plural(result.states, 'saved state', 'saved states')}` : 'no entry needed converting';
  // Format 3 began recording lineage: calls stored before have none, so invalidating what they used leaves them.
  const lineage = result.from < 3 ? '; calls stored before the migration have no recorded lineage' : '';
  const lines = [`migrated format ${result.from} to ${result.to}: ${converted}${lineage}`];
  if (result.alreadyDone > 0) lines.push(`${plural(result.alreadyDone, 'key', 'keys')} already converted by an interrupted run`);
  if (result.damaged.length > 0) {
    lines.push(`left ${plural(result.damaged.length, 'damaged key', 'damaged keys')} as they were (${result.damaged.slice(0, 3).join(', ')}${result.damaged.length > 3 ? ', …' : ''}); run \`memostrata verify --fix\` to remove them`);
  }
  context.print(lines.join('\n'));
  return 0;
}
