import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'vitest';

/** A private redis-server for one test file, on 127.0.0.1 and a port of its own. */
export interface RedisServer {
  readonly port: number;
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  /** Kills the server at once (SIGKILL), as a crash would; resolves once it is gone. */
  kill(): Promise<void>;
  /** Starts the server again on the same port (killing it first if needed); its data is gone. */
  restart(): Promise<void>;
  /** Whether the server process is up (not killed). */
  isRunning(): boolean;
  /** Freezes the server (SIGSTOP): connections stay open but nothing is answered. */
  pause(): Promise<void>;
  /** Lets a paused server go on (SIGCONT). */
  resume(): Promise<void>;
  /** Kills the server and removes its directory. */
  stop(): Promise<void>;
}

/** Whether a `redis-server` binary is on the PATH. */
export const redisServerInstalled: boolean = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;

/**
 * `describe` for tests that need a redis-server. Without one, CI (where
 * `.ci/run` installs it) fails loudly; a developer's run skips with a note.
 */
export function describeWithRedis(name: string, body: () => void): void {
  if (redisServerInstalled) {
    describe(name, body);
  } else if (process.env.CI) {
    describe(name, () => {
      it('needs redis-server, which CI installs', () => {
        throw new Error('redis-server is not installed, but CI must run the Redis tests: see the apt-get line in .ci/run.');
      });
    });
  } else {
    describe.skip(`${name} (skipped: redis-server is not installed; apt-get install -y redis-server)`, body);
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('Could not read the port of a probe server.');
  return address.port;
}

/**
 * Starts `redis-server` with no persistence in a temporary directory, bound
 * to loopback, and resolves once it accepts connections (at most 10 s).
 */
export async function startRedisServer(): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'memostrata-redis-'));
  let port = 0;
  let child: ChildProcess | undefined;
  // The port can be taken between the probe and redis-server's bind: try a few.
  for (let attempt = 1; child === undefined; attempt += 1) {
    port = await freePort();
    try {
      child = await launch(port, dir);
    } catch (error) {
      if (attempt >= 3) {
        rmSync(dir, { recursive: true, force: true });
        throw error;
      }
    }
  }
  let current: ChildProcess | undefined = child;
  const kill = async (): Promise<void> => {
    const process = current;
    current = undefined;
    if (process !== undefined) await killProcess(process);
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill,
    async restart() {
      await kill();
      current = await launch(port, dir);
    },
    isRunning: () => current !== undefined,
    async pause() {
      current?.kill('SIGSTOP');
    },
    async resume() {
      current?.kill('SIGCONT');
    },
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Servers started by this process: killed when it exits, even if a test file never reached its afterAll. */
const launched = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of launched) child.kill('SIGKILL');
});

async function launch(port: number, dir: string): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  let exited = false;
  launched.add(child);
  child.once('exit', () => {
    exited = true;
    launched.delete(child);
  });
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (exited) throw new Error(`redis-server on port ${port} exited at start:\n${output}`);
    // Our own server's log line, not only a PONG: another test file's server may have won the port.
    if (output.includes('Ready to accept connections') && (await answersPing(port))) return child;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await killProcess(child);
  throw new Error(`redis-server on port ${port} did not answer within 10 s:\n${output}`);
}

/** Whether a Redis server answers PING on 127.0.0.1:`port`. */
function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    const done = (answer: boolean): void => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}

async function killProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // SIGKILL also ends a process stopped with SIGSTOP.
  child.kill('SIGKILL');
  await gone;
}
