import { Redis } from 'ioredis';
import { Database, type BatchOperation, type Manifest } from '../contract/database.js';
import type { NormalizedRange } from '../contract/range.js';
import { MemostrataError } from '../errors.js';
import { assertBytes, copyBytes } from './bytes.js';
import { batchScript, pageScript } from './redis-scripts.js';

/** Options of {@link RedisBackend.open}. */
export interface RedisBackendOptions {
  /**
   * The server: `redis://[[user]:password@]host[:port][/db]`, or `rediss://`
   * for TLS. Default `redis://127.0.0.1:6379`.
   */
  url?: string;
  /**
   * Namespace of the store in the server's keyspace: it lives in the two Redis
   * keys `<prefix>values` (a hash) and `<prefix>keys` (a sorted set). Stores
   * with different prefixes share a server without seeing each other.
   * Default `'memostrata:'`.
   */
  prefix?: string;
  /** Milliseconds to wait for the server when connecting. Default 5000. */
  connectTimeoutMs?: number;
  /**
   * Milliseconds a command may wait for its reply before it fails with
   * `BACKEND`. Default 30000.
   */
  commandTimeoutMs?: number;
  /**
   * After an established connection is lost, milliseconds to keep trying to
   * reconnect (operations meanwhile fail at once with `BACKEND`). After that
   * the backend stays disconnected. `0` never reconnects. Default 10000.
   */
  reconnectForMs?: number;
  /**
   * Entries read by one atomic page of an iteration. A range with at most this
   * many entries is read as one consistent snapshot. Default 1000.
   */
  pageSize?: number;
}

/** The default server URL. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** The default keyspace prefix. */
export const DEFAULT_REDIS_PREFIX = 'memostrata:';

/*
 * ioredis hands out reply Buffers that are views into its socket chunks: every
 * key and value is copied before it leaves this backend, so that no caller
 * keeps a whole chunk alive or sees bytes another reply reuses.
 */

/** The scripts, as ioredis defines them on a connection (see redis-scripts.ts). */
interface ScriptCommands {
  memostrataBatch(values: Buffer, keys: Buffer, ...args: Buffer[]): Promise<number>;
  memostrataPageBuffer(values: Buffer, keys: Buffer, min: Buffer, max: Buffer, reverse: string, count: number): Promise<(Buffer | null | false)[]>;
}

type Connection = Redis & ScriptCommands;

/**
 * A backend on a Redis server (through ioredis), shared by every process and
 * machine that opens it with the same URL and prefix.
 *
 * Values live in one Redis hash and keys in a sorted set of score 0, whose
 * `ZRANGEBYLEX` order is unsigned byte order: the same order as LevelDB.
 * Writes, batches included, run as one Lua script each, so a batch is
 * applied whole or not at all.
 *
 * Redis has no snapshots: an iteration reads pages of
 * {@link RedisBackendOptions.pageSize} entries, each page atomically, and
 * resumes after the last key it returned. A range that fits in one page is a
 * consistent snapshot; a longer one sees each page as it was when that page
 * was read (every key present throughout is returned exactly once, in order),
 * so the manifest says `snapshots: false`.
 *
 * Durability is the server's: a write is done once the server applied it, and
 * `{ sync: true }` adds nothing. What survives a server crash depends on its
 * persistence settings (`appendonly yes` with `appendfsync always` loses
 * nothing acknowledged, `everysec` up to a second, RDB snapshots alone
 * everything since the last snapshot). `WAIT`/`WAITAOF` are not issued.
 *
 * A connection lost after opening is retried for `reconnectForMs`; meanwhile
 * operations reject with `BACKEND` at once instead of queueing, and an idle
 * connection does not keep the process alive.
 *
 * Many processes share one store on purpose, so there is no `LOCKED`: two
 * processes that write the same call write the same content-addressed values.
 */
export class RedisBackend extends Database<Uint8Array, Uint8Array> {
  readonly manifest: Manifest = { persistent: true, snapshots: false };

  /** The server URL, with any password masked: safe to print. */
  readonly url: string;
  /** The keyspace prefix. */
  readonly prefix: string;
  readonly #redis: Connection;
  readonly #valuesKey: Buffer;
  readonly #keysKey: Buffer;
  readonly #pageSize: number;
  readonly #lastError: { current: Error | undefined };
  /** Operations waiting for the server; the socket holds the process open only while there are some. */
  #pending = 0;

  private constructor(redis: Connection, url: string, prefix: string, pageSize: number, lastError: { current: Error | undefined }) {
    super();
    this.#redis = redis;
    this.url = url;
    this.prefix = prefix;
    this.#valuesKey = Buffer.from(`${prefix}values`, 'utf8');
    this.#keysKey = Buffer.from(`${prefix}keys`, 'utf8');
    this.#pageSize = pageSize;
    this.#lastError = lastError;
    // An idle connection must not keep the process alive: a program that ends
    // without close() still reaches 'beforeExit', where the Cache flushes.
    redis.on('ready', () => this.#holdProcess(this.#pending > 0));
    this.#holdProcess(false);
  }

  /**
   * Connects to the server and checks that the keys under `prefix` are a
   * memostrata keyspace (or free). Fails fast: an unreachable server is
   * reported after one attempt, within `connectTimeoutMs`.
   *
   * @throws MemostrataError `BACKEND` when the server cannot be reached;
   *   `NOT_A_STORE` when the keys under the prefix hold other data;
   *   `INVALID_ARGUMENT` for a malformed option.
   */
  static async open(options: RedisBackendOptions = {}): Promise<RedisBackend> {
    const url = options.url ?? DEFAULT_REDIS_URL;
    const shownUrl = maskPassword(url);
    const prefix = options.prefix ?? DEFAULT_REDIS_PREFIX;
    if (typeof prefix !== 'string') throw new MemostrataError('INVALID_ARGUMENT', `The Redis prefix must be a string; got ${typeof prefix}.`);
    const connectTimeout = positive(options.connectTimeoutMs ?? 5000, 'connectTimeoutMs');
    const commandTimeout = positive(options.commandTimeoutMs ?? 30_000, 'commandTimeoutMs');
    const reconnectForMs = nonNegative(options.reconnectForMs ?? 10_000, 'reconnectForMs');
    const pageSize = positive(options.pageSize ?? 1000, 'pageSize');

    let everReady = false;
    let lostAt = 0;
    const lastError: { current: Error | undefined } = { current: undefined };
    const redis = new Redis(url, {
      lazyConnect: true,
      connectTimeout,
      commandTimeout,
      // Fail rather than wait: a command issued while disconnected rejects at
      // once, and one in flight when the connection drops rejects then.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      retryStrategy: (attempt) => {
        // Opening never retries; a lost connection is retried for a while.
        if (!everReady) return null;
        if (attempt === 1) lostAt = Date.now();
        if (Date.now() - lostAt >= reconnectForMs) return null;
        return Math.min(50 * 2 ** attempt, 1000);
      },
    }) as Connection;
    redis.on('error', (error: Error) => {
      lastError.current = error;
    });
    redis.on('ready', () => {
      everReady = true;
      // A message names what went wrong now, not an error from before a reconnect.
      lastError.current = undefined;
    });
    redis.defineCommand('memostrataBatch', { lua: batchScript, numberOfKeys: 2 });
    redis.defineCommand('memostrataPage', { lua: pageScript, numberOfKeys: 2, readOnly: true });

    // One deadline for connecting, selecting the database and checking the keyspace:
    // a server that accepts the connection but never answers must not stall openCache.
    const deadline = setTimeout(() => redis.disconnect(), connectTimeout);
    try {
      try {
        await redis.connect();
        // ioredis only reports a failed SELECT of the URL's database as an event: ask again, so that it fails here.
        const db = redis.options.db ?? 0;
        if (db !== 0) await redis.select(db);
      } catch (error) {
        throw connectError(shownUrl, lastError.current ?? (error as Error));
      }
      const backend = new RedisBackend(redis, shownUrl, prefix, pageSize, lastError);
      await backend.#checkKeyspace();
      return backend;
    } catch (error) {
      redis.disconnect();
      throw error;
    } finally {
      clearTimeout(deadline);
    }
  }

  protected checkKey(key: Uint8Array): void {
    assertBytes(key, 'key');
  }

  protected checkValue(value: Uint8Array): void {
    assertBytes(value, 'value');
  }

  protected async _get(key: Uint8Array): Promise<Uint8Array | undefined> {
    const value = await this.#call(() => this.#redis.hgetBuffer(this.#valuesKey, asBuffer(key)));
    return value === null ? undefined : copyBytes(value);
  }

  protected async _getMany(keys: readonly Uint8Array[]): Promise<(Uint8Array | undefined)[]> {
    if (keys.length === 0) return [];
    const values = await this.#call(() => this.#redis.hmgetBuffer(this.#valuesKey, ...keys.map(asBuffer)));
    return values.map((value) => (value === null ? undefined : copyBytes(value)));
  }

  protected async _has(key: Uint8Array): Promise<boolean> {
    return (await this.#call(() => this.#redis.hexists(this.#valuesKey, asBuffer(key)))) === 1;
  }

  protected async _put(key: Uint8Array, value: Uint8Array): Promise<void> {
    await this._batch([{ type: 'put', key, value }]);
  }

  protected async _delete(key: Uint8Array): Promise<void> {
    await this._batch([{ type: 'del', key }]);
  }

  protected async _batch(operations: readonly BatchOperation<Uint8Array, Uint8Array>[]): Promise<void> {
    const args: Buffer[] = [];
    for (const op of operations) {
      // Copies: the caller may change its buffers while the command is queued.
      if (op.type === 'put') args.push(PUT, Buffer.from(op.key), Buffer.from(op.value));
      else args.push(DEL, Buffer.from(op.key));
    }
    await this.#call(() => this.#redis.memostrataBatch(this.#valuesKey, this.#keysKey, ...args));
  }

  protected async *_entries(range: NormalizedRange<Uint8Array>): AsyncGenerator<[Uint8Array, Uint8Array]> {
    let bounds = lexBounds(range);
    let remaining = range.limit;
    while (remaining > 0) {
      const count = Math.min(this.#pageSize, remaining);
      const page = await this.#call(() =>
        this.#redis.memostrataPageBuffer(this.#valuesKey, this.#keysKey, bounds.min, bounds.max, range.reverse ? '1' : '0', count),
      );
      for (let i = 0; i < page.length; i += 2) {
        const key = page[i] as Buffer;
        const value = page[i + 1];
        if (!(value instanceof Uint8Array)) {
          throw new MemostrataError('CORRUPT', `The Redis store at ${this.url} (prefix ${this.prefix}) lists a key that has no value: ${key.toString('hex')}.`);
        }
        yield [copyBytes(key), copyBytes(value)];
      }
      const entries = page.length / 2;
      if (entries < count) return;
      remaining -= entries;
      bounds = after(bounds, page[page.length - 2] as Buffer, range.reverse);
    }
  }

  protected async *_keys(range: NormalizedRange<Uint8Array>): AsyncGenerator<Uint8Array> {
    let bounds = lexBounds(range);
    let remaining = range.limit;
    while (remaining > 0) {
      const count = Math.min(this.#pageSize, remaining);
      const page = await this.#call(() =>
        range.reverse
          ? this.#redis.zrevrangebylexBuffer(this.#keysKey, bounds.max, bounds.min, 'LIMIT', 0, count)
          : this.#redis.zrangebylexBuffer(this.#keysKey, bounds.min, bounds.max, 'LIMIT', 0, count),
      );
      for (const key of page) yield copyBytes(key);
      if (page.length < count) return;
      remaining -= page.length;
      bounds = after(bounds, page[page.length - 1]!, range.reverse);
    }
  }

  protected async _close(): Promise<void> {
    try {
      await this.#call(() => this.#redis.quit());
    } catch {
      // Not connected (or the server went away): there is nothing to say goodbye to.
    } finally {
      this.#redis.disconnect();
    }
  }

  async #checkKeyspace(): Promise<void> {
    const [valuesType, keysType] = await this.#call(() =>
      Promise.all([this.#redis.type(this.#valuesKey), this.#redis.type(this.#keysKey)]),
    );
    if ((valuesType !== 'hash' && valuesType !== 'none') || (keysType !== 'zset' && keysType !== 'none')) {
      throw new MemostrataError(
        'NOT_A_STORE',
        `The Redis keys ${this.prefix}values and ${this.prefix}keys at ${this.url} hold other data (a ${valuesType} and a ${keysType}), not a memostrata store; choose another prefix.`,
      );
    }
  }

  async #call<T>(operation: () => Promise<T>): Promise<T> {
    if (this.#pending++ === 0) this.#holdProcess(true);
    try {
      return await operation();
    } catch (error) {
      throw this.#backendError(error as Error);
    } finally {
      if (--this.#pending === 0) this.#holdProcess(false);
    }
  }

  /** Refs or unrefs the socket, so that only a connection with work in flight keeps Node running. */
  #holdProcess(hold: boolean): void {
    const socket = this.#redis.stream as { ref?: () => void; unref?: () => void } | undefined;
    if (hold) socket?.ref?.();
    else socket?.unref?.();
  }

  #backendError(error: Error): MemostrataError {
    const status = this.#redis.status;
    if (status !== 'ready' || isConnectionError(error)) {
      const reason = this.#lastError.current === undefined ? error.message : `${error.message}; ${this.#lastError.current.message}`;
      return new MemostrataError(
        'BACKEND',
        `The Redis server at ${this.url} is unreachable (connection ${status}: ${reason}). Check that it is running; operations fail until it is back.`,
        { cause: error },
      );
    }
    return new MemostrataError('BACKEND', `Redis at ${this.url} (prefix ${this.prefix}) failed: ${error.message}`, { cause: error });
  }
}

const PUT = Buffer.from('p');
const DEL = Buffer.from('d');
const MIN = Buffer.from('-');
const MAX = Buffer.from('+');

interface LexBounds {
  min: Buffer;
  max: Buffer;
}

/** A range as ZRANGEBYLEX bounds: `[key` inclusive, `(key` exclusive, `-` / `+` open. */
function lexBounds(range: NormalizedRange<Uint8Array>): LexBounds {
  const min = range.gt !== undefined ? lexBound('(', range.gt) : range.gte !== undefined ? lexBound('[', range.gte) : MIN;
  const max = range.lt !== undefined ? lexBound('(', range.lt) : range.lte !== undefined ? lexBound('[', range.lte) : MAX;
  return { min, max };
}

/** The bounds of the next page: past `last` in the direction of iteration. */
function after(bounds: LexBounds, last: Buffer, reverse: boolean): LexBounds {
  return reverse ? { min: bounds.min, max: lexBound('(', last) } : { min: lexBound('(', last), max: bounds.max };
}

function lexBound(marker: '(' | '[', key: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(marker), key]);
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function isConnectionError(error: Error): boolean {
  const name = error.name;
  return (
    name === 'MaxRetriesPerRequestError' ||
    name === 'AbortError' ||
    /Connection is closed|Stream isn't writeable|Command timed out|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE/.test(error.message)
  );
}

/** `url` with its password, if any, replaced by `***`. */
function maskPassword(url: string): string {
  const parsed = typeof url === 'string' && URL.canParse(url) ? new URL(url) : undefined;
  if (parsed === undefined || (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:')) {
    throw new MemostrataError('INVALID_ARGUMENT', `The Redis URL must look like redis://host:port (or rediss:// for TLS); got ${JSON.stringify(url)}.`);
  }
  if (parsed.password === '') return url;
  parsed.password = '***';
  return parsed.toString();
}

function positive(value: number, name: string): number {
  if (typeof value === 'number' && Number.isFinite(value) && value > 0) return value;
  throw new MemostrataError('INVALID_ARGUMENT', `RedisBackend option ${name} must be a positive number; got ${JSON.stringify(value)}.`);
}

function nonNegative(value: number, name: string): number {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value;
  throw new MemostrataError('INVALID_ARGUMENT', `RedisBackend option ${name} must be a number >= 0; got ${JSON.stringify(value)}.`);
}

/** Why opening failed, in words that say what to do. */
function connectError(shownUrl: string, reason: Error): MemostrataError {
  const message = reason.message;
  if (/WRONGPASS|NOAUTH|NOPERM/.test(message)) {
    return new MemostrataError('CONFIG', `The Redis server at ${shownUrl} refused the credentials (${message}); check the user and password in backend.url.`, { cause: reason });
  }
  if (/DB index is out of range|invalid DB index/i.test(message)) {
    return new MemostrataError('CONFIG', `The Redis server at ${shownUrl} has no such database (${message}); check the number at the end of backend.url.`, { cause: reason });
  }
  return new MemostrataError('BACKEND', `The Redis server at ${shownUrl} is unreachable or not answering (${message}). Start it, or point backend.url at a running server.`, { cause: reason });
}
