/**
 * Checkpoint-and-close of open caches when the process ends: on SIGINT and
 * SIGTERM (then the process ends with that signal, unless the program has
 * signal handlers of its own) and on normal exit (`beforeExit`). A process
 * killed with SIGKILL loses what was written since the last flush.
 */

interface Closable {
  close(): Promise<void>;
}

const open = new Set<Closable>();
const signals = ['SIGINT', 'SIGTERM'] as const;

/** Closes every registered cache; a cache that fails to close does not stop the others. */
async function closeAll(): Promise<void> {
  await Promise.allSettled([...open].map((cache) => cache.close()));
}

async function onSignal(signal: NodeJS.Signals): Promise<void> {
  await closeAll();
  uninstall();
  // Re-raise, so that the process ends as it would have without us, unless the program handles the signal itself.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function onBeforeExit(): void {
  if (open.size > 0) void closeAll();
}

function install(): void {
  for (const signal of signals) process.on(signal, onSignal);
  process.on('beforeExit', onBeforeExit);
}

function uninstall(): void {
  for (const signal of signals) process.off(signal, onSignal);
  process.off('beforeExit', onBeforeExit);
}

/** Registers a cache to be closed when the process ends. */
export function closeOnExit(cache: Closable): void {
  if (open.size === 0) install();
  open.add(cache);
}

/** Unregisters a cache (it was closed). */
export function releaseOnExit(cache: Closable): void {
  if (open.delete(cache) && open.size === 0) uninstall();
}
