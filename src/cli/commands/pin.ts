import type { Command } from 'commander';
import type { Store } from '../../cache/store.js';
import { assertModuleName, moduleMetaKey, prefixRange, recordPrefix } from '../../layers/keys.js';
import { findRecord } from '../../maintenance/inventory.js';
import { isPinned, pin, readPins, unpin, type PinTarget } from '../../maintenance/pins.js';
import type { CommandContext } from '../context.js';
import { CliError } from '../errors.js';
import { withStore } from '../open-store.js';
import { action } from './action.js';
import { SHORT_DIGEST } from './ls.js';

interface PinOptions {
  call?: string;
}

/** `memostrata pin <module> [--call <digest>]` and `memostrata unpin`. */
export function pinCommands(program: Command): void {
  program
    .command('pin')
    .description('pin a module or one call in the store: prune --max-size and maxBytes eviction never remove pinned calls (rm and prune by age still do)')
    .argument('<module>', 'module name: pin every call of it, stored now or later')
    .option('--call <digest>', 'only this call: its digest, or a prefix of it that names one call (as ls shows it)')
    .action(action(pinTarget));
  program
    .command('unpin')
    .description('remove the pin of a module or of one call; the calls stay')
    .argument('<module>', 'module name')
    .option('--call <digest>', 'only this call: its digest, or a prefix of it that names one call')
    .action(action(unpinTarget));
}

async function pinTarget(context: CommandContext, module: string, options: PinOptions): Promise<number> {
  const { target, changed } = await withStore(context.store(), 'existing', async (store) => {
    const target = await resolveTarget(store, module, options.call);
    return { target, changed: await pin(store, target) };
  });
  if (context.json) context.printJson({ module: target.module, call: target.call ?? null, pinned: true, changed });
  else context.print(`${describe(target)} ${changed ? 'is pinned now' : 'was pinned already'}: prune --max-size and maxBytes eviction keep ${target.call === undefined ? 'its calls' : 'it'}`);
  return 0;
}

async function unpinTarget(context: CommandContext, module: string, options: PinOptions): Promise<number> {
  const { target, changed, stillPinned } = await withStore(context.store(), 'existing', async (store) => {
    const target = await resolveTarget(store, module, options.call, true);
    const changed = await unpin(store, target);
    return { target, changed, stillPinned: target.call !== undefined && (await isPinned(store, target.module, target.call)) };
  });
  if (context.json) {
    context.printJson({ module: target.module, call: target.call ?? null, pinned: stillPinned, changed });
    return 0;
  }
  const line = `${describe(target)} ${changed ? 'is unpinned' : 'was not pinned'}`;
  context.print(stillPinned ? `${line}; it stays pinned by its module (memostrata unpin ${target.module})` : line);
  return 0;
}

/**
 * The pin a command names: a module that the store knows, or one stored call
 * of it by a unique digest prefix. `unpin` also takes the full digest of a
 * call that is not stored (a pin set before the call was).
 */
async function resolveTarget(store: Store, module: string, call: string | undefined, orphanOk = false): Promise<PinTarget> {
  assertModuleName(module);
  if (call !== undefined) {
    const digest = call.toLowerCase();
    if (orphanOk && /^[0-9a-f]{32}$/.test(digest) && (await readPins(store, module)).hasOwn(module, digest)) return { module, call: digest };
    return { module, call: (await findRecord(store, module, call)).call };
  }
  if (!(await store.backend.has(moduleMetaKey(module))) && !(await hasRecords(store, module)) && !(await readPins(store, module)).modules.has(module)) {
    throw new CliError(`no module ${module} in ${store.location}; memostrata stats lists the modules`);
  }
  return { module };
}

async function hasRecords(store: Store, module: string): Promise<boolean> {
  for await (const _ of store.backend.keys({ ...prefixRange(recordPrefix(module)), limit: 1 })) return true;
  return false;
}

function describe(target: PinTarget): string {
  return target.call === undefined ? `module ${target.module}` : `call ${target.call.slice(0, SHORT_DIGEST)} of ${target.module}`;
}
