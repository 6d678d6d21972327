import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** How a child process ended. */
export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * A TypeScript child process whose stdout is read as complete lines. A line
 * counts only once its newline arrived, so a child killed in the middle of a
 * write never yields a torn line.
 */
export interface TsChild {
  readonly process: ChildProcess;
  /** Every complete stdout line received so far, in order. */
  readonly lines: readonly string[];
  /** Everything the child wrote to stderr so far; shown when the child fails. */
  readonly stderr: () => string;
  /** Resolves once the child has exited and its output is fully read. */
  readonly exited: Promise<ChildExit>;
  /**
   * The first line at or after the read position that satisfies `accept`
   * (any line by default); moves the read position past it. Rejects when the
   * child exits first, quoting its stderr.
   */
  nextLine(accept?: (line: string) => boolean): Promise<string>;
  /** Closes the child's stdin: the polite "finish now" for fixtures that wait on it. */
  endInput(): void;
  /** Sends `signal` (SIGTERM by default) unless the child already exited. */
  kill(signal?: NodeJS.Signals): void;
}

const repositoryRoot = fileURLToPath(new URL('../..', import.meta.url));
const running = new Set<TsChild>();

/** The absolute path of a fixture script, `test/fixtures/<name>`. */
export function fixturePath(name: string): string {
  return fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
}

/**
 * Runs `script` (a .ts file) in a new Node process through tsx, with
 * `args` as its arguments, from the repository root. Stdin stays open as a
 * pipe until {@link TsChild.endInput}.
 */
export function spawnTsChild(script: string, args: readonly string[] = []): TsChild {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: repositoryRoot,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  let readPosition = 0;
  let pending = '';
  let stderr = '';
  let hasExited = false;

  const wakeWaiters = (): void => {
    for (const wake of [...waiters]) wake();
  };
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    const parts = (pending + chunk).split('\n');
    pending = parts.pop() ?? '';
    lines.push(...parts);
    wakeWaiters();
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderr += chunk;
  });
  // 'close' (not 'exit') fires after stdout and stderr are drained.
  const exited = new Promise<ChildExit>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      hasExited = true;
      running.delete(handle);
      wakeWaiters();
      resolve({ code, signal });
    });
  });
  // A child that dies before anyone awaits `exited` must not be an unhandled rejection.
  exited.catch(() => {});
  // Tests kill children on purpose; a broken stdin pipe is expected then.
  child.stdin.on('error', () => {});

  const handle: TsChild = {
    process: child,
    lines,
    stderr: () => stderr,
    exited,
    nextLine(accept = () => true) {
      return new Promise<string>((resolve, reject) => {
        const check = (): void => {
          while (readPosition < lines.length) {
            const line = lines[readPosition]!;
            readPosition += 1;
            if (accept(line)) {
              waiters.delete(check);
              resolve(line);
              return;
            }
          }
          if (hasExited) {
            waiters.delete(check);
            reject(new Error(`${script} exited (code ${child.exitCode}, signal ${child.signalCode}) before the expected line.\nstdout:\n${lines.join('\n')}\nstderr:\n${stderr}`));
          }
        };
        waiters.add(check);
        check();
      });
    },
    endInput() {
      child.stdin.end();
    },
    kill(signal = 'SIGTERM') {
      if (!hasExited) child.kill(signal);
    },
  };
  running.add(handle);
  return handle;
}

/** Runs `script` to its end and returns its stdout lines and how it exited. */
export async function runTsChild(script: string, args: readonly string[] = []): Promise<{ lines: string[]; stderr: string } & ChildExit> {
  const child = spawnTsChild(script, args);
  child.endInput();
  const exit = await child.exited;
  return { lines: [...child.lines], stderr: child.stderr(), ...exit };
}

/**
 * Kills every child spawned by this helper that is still running and waits
 * for each to exit. Call it from `afterEach` so a failed test leaves no
 * process holding a store.
 */
export async function killRunningChildren(): Promise<void> {
  const children = [...running];
  for (const child of children) child.kill('SIGKILL');
  await Promise.all(children.map((child) => child.exited.catch(() => undefined)));
}
