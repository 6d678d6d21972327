import type { Command } from 'commander';
import { runningCalls, type RunningCall } from '../../maintenance/leases.js';
import type { CommandContext } from '../context.js';
import { formatDuration, formatTable, formatTime } from '../format.js';
import { runningCallJson } from '../record-json.js';
import { withStore } from '../open-store.js';
import { action } from './action.js';
import { SHORT_DIGEST } from './ls.js';

/** `memostrata leases [module]`: the calls running now across processes. */
export function leasesCommand(program: Command): void {
  program
    .command('leases')
    .description('calls running now across processes (their leases): owner host and pid, started, last heartbeat, saved state')
    .argument('[module]', 'only this module')
    .action(action(leases));
}

async function leases(context: CommandContext, module: string | undefined): Promise<number> {
  const running = await withStore(context.store(), 'existing', async (store) => {
    const found: RunningCall[] = [];
    for await (const call of runningCalls(store, module)) found.push(call);
    return found;
  });
  const now = Date.now();
  if (context.json) {
    context.printJson({ leases: running.map(runningCallJson) });
    return 0;
  }
  if (running.length === 0) {
    context.print(module === undefined ? 'no calls running' : `no calls of module ${module} running`);
    return 0;
  }
  const rows = running.map(({ module: name, call, owner, savedState, ownerStatus }) => [
    name,
    call.slice(0, SHORT_DIGEST),
    owner === undefined ? '(damaged lease)' : `${owner.host}:${owner.pid}${ownerStatus === 'gone' ? ' (gone)' : ''}`,
    owner === undefined ? '-' : formatTime(owner.startedAt),
    // The owner's clock against ours: a skew between machines shows here.
    owner === undefined ? '-' : `${formatDuration(Math.max(0, now - owner.heartbeatAt))} ago`,
    savedState ? 'yes' : 'no',
  ]);
  context.print(
    formatTable(
      [{ header: 'module' }, { header: 'call' }, { header: 'owner' }, { header: 'started' }, { header: 'last heartbeat', align: 'right' }, { header: 'saved state' }],
      rows,
    ),
  );
  return 0;
}
