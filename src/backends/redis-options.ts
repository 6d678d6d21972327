import { MemostrataError } from '../errors.js';

/** Options of the Redis backend: of `RedisBackend.open`, and of `backend: { type: 'redis', … }` in a configuration. */
export interface RedisBackendOptions {
  /**
   * The server: `redis://[[user]:password@]host[:port][/db]`, or `rediss://`
   * for TLS. `db` is a database number (a non-negative integer).
   *
   * @default 'redis://127.0.0.1:6379'
   */
  url?: string;
  /**
   * Namespace of the store in the server's keyspace: it lives in the two Redis
   * keys `<prefix>values` (a hash) and `<prefix>keys` (a sorted set). Stores
   * with different prefixes share a server without seeing each other.
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
   * Largest write, in bytes (keys, values and framing of one batch, such as
   * a checkpoint), sent as one atomic command. Larger batches are refused
   * with `BACKEND` before anything is sent: Redis counts a command against
   * its `client-query-buffer-limit` (1 GiB by default) and drops a client
   * over it. When the server lets us read that setting, the smaller applies.
   *
   * @default 1048576000 (1000 MiB)
   */
  maxBatchBytes?: number;
}

/** The default server URL. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** The default keyspace prefix. */
export const DEFAULT_REDIS_PREFIX = 'memostrata:';

/** The names of {@link RedisBackendOptions}, for checking a configuration's fields. */
export const REDIS_OPTION_NAMES: readonly (keyof RedisBackendOptions)[] = [
  'url',
  'prefix',
  'connectTimeoutMs',
  'commandTimeoutMs',
  'closeTimeoutMs',
  'reconnectForMs',
  'pageSize',
  'maxValueBytes',
  'maxBatchBytes',
];

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
export type ResolvedRedisOptions = Required<Omit<RedisBackendOptions, 'url'>> & { endpoint: RedisEndpoint };

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
  if (options.url !== undefined) {
    parseRedisUrl(options.url, `${where}url`);
    checked.url = options.url;
  }
  if (options.prefix !== undefined) {
    if (typeof options.prefix !== 'string') {
      throw new MemostrataError('CONFIG', `${where}prefix must be a string such as 'memostrata:'; got ${JSON.stringify(options.prefix)}.`);
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
  for (const name of ['pageSize', 'maxValueBytes', 'maxBatchBytes'] as const) {
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
  return {
    endpoint: parseRedisUrl(checked.url ?? DEFAULT_REDIS_URL, `${where}url`),
    prefix: checked.prefix ?? DEFAULT_REDIS_PREFIX,
    connectTimeoutMs: checked.connectTimeoutMs ?? 5000,
    commandTimeoutMs: checked.commandTimeoutMs ?? 10_000,
    closeTimeoutMs: checked.closeTimeoutMs ?? 2000,
    reconnectForMs: checked.reconnectForMs ?? 10_000,
    pageSize: checked.pageSize ?? 1000,
    maxValueBytes: checked.maxValueBytes ?? 512 * 2 ** 20,
    maxBatchBytes: checked.maxBatchBytes ?? 1000 * 2 ** 20,
  };
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
  if (!URL.canParse(url)) return url.replace(/:[^:@/]*@/, ':***@');
  const parsed = new URL(url);
  if (parsed.password === '') return url;
  parsed.password = '***';
  return parsed.toString();
}
