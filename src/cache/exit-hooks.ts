/**
 * Writing pending results when the process ends.
 *
 * - SIGINT / SIGTERM: open caches are closed (checkpointed), then the signal
 *   is raised again so the process ends as it would have without us. If the
 *   program listens for the signal itself, the caches are only checkpointed
 *   and stay open: the program decides what happens next (if it exits, it
 *   should `await cache.close()` first). A second signal while that runs ends
 *   the process at once.
 * - Normal exit (`beforeExit`, the event loop ran dry): open caches are closed.
 * - `process.exit()` and SIGKILL run no asynchronous code: what was not
 *   flushed is lost, and an `exit` hook says so on stderr.
 */

/** What the hooks need of a cache. */
export interface ExitParticipant {
  checkpoint(): Promise<void>;
  close(): Promise<void>;
  /** Entries not yet in the store, for the warning at `process.exit()`. */
  pendingWrites(): number;
  /** Where the store lives, for messages. */
  readonly location: string;
}

const open = new Set<ExitParticipant>();
const signals = ['SIGINT', 'SIGTERM'] as const;
let handlingSignal = false;

/** Runs `action` on every open cache; reports failures on stderr and makes the exit status 1. */
async function forEachOpen(action: 'checkpoint' | 'close'): Promise<void> {
  const caches = [...open];
  const outcomes = await Promise.allSettled(caches.map((cache) => cache[action]()));
  outcomes.forEach((outcome, index) => {
    if (outcome.status === 'rejected') {
      process.exitCode = 1;
      process.stderr.write(`memostrata: could not write pending results of the cache at ${caches[index]!.location}: ${String((outcome.reason as Error)?.message ?? outcome.reason)}\n`);
    }
  });
}

async function onSignal(signal: (typeof signals)[number]): Promise<void> {
  if (handlingSignal) {
    // A second signal: stop waiting for a slow write and end now.
    uninstall();
    process.kill(process.pid, signal);
    return;
  }
  handlingSignal = true;
  try {
    if (process.listenerCount(signal) > 1) {
      await forEachOpen('checkpoint');
      return;
    }
    await forEachOpen('close');
    uninstall();
    process.kill(process.pid, signal);
  } finally {
    handlingSignal = false;
  }
}

function onBeforeExit(): void {
  if (open.size > 0) void forEachOpen('close');
}

function onExit(): void {
  for (const cache of open) {
    const pending = cache.pendingWrites();
    if (pending > 0) {
      process.stderr.write(
        `memostrata: the process exited with ${pending} result(s) of the cache at ${cache.location} not yet written; call \`await cache.close()\` before process.exit().\n`,
      );
    }
  }
}

function install(): void {
  for (const signal of signals) process.on(signal, onSignal);
  process.on('beforeExit', onBeforeExit);
  process.on('exit', onExit);
}

function uninstall(): void {
  for (const signal of signals) process.off(signal, onSignal);
  process.off('beforeExit', onBeforeExit);
  process.off('exit', onExit);
}

/** Registers a cache to be written and closed when the process ends. */
export function closeOnExit(cache: ExitParticipant): void {
  if (open.size === 0) install();
  open.add(cache);
}

/** Unregisters a cache (it was closed). */
export function releaseOnExit(cache: ExitParticipant): void {
  if (open.delete(cache) && open.size === 0) uninstall();
}
