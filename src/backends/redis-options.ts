import { resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { MemostrataError } from '../errors.js';

/**
 * How a `rediss://` connection proves the server is the right one, and
 * proves this client to a server that asks. Files are PEM, read when the
 * backend opens; in a JSON configuration, relative to the file.
 */
export interface RedisTlsOptions {
  /**
   * The CA certificate(s) that signed the server's certificate: the CA of a
   * self-run server. Trusted instead of Node's bundled public CAs.
   *
   * @default undefined (Node's bundled public CAs)
   */
  caFile?: string;
  /**
   * This client's certificate, for a server started with
   * `tls-auth-clients yes`. Needs {@link RedisTlsOptions.keyFile}.
   *
   * @default undefined (no client certificate)
   */
  certFile?: string;
  /**
   * The unencrypted private key of {@link RedisTlsOptions.certFile}.
   *
   * @default undefined
   */
  keyFile?: string;
  /**
   * The name the server's certificate must carry (also sent as SNI): for a
   * server reached by an address its certificate does not name.
   *
   * @default the URL's host
   */
  servername?: string;
}

/** Options of the Redis backend: of `RedisBackend.open`, and of `backend: { type: 'redis', … }` in a configuration. */
export interface RedisBackendOptions {
  /**
   * The server: `redis://[[user]:password@]host[:port][/db]`, or `rediss://`
   * for TLS. `db` is a database number (a non-negative integer).
   *
   * A Redis Cluster: `redis+cluster://[[user]:password@]host:port[,host:port…]`
   * (`rediss+cluster://` for TLS), naming one or more of its nodes; the
   * client finds the others. A cluster has no database number.
   *
   * @default 'redis://127.0.0.1:6379'
   */
  url?: string;
  /**
   * The ACL user to log in as (Redis 6+). Give it here or in `url`, not both.
   *
   * @default the user in `url`; else Redis's `default` user
   */
  username?: string;
  /**
   * The password of the user (or of `requirepass`). Give it here or in
   * `url`, not both; it never appears in messages.
   *
   * @default the password in `url`; else none
   */
  password?: string;
  /**
   * Certificates of a TLS connection; only with a `rediss://` or
   * `rediss+cluster://` URL.
   *
   * @default {} (the server's certificate checked against Node's bundled public CAs)
   */
  tls?: RedisTlsOptions;
  /**
   * Namespace of the store in the server's keyspace: every entry is one Redis
   * key `<prefix>{<tag>}<key>`, beside the index `<prefix>index{…}` (see
   * docs/architecture.md). Stores with different prefixes share a server
   * without seeing each other. No `{` or `}`: the backend places the hash tag itself.
   *
   * @default 'memostrata:'
   */
  prefix?: string;
  /**
   * Milliseconds that opening may take in all: connecting, the handshake and
   * the first checks. A server that accepts connections but does not answer
   * fails the open with `BACKEND` after this long. Also bounds each reconnect attempt.
   *
   * @default 5000
   */
  connectTimeoutMs?: number;
  /**
   * Milliseconds one operation may wait for the server's reply before it
   * fails with `BACKEND` (the server stopped answering). A checkpoint is one
   * operation: raise this for very large checkpoints over slow links.
   *
   * @default 10000
   */
  commandTimeoutMs?: number;
  /**
   * Milliseconds `close()` waits for the server to acknowledge it; after that
   * the connection is dropped without a goodbye. `close()` never waits longer.
   *
   * @default 2000
   */
  closeTimeoutMs?: number;
  /**
   * After an established connection is lost, milliseconds to keep retrying in
   * the background (operations meanwhile fail at once with `BACKEND`). After
   * that, each operation that finds the backend disconnected fails at once
   * and starts one new attempt, so the backend works again as soon as the
   * server is back, without keeping an idle process alive. `0` retries only
   * on demand.
   *
   * @default 10000
   */
  reconnectForMs?: number;
  /**
   * Entries read by one atomic page of an iteration. A range with at most this
   * many entries is read as one consistent snapshot.
   *
   * @default 1000
   */
  pageSize?: number;
  /**
   * Most operations of a batch sent as one command (a Lua script on a single
   * server). A larger batch is sent in chunks, in order, each acknowledged
   * before the next is sent, so that no command keeps the server busy for
   * long (Redis runs one script at a time and serves nobody meanwhile).
   *
   * @default 1000
   */
  chunkOperations?: number;
  /**
   * Most bytes (keys, values, framing) of a batch sent as one command; see
   * {@link RedisBackendOptions.chunkOperations}. An operation larger than this
   * goes alone in its chunk. Never more than `maxBatchBytes`.
   *
   * @default 4194304 (4 MiB)
   */
  chunkBytes?: number;
  /**
   * Largest key or value, in bytes, that a write may send. Larger ones are
   * refused with `BACKEND` before anything is sent. Redis refuses any single
   * argument over its `proto-max-bulk-len` (512 MiB by default) by dropping
   * the connection; when the server lets us read that setting, the smaller
   * of the two applies.
   *
   * @default 536870912 (512 MiB)
   */
  maxValueBytes?: number;
  /**
   * Largest command, in bytes: one chunk of a batch, or the atomic step of a
   * `batchIf` (which is never cut). A write whose atomic step, or a single
   * operation, is larger is refused with `BACKEND` before anything is sent:
   * Redis counts a command against its `client-query-buffer-limit` (1 GiB by
   * default) and drops a client over it. When the server lets us read that
   * setting, the smaller applies.
   *
   * @default 1048576000 (1000 MiB)
   */
  maxBatchBytes?: number;
  /**
   * A directory every process that shares the store mounts (the shared
   * filesystem of a cluster), where values larger than the cache's
   * `largeValueBytes` are kept as files, read and written at disk speed.
   * Without it they are kept in Redis as chunks of at most 4 MiB, so that
   * no command blocks the server for long. Every process of a store must
   * say the same here: one without it cannot read the files.
   *
   * @default undefined (chunks in Redis)
   */
  blobDir?: string;
}

/** The default server URL. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** The default keyspace prefix. */
export const DEFAULT_REDIS_PREFIX = 'memostrata:';

// `satisfies` makes a new option fail to compile until it is listed, so that a configuration can set it.
const everyRedisOption = {
  url: true,
  username: true,
  password: true,
  tls: true,
  prefix: true,
  connectTimeoutMs: true,
  commandTimeoutMs: true,
  closeTimeoutMs: true,
  reconnectForMs: true,
  pageSize: true,
  chunkOperations: true,
  chunkBytes: true,
  maxValueBytes: true,
  maxBatchBytes: true,
  blobDir: true,
} as const satisfies Record<keyof RedisBackendOptions, true>;

/** The names of {@link RedisBackendOptions}, for checking a configuration's fields. */
export const REDIS_OPTION_NAMES = Object.keys(everyRedisOption) as readonly (keyof RedisBackendOptions)[];

/** The names of {@link RedisTlsOptions}, for checking a configuration's fields. */
export const REDIS_TLS_OPTION_NAMES = Object.keys({ caFile: true, certFile: true, keyFile: true, servername: true } as const satisfies Record<keyof RedisTlsOptions, true>) as readonly (keyof RedisTlsOptions)[];

/** What a TLS connection is made with: the files' contents, read and checked. */
export interface ResolvedRedisTls {
  ca?: Uint8Array;
  cert?: Uint8Array;
  key?: Uint8Array;
  servername?: string;
}

/** Where to connect, from the URL. */
export interface RedisEndpoint {
  host: string;
  port: number;
  db: number;
  username: string | undefined;
  password: string | undefined;
  tls: boolean;
  /** The URL with any password masked: safe to print. */
  shownUrl: string;
}

/** Every option, checked, with its default applied. */
export type ResolvedRedisOptions = Required<Omit<RedisBackendOptions, 'url' | 'username' | 'password' | 'tls' | 'blobDir'>> & {
  /** Where large values are kept as files, if anywhere. */
  blobDir: string | undefined;
  /** For a `rediss:` URL; `undefined` otherwise. */
  tls: ResolvedRedisTls | undefined;
  /** The server, or the first node named of a cluster. */
  endpoint: RedisEndpoint;
  /** Every node the URL names, when it names a cluster; `undefined` for a single server. */
  clusterNodes: readonly RedisEndpoint[] | undefined;
  /** The whole URL with any password masked: safe to print. */
  shownUrl: string;
};

// setTimeout fires at once for delays over 2^31 - 1 ms (with a TimeoutOverflowWarning).
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Checks the options that are given, without applying defaults; `where`
 * names them in messages (`'backend.'` in a configuration).
 *
 * @throws MemostrataError `CONFIG` naming the option that is wrong.
 */
export function checkRedisOptions(options: RedisBackendOptions, where: string): RedisBackendOptions {
  const checked: RedisBackendOptions = {};
  const { endpoints } = parseRedisUrls(options.url ?? DEFAULT_REDIS_URL, `${where}url`);
  if (options.url !== undefined) checked.url = options.url;
  for (const name of ['username', 'password'] as const) {
    const value = options[name];
    if (value === undefined) continue;
    if (typeof value !== 'string' || value === '') {
      throw new MemostrataError('CONFIG', `${where}${name} must be a non-empty string; got ${name === 'password' ? `a ${value === '' ? 'empty string' : typeof value}` : JSON.stringify(value)}.`);
    }
    if (endpoints[0]![name] !== undefined) {
      throw new MemostrataError('CONFIG', `${where}${name} is given twice, here and in the url: remove one of them.`);
    }
    checked[name] = value;
  }
  if (options.tls !== undefined) {
    checked.tls = checkTls(options.tls, where);
    if (!endpoints[0]!.tls) {
      throw new MemostrataError('CONFIG', `${where}tls is set, but the url is not a TLS URL: use rediss:// (or rediss+cluster:// for a cluster), or remove tls.`);
    }
  }
  if (options.prefix !== undefined) {
    if (typeof options.prefix !== 'string') {
      throw new MemostrataError('CONFIG', `${where}prefix must be a string such as 'memostrata:'; got ${JSON.stringify(options.prefix)}.`);
    }
    if (/[{}]/.test(options.prefix)) {
      throw new MemostrataError('CONFIG', `${where}prefix must not contain '{' or '}' (the backend places the Redis Cluster hash tag itself); got ${JSON.stringify(options.prefix)}.`);
    }
    checked.prefix = options.prefix;
  }
  for (const name of ['connectTimeoutMs', 'commandTimeoutMs', 'closeTimeoutMs', 'reconnectForMs'] as const) {
    const value = options[name];
    if (value === undefined) continue;
    const least = name === 'reconnectForMs' ? 0 : 1;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < least || value > MAX_TIMER_MS) {
      throw new MemostrataError('CONFIG', `${where}${name} must be a number of milliseconds from ${least} to ${MAX_TIMER_MS}; got ${JSON.stringify(value)}.`);
    }
    checked[name] = value;
  }
  if (options.blobDir !== undefined) {
    if (typeof options.blobDir !== 'string' || options.blobDir === '') {
      throw new MemostrataError('CONFIG', `${where}blobDir must be the path of a directory every process of the store mounts; got ${JSON.stringify(options.blobDir)}.`);
    }
    checked.blobDir = options.blobDir;
  }
  for (const name of ['pageSize', 'chunkOperations', 'chunkBytes', 'maxValueBytes', 'maxBatchBytes'] as const) {
    const value = options[name];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
      throw new MemostrataError('CONFIG', `${where}${name} must be a positive integer; got ${JSON.stringify(value)}.`);
    }
    checked[name] = value;
  }
  return checked;
}

/**
 * Checks every option and applies the defaults.
 *
 * @throws MemostrataError `CONFIG` naming the option that is wrong.
 */
export function resolveRedisOptions(options: RedisBackendOptions, where: string): ResolvedRedisOptions {
  const checked = checkRedisOptions(options, where);
  const url = checked.url ?? DEFAULT_REDIS_URL;
  const parsed = parseRedisUrls(url, `${where}url`);
  const endpoints = parsed.endpoints.map((endpoint) => ({
    ...endpoint,
    username: checked.username ?? endpoint.username,
    password: checked.password ?? endpoint.password,
  }));
  return {
    endpoint: endpoints[0]!,
    clusterNodes: parsed.cluster ? endpoints : undefined,
    tls: endpoints[0]!.tls ? readTls(checked.tls ?? {}, where) : undefined,
    shownUrl: masked(url),
    prefix: checked.prefix ?? DEFAULT_REDIS_PREFIX,
    connectTimeoutMs: checked.connectTimeoutMs ?? 5000,
    commandTimeoutMs: checked.commandTimeoutMs ?? 10_000,
    closeTimeoutMs: checked.closeTimeoutMs ?? 2000,
    reconnectForMs: checked.reconnectForMs ?? 10_000,
    pageSize: checked.pageSize ?? 1000,
    chunkOperations: checked.chunkOperations ?? 1000,
    chunkBytes: checked.chunkBytes ?? 4 * 2 ** 20,
    maxValueBytes: checked.maxValueBytes ?? 512 * 2 ** 20,
    maxBatchBytes: checked.maxBatchBytes ?? 1000 * 2 ** 20,
    blobDir: checked.blobDir === undefined ? undefined : resolve(checked.blobDir),
  };
}

/** Checks the types of the TLS options (their fields are checked by name where a configuration is read). */
function checkTls(tls: unknown, where: string): RedisTlsOptions {
  if (tls === null || typeof tls !== 'object' || Array.isArray(tls)) {
    throw new MemostrataError('CONFIG', `${where}tls must be an object such as { caFile: 'ca.crt' }; got ${JSON.stringify(tls)}.`);
  }
  const checked: RedisTlsOptions = {};
  for (const name of REDIS_TLS_OPTION_NAMES) {
    const value = (tls as Record<string, unknown>)[name];
    if (value === undefined) continue;
    if (typeof value !== 'string' || value === '') {
      const what = name === 'servername' ? 'a host name' : 'the path of a PEM file';
      throw new MemostrataError('CONFIG', `${where}tls.${name} must be ${what}; got ${JSON.stringify(value)}.`);
    }
    checked[name] = value;
  }
  if ((checked.certFile === undefined) !== (checked.keyFile === undefined)) {
    throw new MemostrataError('CONFIG', `${where}tls.certFile and tls.keyFile go together (a client certificate and its private key): give both or neither.`);
  }
  return checked;
}

/**
 * Reads the TLS files and checks that Node can use them, so that a wrong
 * file is named now rather than surfacing as a failed handshake.
 *
 * @throws MemostrataError `CONFIG` naming the option and the file.
 */
function readTls(tls: RedisTlsOptions, where: string): ResolvedRedisTls {
  const read = (name: 'caFile' | 'certFile' | 'keyFile', file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (error) {
      throw new MemostrataError('CONFIG', `${where}tls.${name}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); point it at a readable PEM file.`, { cause: error });
    }
  };
  const resolved: ResolvedRedisTls = {};
  if (tls.caFile !== undefined) {
    const ca = read('caFile', tls.caFile);
    resolved.ca = ca;
    try {
      createSecureContext({ ca });
    } catch (error) {
      throw new MemostrataError('CONFIG', `${where}tls.caFile: ${tls.caFile} is not a PEM CA certificate (${(error as Error).message}).`, { cause: error });
    }
    // Node ignores text that is not a certificate: a file with none trusts nothing, and every handshake would fail.
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) {
      throw new MemostrataError('CONFIG', `${where}tls.caFile: ${tls.caFile} holds no PEM certificate (-----BEGIN CERTIFICATE-----).`);
    }
  }
  if (tls.certFile !== undefined && tls.keyFile !== undefined) {
    const cert = read('certFile', tls.certFile);
    const key = read('keyFile', tls.keyFile);
    resolved.cert = cert;
    resolved.key = key;
    try {
      createSecureContext({ cert, key });
    } catch (error) {
      throw new MemostrataError(
        'CONFIG',
        `${where}tls.certFile and tls.keyFile (${tls.certFile}, ${tls.keyFile}) are not a PEM certificate and its unencrypted private key (${(error as Error).message}).`,
        { cause: error },
      );
    }
  }
  if (tls.servername !== undefined) resolved.servername = tls.servername;
  return resolved;
}

/**
 * Reads a server URL, or a cluster URL naming several nodes
 * (`redis+cluster://[auth@]host:port,host:port…`), each node checked as a
 * server URL of its own (with the same credentials).
 *
 * @throws MemostrataError `CONFIG` naming `field` and what is wrong.
 */
function parseRedisUrls(url: unknown, field: string): { endpoints: RedisEndpoint[]; cluster: boolean } {
  const match = typeof url === 'string' ? /^(rediss?)\+cluster:\/\/(?:([^@/]*)@)?([^/?#]*)(.*)$/.exec(url) : null;
  if (match === null) return { endpoints: [parseRedisUrl(url, field)], cluster: false };
  const [, scheme, auth, hosts, rest] = match as unknown as [string, string, string | undefined, string, string];
  const fail = (what: string): never => {
    throw new MemostrataError('CONFIG', `${field} must be a Redis Cluster URL such as redis+cluster://127.0.0.1:7000,127.0.0.1:7001: ${what}; got ${JSON.stringify(masked(url as string))}.`);
  };
  if (rest !== '' && rest !== '/') fail('a cluster has no database number, query or fragment');
  if (hosts === '') fail('it names no node');
  const endpoints = hosts.split(',').map((host) => parseRedisUrl(`${scheme}://${auth === undefined ? '' : `${auth}@`}${host}`, field));
  return { endpoints: endpoints.map((endpoint) => ({ ...endpoint, shownUrl: masked(url as string) })), cluster: true };
}

/**
 * Reads a Redis URL completely, so that nothing in it is left for the client
 * library to misread (a database `abc` became `SELECT NaN` there).
 *
 * @throws MemostrataError `CONFIG` naming `field` and what is wrong.
 */
function parseRedisUrl(url: unknown, field: string): RedisEndpoint {
  const fail = (what: string): never => {
    throw new MemostrataError('CONFIG', `${field} must be a Redis URL such as redis://127.0.0.1:6379/0 (rediss:// for TLS): ${what}; got ${JSON.stringify(typeof url === 'string' ? masked(url) : url)}.`);
  };
  if (typeof url !== 'string' || !URL.canParse(url)) return fail('it is not a URL');
  const parsed = new URL(url);
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') return fail(`the scheme must be redis: or rediss:, not ${parsed.protocol}`);
  if (parsed.hostname === '') return fail('it names no host');
  if (parsed.search !== '' || parsed.hash !== '') return fail('query parameters and fragments are not supported');
  const port = parsed.port === '' ? 6379 : Number(parsed.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return fail('the port must be from 1 to 65535');
  const path = parsed.pathname;
  if (path !== '' && path !== '/' && !/^\/\d{1,9}$/.test(path)) return fail(`the database (${path.slice(1)}) must be a non-negative integer`);
  const db = path.length > 1 ? Number(path.slice(1)) : 0;
  return {
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
    port,
    db,
    username: parsed.username === '' ? undefined : decodeURIComponent(parsed.username),
    password: parsed.password === '' ? undefined : decodeURIComponent(parsed.password),
    tls: parsed.protocol === 'rediss:',
    shownUrl: masked(url),
  };
}

/** `url` with its password, if any, replaced by `***`. */
function masked(url: string): string {
  if (!URL.canParse(url) || url.includes('+cluster:')) return url.replace(/:[^:@/]*@/, ':***@');
  const parsed = new URL(url);
  if (parsed.password === '') return url;
  parsed.password = '***';
  return parsed.toString();
}
