import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** What a gang worker reports when its timed work is done. */
export interface GangReport {
  /** Wall-clock start and end of the timed work, in ms since the epoch (`performance.timeOrigin + now()`, comparable across processes). */
  startedAt: number;
  endedAt: number;
  calls: number;
  /** CPU time (user + system) the worker spent in its timed work. */
  cpuMs: number;
}

/** The figures of one gang run. */
export interface GangOutcome {
  /** Every worker's calls over the span from the first start to the last end, per second. */
  aggregate: number;
  /** Each worker's own calls per second over its own span. */
  perProcess: number[];
  /** Each worker's CPU time per call, in µs: flat as workers are added when sharing costs no extra work per call. */
  cpuMicrosPerCall: number[];
  /** The workers' CPU time over the span: how many cores they had between them, when the others on the machine left them some. */
  coresUsed: number;
  /** Messages of the workers whose close() failed after their figures were taken. */
  closeErrors: string[];
}

/**
 * Runs `bench/children/<name>.ts` in `workers` processes at once and times
 * their work together. Each worker opens what it needs, sends `ready`, and
 * waits; once every worker is ready all are sent `go` (so that opening the
 * store and loading code are not timed and the timed parts overlap), each
 * sends a {@link GangReport}, and only when all have reported are they sent
 * `close` (so that one worker's close, which writes its hit counters, does
 * not run during another's timed work); each answers `closed`, with the
 * error of a close() that failed. `argsOf(i)` gives worker `i` its arguments.
 */
export async function runGang(name: string, workers: number, argsOf: (worker: number) => string[]): Promise<GangOutcome> {
  const script = fileURLToPath(new URL(`../children/${name}.ts`, import.meta.url));
  const children = Array.from({ length: workers }, (_, i) => startWorker(script, argsOf(i)));
  try {
    await Promise.all(children.map((child) => child.next('ready')));
    const reports = Promise.all(children.map((child) => child.next('report')));
    for (const child of children) child.process.send('go');
    const figures = (await reports) as unknown as GangReport[];
    const closed = Promise.all(children.map((child) => child.next('closed')));
    for (const child of children) child.process.send('close');
    const closeErrors = (await closed).flatMap((message) => (typeof message.closeError === 'string' ? [message.closeError] : []));
    await Promise.all(children.map((child) => child.exited));
    const start = Math.min(...figures.map((figure) => figure.startedAt));
    const end = Math.max(...figures.map((figure) => figure.endedAt));
    const calls = figures.reduce((sum, figure) => sum + figure.calls, 0);
    return {
      aggregate: calls / ((end - start) / 1000),
      perProcess: figures.map((figure) => figure.calls / ((figure.endedAt - figure.startedAt) / 1000)),
      cpuMicrosPerCall: figures.map((figure) => (figure.cpuMs * 1000) / figure.calls),
      coresUsed: figures.reduce((sum, figure) => sum + figure.cpuMs, 0) / (end - start),
      closeErrors,
    };
  } finally {
    for (const child of children) if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill('SIGKILL');
  }
}

interface Worker {
  process: ChildProcess;
  /** The next message of this kind (`{ type }`), or a rejection with the worker's output if it exits first. */
  next(type: string): Promise<Record<string, unknown>>;
  exited: Promise<void>;
}

function startWorker(script: string, args: readonly string[]): Worker {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`bench worker ${script} ${args.join(' ')} exited with ${code ?? signal}:\n${output.slice(-4000)}`));
    });
  });
  // Every exit is awaited through `exited` or `next`; this keeps an early one from being an unhandled rejection.
  exited.catch(() => {});
  return {
    process: child,
    exited,
    next: (type) =>
      new Promise((resolve, reject) => {
        const onMessage = (message: unknown): void => {
          if (typeof message === 'object' && message !== null && (message as { type?: unknown }).type === type) {
            child.off('message', onMessage);
            resolve(message as Record<string, unknown>);
          }
        };
        child.on('message', onMessage);
        exited.then(() => reject(new Error(`bench worker ${script} exited before sending ${type}:\n${output.slice(-4000)}`)), reject);
      }),
  };
}
