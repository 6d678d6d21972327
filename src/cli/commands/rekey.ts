import type { Command } from 'commander';
import { rekeyStore } from '../../layers/bytes/rekey.js';
import type { CommandContext } from '../context.js';
import { plural } from '../format.js';
import { withStore } from '../open-store.js';
import { action } from './action.js';

/** `memostrata rekey --config <file>`: re-encrypt every value with the configured key. */
export function rekeyCommand(program: Command): void {
  program
    .command('rekey')
    .description(
      're-encrypt every value with the keyFile of the encrypt layer of --config (values of its previousKeyFiles are read); in atomic batches, safe to interrupt and run again; afterwards previousKeyFiles can go',
    )
    .action(action(rekey));
}

async function rekey(context: CommandContext): Promise<number> {
  const result = await withStore(context.store(), 'existing', (store) => context.withProgress('re-encrypting', (onProgress) => rekeyStore(store.byteLayers, { onProgress })));
  if (context.json) {
    context.printJson(result);
    return 0;
  }
  const lines = [`re-encrypted ${plural(result.rewritten, 'value', 'values')} with key ${result.keyId}; ${plural(result.current, 'value was', 'values were')} already under it`];
  if (result.damaged.length > 0) {
    lines.push(`left ${plural(result.damaged.length, 'damaged value', 'damaged values')} as they were (${result.damaged.slice(0, 3).join(', ')}${result.damaged.length > 3 ? ', …' : ''}); run \`memostrata verify --fix\` to remove them`);
  }
  if (result.damaged.length === 0) lines.push('every value is under the current key: previousKeyFiles can be removed from the configuration');
  context.print(lines.join('\n'));
  return 0;
}
