import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';

/**
 * A redis-server of the bench's own, on 127.0.0.1 and a free port, without
 * persistence. The tests' helper (test/helpers/redis-server.ts) imports
 * vitest, which the bench does not run under, so this is its lean sibling:
 * start, and stop.
 */
export interface BenchRedis {
  readonly port: number;
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  /** Kills the server and removes its directory. */
  stop(): Promise<void>;
}

/** Why Redis cannot be measured here, or undefined when redis-server is on the PATH. */
export function redisMissingReason(): string | undefined {
  const probe = spawnSync('redis-server', ['--version'], { stdio: 'ignore' });
  return probe.status === 0 ? undefined : 'redis-server is not installed (apt-get install -y redis-server)';
}

/** Starts redis-server in a directory under `scratch` and resolves once it answers PING (at most 10 s). */
export async function startBenchRedis(scratch: string): Promise<BenchRedis> {
  const dir = mkdtempSync(join(scratch, 'redis-'));
  // The port can be taken between the probe and redis-server's bind: try a few.
  for (let attempt = 1; ; attempt += 1) {
    const port = await freePort();
    try {
      const child = await launch(port, dir);
      return {
        port,
        url: `redis://127.0.0.1:${port}`,
        async stop() {
          await kill(child);
          rmSync(dir, { recursive: true, force: true });
        },
      };
    } catch (error) {
      if (attempt >= 3) {
        rmSync(dir, { recursive: true, force: true });
        throw error;
      }
    }
  }
}

/** Servers this process started: killed when it exits, even if a scenario never reached its stop(). */
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
    // Our own server's log line, not only a PONG: another process's server may have won the port.
    if (output.includes('Ready to accept connections') && (await answersPing(port))) return child;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await kill(child);
  throw new Error(`redis-server on port ${port} did not answer within 10 s:\n${output}`);
}

async function freePort(): Promise<number> {
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

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await gone;
}
