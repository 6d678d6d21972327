import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './redis-server.js';

/** A private Redis Cluster of three masters on 127.0.0.1, for one test file. */
export interface RedisClusterServer {
  readonly ports: readonly number[];
  /** `redis+cluster://127.0.0.1:<p1>,127.0.0.1:<p2>,127.0.0.1:<p3>`. */
  readonly url: string;
  /** Kills the three servers and removes their directories. */
  stop(): Promise<void>;
}

/** Whether `redis-cli` (which joins the nodes into a cluster) is on the PATH. */
export const redisCliInstalled: boolean = spawnSync('redis-cli', ['--version'], { stdio: 'ignore' }).status === 0;

/** Servers started by this process: killed when it exits, even if a test file never reached its afterAll. */
const launched = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of launched) child.kill('SIGKILL');
});

/**
 * Starts three `redis-server --cluster-enabled yes` masters on ports of
 * their own (no persistence), joins them with `redis-cli --cluster create`,
 * and resolves once every node says `cluster_state:ok` (at most 20 s).
 */
export async function startRedisCluster(): Promise<RedisClusterServer> {
  const dir = mkdtempSync(join(tmpdir(), 'memostrata-redis-cluster-'));
  const children: ChildProcess[] = [];
  const ports: number[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(children.splice(0).map(killProcess));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let node = 0; node < 3; node += 1) {
      const { child, port } = await launchNode(dir, node);
      children.push(child);
      ports.push(port);
    }
    const create = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '0', '--cluster-yes'], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed:\n${create.stdout}\n${create.stderr}`);
    const deadline = Date.now() + 20_000;
    while (!ports.every(clusterOk)) {
      if (Date.now() > deadline) throw new Error(`the cluster on ports ${ports.join(', ')} did not reach cluster_state:ok within 20 s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { ports, url: `redis+cluster://${ports.map((port) => `127.0.0.1:${port}`).join(',')}`, stop };
}

function clusterOk(port: number): boolean {
  const info = spawnSync('redis-cli', ['-p', String(port), 'cluster', 'info'], { encoding: 'utf8', timeout: 5000 });
  return info.status === 0 && info.stdout.includes('cluster_state:ok');
}

/** One node, on a free port (retried: the port can be taken between the probe and the bind). */
async function launchNode(dir: string, node: number): Promise<{ child: ChildProcess; port: number }> {
  for (let attempt = 1; ; attempt += 1) {
    const port = await freePort();
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${node}-${port}.conf`)];
    const child = spawn('redis-server', [...args, '--save', '', '--appendonly', 'no', '--dir', dir], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
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
    while (!exited && !output.includes('Ready to accept connections') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    if (!exited && output.includes('Ready to accept connections')) return { child, port };
    await killProcess(child);
    if (attempt >= 3) throw new Error(`a cluster node on port ${port} did not start:\n${output}`);
  }
}

async function killProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await gone;
}
