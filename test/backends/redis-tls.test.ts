import { copyFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisBackend, type RedisBackendOptions } from '../../src/backends/redis-backend.js';
import { openCache } from '../../src/index.js';
import { describeWithRedis } from '../helpers/redis-server.js';
import { makeCertificates, startRedisTlsServer, TLS_SCOPED_USER, TLS_SERVER_NAME, TLS_USER, type RedisTlsServer, type TestCertificates } from '../helpers/redis-tls.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';

const bytes = (...values: number[]): Uint8Array => new Uint8Array(values);

/** The error `promise` rejects with; fails the test if it is still pending after `ms` (a hang) or resolves. */
async function failure(promise: Promise<unknown>, ms = 10_000): Promise<Error> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still pending after ${ms} ms: it hangs`)), ms);
  });
  try {
    const result = await Promise.race([promise.then((value) => ({ value }), (error: unknown) => ({ error })), hang]);
    if (!('error' in result)) {
      if (result.value instanceof RedisBackend) await result.value.close();
      throw new Error('expected a failure, but it succeeded');
    }
    return result.error as Error;
  } finally {
    clearTimeout(timer);
  }
}

describe('Redis TLS and ACL options, checked before connecting', () => {
  let certificates: TestCertificates;
  beforeAll(() => {
    certificates = makeCertificates(tempDir('memostrata-certs-'));
  });
  afterAll(removeTempDirs);

  const refused = async (options: RedisBackendOptions, field: RegExp): Promise<void> => {
    const error = await failure(RedisBackend.open({ url: 'rediss://127.0.0.1:1', ...options }));
    expect(error).toMatchObject({ name: 'MemostrataError', code: 'CONFIG', message: expect.stringMatching(field) });
  };

  it('refuses tls options with a redis:// URL, saying to use rediss://', async () => {
    await refused({ url: 'redis://127.0.0.1:1', tls: { caFile: certificates.caFile } }, /tls is set.*rediss:\/\//);
    await refused({ url: 'redis+cluster://127.0.0.1:1', tls: { caFile: certificates.caFile } }, /rediss\+cluster:\/\//);
  });

  it('refuses a certificate without its key, and a key without its certificate', async () => {
    await refused({ tls: { certFile: certificates.clientCertFile } }, /tls\.certFile and .*tls\.keyFile go together/);
    await refused({ tls: { keyFile: certificates.clientKeyFile } }, /tls\.certFile and .*tls\.keyFile go together/);
  });

  it('names a TLS file that cannot be read, or is not PEM', async () => {
    await refused({ tls: { caFile: join(certificates.dir, 'missing.crt') } }, /tls\.caFile: cannot read .*missing\.crt \(ENOENT\)/);
    const notPem = join(certificates.dir, 'not-pem.txt');
    writeFileSync(notPem, 'hello\n');
    await refused({ tls: { caFile: notPem } }, /tls\.caFile: .*not-pem\.txt/);
    // The server's key with the client's certificate: a pair that does not match.
    await refused({ tls: { certFile: certificates.clientCertFile, keyFile: certificates.serverKeyFile } }, /tls\.certFile and .*tls\.keyFile .*not a PEM certificate and its unencrypted private key/);
  });

  it('refuses a user or password given both in the URL and as an option', async () => {
    await refused({ url: 'rediss://alice:pw@127.0.0.1:1', password: 'pw' }, /password is given twice/);
    await refused({ url: 'rediss://alice:pw@127.0.0.1:1', username: 'alice' }, /username is given twice/);
  });

  it('a rediss:// client on a port that never answers the TLS hello (a plain server) fails with BACKEND, suggesting redis://', async () => {
    const silent = createServer((socket) => socket.on('error', () => undefined));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = silent.address() as AddressInfo;
      const error = await failure(RedisBackend.open({ url: `rediss://127.0.0.1:${port}`, tls: { caFile: certificates.caFile }, connectTimeoutMs: 500 }));
      expect(error).toMatchObject({ name: 'MemostrataError', code: 'BACKEND', message: expect.stringContaining('If the server does not speak TLS, use a redis:// URL') });
    } finally {
      silent.close();
    }
  });

  it('never prints a password that has the wrong type', async () => {
    const error = await failure(RedisBackend.open({ url: 'rediss://127.0.0.1:1', password: 12345 as unknown as string }));
    expect(error).toMatchObject({ code: 'CONFIG', message: expect.stringContaining('password must be a non-empty string') });
    expect(error.message).not.toContain('12345');
  });
});

describeWithRedis('RedisBackend over TLS (rediss://), as an ACL user', () => {
  let server: RedisTlsServer;
  let prefixes = 0;
  // The server requires a client certificate: every connection that works here sends one.
  beforeAll(async () => {
    server = await startRedisTlsServer({ requireClientCertificate: true });
  });
  afterAll(async () => {
    await server?.stop();
    removeTempDirs();
  });

  const options = (more: RedisBackendOptions = {}): RedisBackendOptions => {
    const { caFile, clientCertFile, clientKeyFile } = server.certificates;
    prefixes += 1;
    return {
      url: server.url,
      ...TLS_USER,
      tls: { caFile, certFile: clientCertFile, keyFile: clientKeyFile },
      prefix: `tls${prefixes}:`,
      connectTimeoutMs: 3000,
      ...more,
    };
  };

  it('stores and reads back over TLS, logged in as the ACL user', async () => {
    const db = await RedisBackend.open(options());
    try {
      await db.put(bytes(1), bytes(2, 3));
      expect(Buffer.from((await db.get(bytes(1)))!).toString("hex")).toBe("0203");
    } finally {
      await db.close();
    }
  });

  it("wakes a waiter in changed() over TLS: the subscription connects with the same certificates and user", async () => {
    const shared = options();
    const waiter = await RedisBackend.open(shared);
    const writer = await RedisBackend.open(shared);
    try {
      // The first wait resolves once the subscription is live (or after its timeout, if it never is).
      await waiter.changed(bytes(5), 5000);
      const woken = waiter.changed(bytes(5), 60_000).then(() => 'woken');
      expect(await writer.batchIf({ key: bytes(5), value: undefined }, [{ type: 'put', key: bytes(5), value: bytes(1) }])).toBe(true);
      const timedOut = new Promise<string>((resolve) => setTimeout(() => resolve('still waiting after 5 s'), 5000).unref());
      expect(await Promise.race([woken, timedOut])).toBe('woken');
    } finally {
      await Promise.all([waiter.close(), writer.close()]);
    }
  });

  it('takes the user and password from the URL', async () => {
    const { username, password, url, ...rest } = options();
    const withUser = new URL(url!);
    withUser.username = username!;
    withUser.password = password!;
    const db = await RedisBackend.open({ ...rest, url: withUser.toString() });
    await db.close();
  });

  it('works as a user allowed only the keys and channel of its prefix; another prefix is CONFIG naming it', async () => {
    const { username, password, prefix } = TLS_SCOPED_USER;
    const waiter = await RedisBackend.open(options({ username, password, prefix }));
    const writer = await RedisBackend.open(options({ username, password, prefix }));
    try {
      await waiter.changed(bytes(5), 5000);
      const woken = waiter.changed(bytes(5), 60_000).then(() => 'woken');
      expect(await writer.batchIf({ key: bytes(5), value: undefined }, [{ type: 'put', key: bytes(5), value: bytes(1) }])).toBe(true);
      const timedOut = new Promise<string>((resolve) => setTimeout(() => resolve('still waiting after 5 s'), 5000).unref());
      expect(await Promise.race([woken, timedOut])).toBe('woken');
    } finally {
      await Promise.all([waiter.close(), writer.close()]);
    }
    const error = await failure(RedisBackend.open(options({ username, password, prefix: 'elsewhere:' })));
    expect(error).toMatchObject({ name: 'MemostrataError', code: 'CONFIG', message: expect.stringMatching(/NOPERM.*ACL SETUSER .*~elsewhere:\* &elsewhere:\*/) });
  });

  it('refuses a wrong password with CONFIG naming the password option, and never prints it', async () => {
    const error = await failure(RedisBackend.open(options({ password: 'not-the-password' })));
    expect(error).toMatchObject({ name: 'MemostrataError', code: 'CONFIG', message: expect.stringContaining('refused the credentials') });
    expect(error.message).toContain('backend.password');
    expect(error.message).not.toContain('not-the-password');
  });

  it('refuses a server certificate from a CA it was not given, with CONFIG naming tls.caFile', async () => {
    const { otherCaFile, clientCertFile, clientKeyFile } = server.certificates;
    for (const tls of [{ caFile: otherCaFile, certFile: clientCertFile, keyFile: clientKeyFile }, { certFile: clientCertFile, keyFile: clientKeyFile }]) {
      const error = await failure(RedisBackend.open(options({ tls })));
      expect(error, JSON.stringify(tls)).toMatchObject({ name: 'MemostrataError', code: 'CONFIG', message: expect.stringContaining('backend.tls.caFile') });
    }
  });

  it('checks the certificate against tls.servername when given', async () => {
    const { tls } = options();
    const db = await RedisBackend.open(options({ tls: { ...tls, servername: TLS_SERVER_NAME } }));
    await db.close();
    const error = await failure(RedisBackend.open(options({ tls: { ...tls, servername: 'elsewhere.test' } })));
    expect(error).toMatchObject({ name: 'MemostrataError', code: 'CONFIG', message: expect.stringContaining('backend.tls.servername') });
  });

  it('without a client certificate, says to set tls.certFile and tls.keyFile', async () => {
    const error = await failure(RedisBackend.open(options({ tls: { caFile: server.certificates.caFile } })));
    // BACKEND or CONFIG: under TLS 1.3 the refusal can arrive as a plain reset, which a server going away also gives.
    expect(error).toMatchObject({ name: 'MemostrataError', code: expect.stringMatching(/^(BACKEND|CONFIG)$/), message: expect.stringContaining('backend.tls.certFile and backend.tls.keyFile') });
  });

  it('a plain redis:// client on the TLS port fails with BACKEND saying to use rediss://', async () => {
    const { tls, ...plain } = options({ url: `redis://127.0.0.1:${server.port}` });
    const error = await failure(RedisBackend.open(plain));
    expect(tls).toBeDefined();
    expect(error).toMatchObject({ name: 'MemostrataError', code: 'BACKEND', message: expect.stringContaining('use a rediss:// URL') });
  });

  it('opens from a JSON config file whose TLS files are relative to it', async () => {
    const dir = tempDir('memostrata-tls-config-');
    const { certificates } = server;
    copyFileSync(certificates.caFile, join(dir, 'ca.crt'));
    copyFileSync(certificates.clientCertFile, join(dir, 'client.crt'));
    copyFileSync(certificates.clientKeyFile, join(dir, 'client.key'));
    const configFile = join(dir, 'memostrata.json');
    const backend = { type: 'redis', url: server.url, ...TLS_USER, tls: { caFile: 'ca.crt', certFile: 'client.crt', keyFile: 'client.key', servername: TLS_SERVER_NAME }, prefix: 'tls-config:' };
    writeFileSync(configFile, JSON.stringify({ backend }));
    let calls = 0;
    const square = (x: number): number => {
      calls += 1;
      return x * x;
    };
    for (let round = 0; round < 2; round += 1) {
      const cache = await openCache({ configFile, handleExit: false });
      try {
        expect(await cache.memoize('square', square)(7)).toBe(49);
      } finally {
        await cache.close();
      }
    }
    expect(calls).toBe(1);
  });
});
