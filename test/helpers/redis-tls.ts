import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { freePort } from './redis-server.js';

/** PEM files a test made with openssl, in one temporary directory. */
export interface TestCertificates {
  readonly dir: string;
  /** The CA that signed the server and client certificates. */
  readonly caFile: string;
  /** A second CA that signed nothing here: trusting only it must fail. */
  readonly otherCaFile: string;
  /** The server's certificate: for `IP:127.0.0.1` and `DNS:redis.test`. */
  readonly serverCertFile: string;
  readonly serverKeyFile: string;
  /** A client certificate signed by {@link TestCertificates.caFile}. */
  readonly clientCertFile: string;
  readonly clientKeyFile: string;
}

/** An ACL user {@link startRedisTlsServer} creates, besides the default user: allowed everything. */
export const TLS_USER = { username: 'alice', password: 'alice-secret' } as const;

/** An ACL user allowed only the keys and channels under the prefix `scoped:`, as the README suggests. */
export const TLS_SCOPED_USER = { username: 'scoped', password: 'scoped-secret', prefix: 'scoped:' } as const;

/** The DNS name the server's certificate names besides 127.0.0.1. */
export const TLS_SERVER_NAME = 'redis.test';

/** A private redis-server that speaks only TLS, for one test file. */
export interface RedisTlsServer {
  readonly port: number;
  /** `rediss://127.0.0.1:<port>` (no credentials). */
  readonly url: string;
  readonly certificates: TestCertificates;
  /** Kills the server and removes its directory (certificates included). */
  stop(): Promise<void>;
}

/** Whether openssl is on the PATH (`.ci/run` installs it). */
export const opensslInstalled: boolean = spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;

function openssl(dir: string, args: string[]): void {
  const run = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`openssl ${args.join(' ')} failed:\n${run.stderr}`);
}

/** Makes a CA, a server certificate and a client certificate (P-256 keys: quick to make), valid for a day. */
export function makeCertificates(dir: string): TestCertificates {
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  for (const ca of ['ca', 'other-ca']) {
    openssl(dir, ['req', '-x509', ...key, '-keyout', `${ca}.key`, '-out', `${ca}.crt`, '-days', '1', '-subj', `/CN=memostrata test ${ca}`]);
  }
  writeFileSync(join(dir, 'server.ext'), `subjectAltName=IP:127.0.0.1,DNS:${TLS_SERVER_NAME}\n`);
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const [name, subject] of [
    ['server', `/CN=${TLS_SERVER_NAME}`],
    ['client', '/CN=memostrata test client'],
  ] as const) {
    openssl(dir, ['req', ...key, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject]);
    openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-out', `${name}.crt`, '-extfile', `${name}.ext`]);
  }
  return {
    dir,
    caFile: join(dir, 'ca.crt'),
    otherCaFile: join(dir, 'other-ca.crt'),
    serverCertFile: join(dir, 'server.crt'),
    serverKeyFile: join(dir, 'server.key'),
    clientCertFile: join(dir, 'client.crt'),
    clientKeyFile: join(dir, 'client.key'),
  };
}

/** Options of {@link startRedisTlsServer}. */
export interface RedisTlsServerOptions {
  /** Require a client certificate (`--tls-auth-clients yes`); otherwise one is optional. */
  requireClientCertificate?: boolean;
}

/**
 * Starts `redis-server` on loopback with TLS only (`--port 0`), certificates
 * made for it, no persistence, and the ACL user {@link TLS_USER}; resolves
 * once it answers over TLS (at most 10 s).
 */
export async function startRedisTlsServer(options: RedisTlsServerOptions = {}): Promise<RedisTlsServer> {
  const dir = mkdtempSync(join(tmpdir(), 'memostrata-redis-tls-'));
  try {
    const certificates = makeCertificates(dir);
    // The port can be taken between the probe and redis-server's bind: try a few.
    for (let attempt = 1; ; attempt += 1) {
      const port = await freePort();
      try {
        const child = await launch(port, certificates, serverArgs(options));
        return {
          port,
          url: `rediss://127.0.0.1:${port}`,
          certificates,
          async stop() {
            await killProcess(child);
            rmSync(dir, { recursive: true, force: true });
          },
        };
      } catch (error) {
        if (attempt >= 3) throw error;
      }
    }
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Servers started by this process: killed when it exits, even if a test file never reached its afterAll. */
const launched = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of launched) child.kill('SIGKILL');
});

/** A private Redis Cluster of three TLS-only masters on 127.0.0.1, for one test file. */
export interface RedisTlsCluster {
  readonly ports: readonly number[];
  /** `rediss+cluster://127.0.0.1:<p1>,127.0.0.1:<p2>,127.0.0.1:<p3>` (no credentials). */
  readonly url: string;
  readonly certificates: TestCertificates;
  /** Kills the three servers and removes their directory. */
  stop(): Promise<void>;
}

/**
 * Starts three TLS-only cluster nodes (`--tls-cluster yes`, the cluster bus
 * on TLS too) with the ACL user {@link TLS_USER}, joins them with `redis-cli
 * --tls --cluster create`, and resolves once every slot is served.
 */
export async function startRedisTlsCluster(): Promise<RedisTlsCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'memostrata-redis-tls-cluster-'));
  const children: ChildProcess[] = [];
  const ports: number[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(children.splice(0).map(killProcess));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const certificates = makeCertificates(dir);
    for (let node = 0; node < 3; node += 1) {
      for (let attempt = 1; ; attempt += 1) {
        const port = await freePort();
        const args = [...serverArgs({}), '--cluster-enabled', 'yes', '--tls-cluster', 'yes', '--cluster-config-file', join(dir, `nodes-${node}-${port}.conf`)];
        try {
          children.push(await launch(port, certificates, args));
          ports.push(port);
          break;
        } catch (error) {
          if (attempt >= 3) throw error;
        }
      }
    }
    const cli = ['--tls', '--cacert', certificates.caFile, '--cert', certificates.clientCertFile, '--key', certificates.clientKeyFile];
    const create = spawnSync('redis-cli', [...cli, '--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '0', '--cluster-yes'], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    if (create.status !== 0) throw new Error(`redis-cli --tls --cluster create failed:\n${create.stdout}\n${create.stderr}`);
    const clusterOk = (port: number): boolean => {
      const info = spawnSync('redis-cli', [...cli, '-p', String(port), 'cluster', 'info'], { encoding: 'utf8', timeout: 5000 });
      return info.status === 0 && info.stdout.includes('cluster_state:ok');
    };
    const deadline = Date.now() + 20_000;
    while (!ports.every(clusterOk)) {
      if (Date.now() > deadline) throw new Error(`the TLS cluster on ports ${ports.join(', ')} did not reach cluster_state:ok within 20 s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return { ports, url: `rediss+cluster://${ports.map((port) => `127.0.0.1:${port}`).join(',')}`, certificates, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The arguments of a TLS-only server with {@link TLS_USER}, but for its port and files. */
function serverArgs(options: RedisTlsServerOptions): string[] {
  return [
    '--port', '0',
    '--bind', '127.0.0.1',
    '--tls-auth-clients', options.requireClientCertificate === true ? 'yes' : 'optional',
    '--save', '',
    '--appendonly', 'no',
    '--user', TLS_USER.username, 'on', `>${TLS_USER.password}`, '~*', '&*', '+@all',
    '--user', TLS_SCOPED_USER.username, 'on', `>${TLS_SCOPED_USER.password}`, `~${TLS_SCOPED_USER.prefix}*`, `&${TLS_SCOPED_USER.prefix}*`, '+@all',
  ];
}

async function launch(port: number, certificates: TestCertificates, serverArgs: readonly string[]): Promise<ChildProcess> {
  const { dir, caFile, serverCertFile, serverKeyFile } = certificates;
  const files = ['--tls-cert-file', serverCertFile, '--tls-key-file', serverKeyFile, '--tls-ca-cert-file', caFile, '--dir', dir];
  const child = spawn('redis-server', [...serverArgs, '--tls-port', String(port), ...files], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
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
    if (exited) throw new Error(`redis-server (TLS) on port ${port} exited at start:\n${output}`);
    // Our own server: another file's server that won the port has no certificate from our CA.
    if (output.includes('Ready to accept connections') && (await answersOverTls(port, certificates))) return child;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await killProcess(child);
  throw new Error(`redis-server (TLS) on port ${port} did not answer within 10 s:\n${output}`);
}

/** Whether a Redis server answers PING over TLS, with a certificate from our CA, on 127.0.0.1:`port`. */
function answersOverTls(port: number, certificates: TestCertificates): Promise<boolean> {
  return new Promise((resolve) => {
    const { caFile, clientCertFile, clientKeyFile } = certificates;
    const socket = connect({ host: '127.0.0.1', port, ca: readFileSync(caFile), cert: readFileSync(clientCertFile), key: readFileSync(clientKeyFile) });
    const done = (answer: boolean): void => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('secureConnect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}

async function killProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await gone;
}
