import { Redis } from 'ioredis';
import { Database, type BatchCondition, type BatchOperation, type Manifest } from '../contract/database.js';
import type { NormalizedRange } from '../contract/range.js';
import { MemostrataError } from '../errors.js';
import { BackendLimitError, BackendUnreachableError } from './backend-errors.js';
import { assertBytes, copyBytes } from './bytes.js';
import { resolveRedisOptions, type RedisBackendOptions, type ResolvedRedisOptions } from './redis-options.js';
import { batchScript, initializeFormatScript, pageScript } from './redis-scripts.js';

export { DEFAULT_REDIS_PREFIX, DEFAULT_REDIS_URL, type RedisBackendOptions } from './redis-options.js';

/*
 * ioredis hands out reply Buffers that are views into its socket chunks: every
 * key and value is copied before it leaves this backend, so that no caller
 * keeps a whole chunk alive or sees bytes another reply reuses.
 */

/** The scripts, as ioredis defines them on a connection (see redis-scripts.ts). */
interface ScriptCommands {
  memostrataBatch(values: Buffer, keys: Buffer, ...args: Buffer[]): Promise<number>;
  memostrataPageBuffer(values: Buffer, keys: Buffer, min: Buffer, max: Buffer, reverse: string, count: number): Promise<(Buffer | null | false)[]>;
  memostrataInitializeFormatBuffer(values: Buffer, keys: Buffer, key: Buffer, value: Buffer): Promise<Buffer | null>;
}

type Connection = Redis & ScriptCommands;

/** The size limits a write is checked against before it is sent. */
export interface RedisWriteLimits {
  /** Largest key or value, in bytes. */
  readonly maxValueBytes: number;
  /** Largest batch (one atomic command), in bytes, framing included. */
  readonly maxBatchBytes: number;
}

/**
 * A backend on a Redis server (through ioredis), shared by every process and
 * machine that opens it with the same URL and prefix.
 *
 * Values live in one Redis hash and keys in a sorted set of score 0, whose
 * `ZRANGEBYLEX` order is unsigned byte order: the same order as LevelDB.
 * Writes, batches included, run as one Lua script each, so a batch is
 * applied whole or not at all. A write over {@link RedisWriteLimits} is
 * refused with `BACKEND` before anything is sent.
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
 * everything since the last snapshot). `WAIT`/`WAITAOF` are not issued. A
 * server that restarts empty is written to as a new store: the backend keeps
 * no view of what the server holds.
 *
 * While the server cannot be reached or does not answer, operations reject
 * with `BACKEND` (the cause a {@link BackendUnreachableError}) at once or
 * after `commandTimeoutMs`, never later; the backend reconnects by itself
 * (see {@link RedisBackendOptions.reconnectForMs}), and an idle connection
 * does not keep the process alive. `close()` takes at most `closeTimeoutMs`.
 *
 * Many processes share one store on purpose, so there is no `LOCKED`: two
 * processes that write the same call write the same content-addressed values.
 */
export class RedisBackend extends Database<Uint8Array, Uint8Array> {
  readonly manifest: Manifest = { persistent: true, snapshots: false, shared: true };

  /** The server URL, with any password masked: safe to print. */
  readonly url: string;
  /** The keyspace prefix. */
  readonly prefix: string;
  /** What a write may send: the options' limits, lowered to the server's own where it lets us read them. */
  readonly limits: RedisWriteLimits;
  readonly #redis: Connection;
  readonly #options: ResolvedRedisOptions;
  readonly #valuesKey: Buffer;
  readonly #keysKey: Buffer;
  readonly #lastError: { current: Error | undefined };
  /** The format record every batch writes first if it finds the keyspace empty (see {@link RedisBackend.initializeFormat}). */
  #formatRecord: [Buffer, Buffer] = [EMPTY, EMPTY];
  /** Operations waiting for the server; the socket holds the process open only while there are some. */
  #pending = 0;
  #closed = false;

  private constructor(redis: Connection, options: ResolvedRedisOptions, limits: RedisWriteLimits, lastError: { current: Error | undefined }) {
    super();
    this.#redis = redis;
    this.#options = options;
    this.url = options.endpoint.shownUrl;
    this.prefix = options.prefix;
    this.limits = limits;
    this.#valuesKey = Buffer.from(`${options.prefix}values`, 'utf8');
    this.#keysKey = Buffer.from(`${options.prefix}keys`, 'utf8');
    this.#lastError = lastError;
    // An idle connection must not keep the process alive: a program that ends
    // without close() still reaches 'beforeExit', where the Cache flushes.
    // Each reconnect makes a new socket, ref'd by default: set it once it is connected.
    redis.on('connect', () => this.#holdProcess());
    redis.on('ready', () => this.#holdProcess());
    this.#holdProcess();
  }

  /**
   * Connects to the server and checks that the keys under `prefix` are a
   * memostrata keyspace (or free). Fails fast: an unreachable server is
   * reported after one attempt, and opening never takes longer than
   * `connectTimeoutMs`.
   *
   * @throws MemostrataError `BACKEND` when the server cannot be reached or
   *   does not answer; `NOT_A_STORE` when the keys under the prefix hold other
   *   data; `CONFIG` for a malformed option, a URL the server refuses
   *   (credentials) or a database it does not have.
   */
  static async open(options: RedisBackendOptions = {}): Promise<RedisBackend> {
    const resolved = resolveRedisOptions(options, 'RedisBackend option ');
    const { endpoint, connectTimeoutMs, reconnectForMs } = resolved;

    let everReady = false;
    let lostAt = 0;
    const lastError: { current: Error | undefined } = { current: undefined };
    const redis = new Redis({
      host: endpoint.host,
      port: endpoint.port,
      db: endpoint.db,
      ...(endpoint.username === undefined ? {} : { username: endpoint.username }),
      ...(endpoint.password === undefined ? {} : { password: endpoint.password }),
      ...(endpoint.tls ? { tls: {} } : {}),
      lazyConnect: true,
      connectTimeout: connectTimeoutMs,
      commandTimeout: resolved.commandTimeoutMs,
      // Fail rather than wait: a command issued while disconnected rejects at
      // once, and one in flight when the connection drops rejects then.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      retryStrategy: (attempt) => {
        // Opening never retries; a lost connection is retried for a while,
        // then only when an operation asks for it (see #call).
        if (!everReady) return null;
        if (attempt === 1) lostAt = Date.now();
        if (Date.now() - lostAt >= reconnectForMs) return null;
        return Math.min(50 * 2 ** attempt, 1000);
      },
    }) as Connection;
    // Every failure of the connection is an 'error' event: without this
    // listener one would be thrown as an uncaught exception.
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
    redis.defineCommand('memostrataInitializeFormat', { lua: initializeFormatScript, numberOfKeys: 2 });

    const opening = (async () => {
      try {
        await redis.connect();
        // ioredis only reports a failed SELECT of the URL's database as an event: ask again, so that it fails here.
        if (endpoint.db !== 0) await redis.select(endpoint.db);
      } catch (error) {
        throw connectError(endpoint.shownUrl, lastError.current ?? (error as Error));
      }
      const limits = await serverLimits(redis, resolved);
      const backend = new RedisBackend(redis, resolved, limits, lastError);
      await backend.#checkKeyspace();
      return backend;
    })();
    // One deadline for connecting, the handshake and the checks: a server that
    // accepts the connection but never answers must not stall the open.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const reason = new Error(`no answer within connectTimeoutMs (${connectTimeoutMs} ms)`);
        reject(connectError(endpoint.shownUrl, reason));
      }, connectTimeoutMs);
    });
    try {
      return await Promise.race([opening, deadline]);
    } catch (error) {
      opening.catch(() => undefined);
      redis.disconnect();
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Claims an empty keyspace for a store in one atomic step: when nothing is
   * stored under the prefix, writes `value` at `key`. Returns what is stored
   * at `key` afterwards (`undefined` when the keyspace holds other keys but
   * not this one). From then on, every write that finds the keyspace empty
   * (the server restarted without its data) writes this record first, in the
   * same atomic step.
   */
  async initializeFormat(key: Uint8Array, value: Uint8Array): Promise<Uint8Array | undefined> {
    this.assertOpen();
    this.checkKey(key);
    this.checkValue(value);
    const record: [Buffer, Buffer] = [Buffer.from(key), Buffer.from(value)];
    const stored = await this.#call(() => this.#redis.memostrataInitializeFormatBuffer(this.#valuesKey, this.#keysKey, ...record));
    this.#formatRecord = record;
    return stored === null ? undefined : copyBytes(stored);
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
    await this.#runBatch(NO_CONDITION, operations);
  }

  protected async _batchIf(condition: BatchCondition<Uint8Array, Uint8Array>, operations: readonly BatchOperation<Uint8Array, Uint8Array>[]): Promise<boolean> {
    const tested: Buffer[] = condition.value === undefined ? [EXPECT_ABSENT, Buffer.from(condition.key), EMPTY] : [EXPECT_EQUAL, Buffer.from(condition.key), Buffer.from(condition.value)];
    return (await this.#runBatch(tested, operations)) === 1;
  }

  /** Runs the batch script: `condition` is its three condition arguments (see redis-scripts.ts). Returns 1 when it applied. */
  async #runBatch(condition: readonly Buffer[], operations: readonly BatchOperation<Uint8Array, Uint8Array>[]): Promise<number> {
    this.#checkSizes(operations);
    const args: Buffer[] = [...this.#formatRecord, ...condition];
    for (const op of operations) {
      // Copies: the caller may change its buffers while the command is queued.
      if (op.type === 'put') args.push(PUT, Buffer.from(op.key), Buffer.from(op.value));
      else args.push(DEL, Buffer.from(op.key));
    }
    return this.#call(() => this.#redis.memostrataBatch(this.#valuesKey, this.#keysKey, ...args));
  }

  protected async *_entries(range: NormalizedRange<Uint8Array>): AsyncGenerator<[Uint8Array, Uint8Array]> {
    let bounds = lexBounds(range);
    let remaining = range.limit;
    while (remaining > 0) {
      const count = Math.min(this.#options.pageSize, remaining);
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
      const count = Math.min(this.#options.pageSize, remaining);
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
    this.#closed = true;
    if (this.#redis.status === 'ready') {
      // A polite QUIT, but never waiting on a server that stopped answering.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const goodbye = this.#call(() => this.#redis.quit()).catch(() => undefined);
      await Promise.race([goodbye, new Promise<void>((resolve) => (timer = setTimeout(resolve, this.#options.closeTimeoutMs)))]);
      clearTimeout(timer);
    }
    this.#redis.disconnect();
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

  /** Refuses, before sending anything, a write the server would answer by dropping the connection. */
  #checkSizes(operations: readonly BatchOperation<Uint8Array, Uint8Array>[]): void {
    const { maxValueBytes, maxBatchBytes } = this.limits;
    let total = ARGUMENT_FRAMING * 8 + this.#formatRecord[0].length + this.#formatRecord[1].length;
    for (const op of operations) {
      total += ARGUMENT_FRAMING * 2 + op.key.length;
      const largest = op.type === 'put' ? (op.key.length > op.value.length ? op.key : op.value) : op.key;
      if (largest.length > maxValueBytes) {
        const what = largest === op.key ? 'key' : 'value';
        throw this.#limitError(
          `The ${what} at key ${describeKey(op.key)} is ${mebibytes(largest.length)}, over the Redis backend's limit of ${mebibytes(maxValueBytes)} per key or value (maxValueBytes, or the server's proto-max-bulk-len). It was not sent and nothing of this write was stored. Store a smaller result, or raise proto-max-bulk-len on the server and maxValueBytes.`,
          { key: op.key, size: largest.length, limit: maxValueBytes },
        );
      }
      if (op.type === 'put') total += ARGUMENT_FRAMING + op.value.length;
    }
    if (total > maxBatchBytes) {
      throw this.#limitError(
        `A write of ${operations.length} operations is ${mebibytes(total)}, over the Redis backend's limit of ${mebibytes(maxBatchBytes)} per atomic write (maxBatchBytes, or the server's client-query-buffer-limit). It was not sent and nothing of it was stored. Checkpoint more often, or raise client-query-buffer-limit on the server and maxBatchBytes.`,
        { key: undefined, size: total, limit: maxBatchBytes },
      );
    }
  }

  #limitError(message: string, details: { key: Uint8Array | undefined; size: number; limit: number }): MemostrataError {
    const cause = new BackendLimitError(message, details);
    return new MemostrataError('BACKEND', `Redis at ${this.url} (prefix ${this.prefix}): ${message}`, { cause });
  }

  async #call<T>(operation: () => Promise<T>): Promise<T> {
    // Past reconnectForMs nothing retries in the background: this operation
    // fails at once, but starts an attempt so that a later one finds the server.
    if (this.#redis.status === 'end' && !this.#closed) this.#redis.connect().catch(() => undefined);
    this.#pending += 1;
    this.#holdProcess();
    try {
      return await operation();
    } catch (error) {
      throw this.#backendError(error as Error);
    } finally {
      this.#pending -= 1;
      this.#holdProcess();
    }
  }

  /**
   * Refs the socket while operations are in flight and unrefs it otherwise,
   * so that only a connection with work to do keeps Node running. A socket
   * still connecting is left alone: Node would queue one 'connect' listener
   * per call (the listener leak of an outage); the 'connect' event sets it.
   */
  #holdProcess(): void {
    const socket = this.#redis.stream as { pending?: boolean; ref?: () => void; unref?: () => void } | undefined;
    if (socket === undefined || socket.pending !== false) return;
    if (this.#pending > 0) socket.ref?.();
    else socket.unref?.();
  }

  #backendError(error: Error): MemostrataError {
    if (error instanceof MemostrataError) return error;
    const status = this.#redis.status;
    if (status !== 'ready' || isConnectionError(error)) {
      const reason = this.#lastError.current === undefined ? error.message : `${error.message}; ${this.#lastError.current.message}`;
      const message = `The Redis server at ${this.url} is unreachable (connection ${status}: ${reason}). Check that it is running; operations fail until it is back, and the backend reconnects by itself.`;
      return new MemostrataError('BACKEND', message, { cause: new BackendUnreachableError(message, { cause: error }) });
    }
    return new MemostrataError('BACKEND', `Redis at ${this.url} (prefix ${this.prefix}) failed: ${error.message}`, { cause: error });
  }
}

const PUT = Buffer.from('p');
const EMPTY = Buffer.alloc(0);
/** Bytes of RESP framing around one argument (`$<length>\r\n…\r\n`), rounded up. */
const ARGUMENT_FRAMING = 16;
const DEL = Buffer.from('d');
/** The batch script's condition arguments (see redis-scripts.ts): none, "the key holds nothing", "the key holds these bytes". */
const NO_CONDITION: readonly Buffer[] = [Buffer.from('-'), EMPTY, EMPTY];
const EXPECT_ABSENT = Buffer.from('0');
const EXPECT_EQUAL = Buffer.from('1');
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

/**
 * The write limits: the options', lowered to the server's `proto-max-bulk-len`
 * and `client-query-buffer-limit` when the server lets us read them (CONFIG
 * is often disabled on managed servers; then the options stand).
 */
async function serverLimits(redis: Redis, options: ResolvedRedisOptions): Promise<RedisWriteLimits> {
  const read = async (name: string): Promise<number> => {
    try {
      const reply = (await redis.config('GET', name)) as unknown;
      const value = Array.isArray(reply) ? Number(reply[1]) : Number.NaN;
      return Number.isSafeInteger(value) && value > 0 ? value : Infinity;
    } catch {
      return Infinity;
    }
  };
  const [bulk, query] = await Promise.all([read('proto-max-bulk-len'), read('client-query-buffer-limit')]);
  return { maxValueBytes: Math.min(options.maxValueBytes, bulk), maxBatchBytes: Math.min(options.maxBatchBytes, query) };
}

/** A key for a message: quoted text when it is printable ASCII, hex otherwise; long keys are cut. */
function describeKey(key: Uint8Array): string {
  const shown = key.subarray(0, 64);
  const more = key.length > shown.length ? `… (${key.length} bytes)` : '';
  const printable = shown.every((byte) => byte >= 0x20 && byte < 0x7f);
  return printable ? `'${Buffer.from(shown).toString('latin1')}'${more}` : `0x${Buffer.from(shown).toString('hex')}${more}`;
}

function mebibytes(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB (${bytes} bytes)`;
}
