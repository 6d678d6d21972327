import { Cluster } from 'ioredis';
import { FileBlobStore } from './file-blob-store.js';
import { Database, type BatchCondition, type BatchOperation, type Manifest } from '../contract/database.js';
import type { NormalizedRange } from '../contract/range.js';
import { MemostrataError } from '../errors.js';
import { formatKey } from '../layers/keys.js';
import { BackendLimitError, BackendUnreachableError } from './backend-errors.js';
import { assertBytes, copyBytes } from './bytes.js';
import { ARGUMENT_FRAMING, operationBytes, splitIntoChunks, type ChunkLimits } from './redis-chunks.js';
import { aclError, clientSockets, connectError, createClient, createSubscriber, isConnectionError, type Argument, type Client, type ConnectionState } from './redis-connection.js';
import { RedisKeyspace, slotTag } from './redis-keyspace.js';
import { ChangeNotifier } from './redis-notifier.js';
import { resolveRedisOptions, type RedisBackendOptions, type ResolvedRedisOptions } from './redis-options.js';

export { DEFAULT_REDIS_PREFIX, DEFAULT_REDIS_URL, type RedisBackendOptions, type RedisTlsOptions } from './redis-options.js';

/*
 * ioredis hands out reply Buffers that are views into its socket chunks: every
 * key and value is copied before it leaves this backend, so that no caller
 * keeps a whole chunk alive or sees bytes another reply reuses.
 */

/** The size limits a write is checked against before it is sent. */
export interface RedisWriteLimits {
  /** Largest key or value, in bytes. */
  readonly maxValueBytes: number;
  /** Largest command (a chunk of a batch, or the atomic step of a conditional one), in bytes, framing included. */
  readonly maxBatchBytes: number;
}

/** An operation with its bytes copied, as it is sent. */
type Operation = BatchOperation<Buffer, Buffer>;
/** A condition as the scripts take it: kind (`0` absent, `1` equal), key, expected bytes. */
interface Condition {
  kind: Buffer;
  key: Buffer;
  expected: Buffer;
}

/**
 * A backend on a Redis server or a Redis Cluster (through ioredis), shared
 * by every process and machine that opens it with the same URL and prefix.
 *
 * **Layout.** One Redis key per entry, `<prefix>{<tag>}<key>`: the tag is a
 * hash of the key's co-location part (`colocationPart` in
 * src/layers/keys.ts), so the keys of one call share a cluster slot. An
 * ordered index, the sorted set `<prefix>index{…}` (score 0: `ZRANGEBYLEX`
 * orders by unsigned bytes, as LevelDB does), lists every key for
 * iteration; it shares the format record's slot.
 *
 * **Batches** are sent in chunks ({@link RedisBackendOptions.chunkOperations},
 * `chunkBytes`), in order, each acknowledged before the next is sent, so
 * that no command keeps the server busy for long: the manifest says
 * `atomicBatches: false`. A batch that fits in one chunk is atomic on a
 * single server (one script, index included). On a cluster a chunk is one
 * atomic script per slot, sent together; a crash can leave the chunks before
 * it and part of the chunk in flight. A caller that needs one write to land
 * before another (values before the records naming them) puts them in
 * separate batches, or in chunks of their own.
 *
 * **Conditional batches** ({@link Database.batchIf}): the test and every
 * operation in the condition key's slot are one atomic script, which
 * publishes the key (see {@link RedisBackend.changed}). Content-addressed
 * values (`v!…`) in other slots may be written first, unconditionally (on a
 * single server only when the batch does not fit in one chunk); on a
 * cluster, other operations in other slots are written after it, only if it
 * applied.
 *
 * **The index on a cluster** lives in one slot, apart from the entries, so
 * it is kept around each write rather than in it: a key joins the index
 * before its entry is written and leaves it after its entry is deleted, and
 * each side checks the other afterwards (a writer re-adds a member that a
 * concurrent removal took; a remover re-adds a member whose entry exists
 * again). The index therefore always lists every entry; a crash between the
 * two steps can only leave a member without an entry, which listing skips
 * and removes. On a single server the index is written in the same script
 * as the entries and is exact.
 *
 * Redis has no snapshots: an iteration reads pages of
 * {@link RedisBackendOptions.pageSize} index members, then their values;
 * every key present throughout is returned exactly once, in order, and a
 * key deleted meanwhile is skipped, so the manifest says `snapshots: false`.
 *
 * Durability is the server's: a write is done once the server applied it, and
 * `{ sync: true }` adds nothing. What survives a server crash depends on its
 * persistence settings. A server that restarts empty is written to as a new
 * store: every write that finds the index absent writes the format record
 * first (in the same script on a single server; just before the chunk on a
 * cluster).
 *
 * While the server cannot be reached or does not answer, operations reject
 * with `BACKEND` (the cause a {@link BackendUnreachableError}) at once or
 * after `commandTimeoutMs`, never later; the backend reconnects by itself
 * (see {@link RedisBackendOptions.reconnectForMs}), and an idle connection
 * does not keep the process alive. `close()` takes at most `closeTimeoutMs`.
 *
 * Many processes share one store on purpose, so there is no `LOCKED`. A
 * store in the two-key layout of older memostrata versions is refused with
 * `FORMAT_VERSION`.
 */
export class RedisBackend extends Database<Uint8Array, Uint8Array> {
  readonly manifest: Manifest = { persistent: true, snapshots: false, shared: true, atomicBatches: false };

  /** The server URL, with any password masked: safe to print. */
  readonly url: string;
  /** The keyspace prefix. */
  readonly prefix: string;
  /** Whether the URL names a Redis Cluster. */
  readonly cluster: boolean;
  /** What a write may send: the options' limits, lowered to the server's own where it lets us read them. */
  readonly limits: RedisWriteLimits;
  /** How a batch is cut into chunks (`chunkBytes` never above `maxBatchBytes`). */
  readonly chunkLimits: ChunkLimits;
  readonly #client: Client;
  readonly #options: ResolvedRedisOptions;
  readonly #blobs: FileBlobStore | undefined;
  readonly #space: RedisKeyspace;
  readonly #state: ConnectionState;
  readonly #notifier: ChangeNotifier;
  /** The format record every write puts first if it finds the index absent (see {@link RedisBackend.initializeFormat}). */
  #formatRecord: [Buffer, Buffer] = [EMPTY, EMPTY];
  #formatEntry: Buffer;
  /** Operations waiting for the server; the sockets hold the process open only while there are some. */
  #pending = 0;
  #closed = false;

  private constructor(client: Client, options: ResolvedRedisOptions, limits: RedisWriteLimits, state: ConnectionState) {
    super();
    this.#client = client;
    this.#options = options;
    this.#blobs = options.blobDir === undefined ? undefined : new FileBlobStore(options.blobDir);
    this.url = options.shownUrl;
    this.prefix = options.prefix;
    this.cluster = client instanceof Cluster;
    this.limits = limits;
    this.chunkLimits = { operations: options.chunkOperations, bytes: Math.min(options.chunkBytes, limits.maxBatchBytes) };
    this.#space = new RedisKeyspace(options.prefix);
    this.#formatEntry = this.#space.entryKey(formatKey);
    this.#state = state;
    const node = client instanceof Cluster ? (client.nodes('master')[0]?.options ?? options.endpoint) : options.endpoint;
    const subscribeTo = { ...options.endpoint, host: node.host ?? options.endpoint.host, port: node.port ?? options.endpoint.port };
    this.#notifier = new ChangeNotifier(() => createSubscriber(options, subscribeTo), this.#space.channel);
    // An idle connection must not keep the process alive: a program that ends
    // without close() still reaches 'beforeExit', where the Cache flushes.
    // Each reconnect makes a new socket, ref'd by default: set it once it is connected.
    client.on('connect', () => this.#holdProcess());
    client.on('ready', () => this.#holdProcess());
    if (client instanceof Cluster) client.on('+node', (node: { on(event: string, listener: () => void): void }) => node.on('ready', () => this.#holdProcess()));
    this.#holdProcess();
  }
  /** Large values as files in `blobDir`, when it is set; else `undefined` (chunks in Redis). */
  override get blobs(): FileBlobStore | undefined {
    return this.#blobs;
  }


  /**
   * Connects to the server or cluster and checks that the keys under
   * `prefix` are a memostrata keyspace of this layout (or free). Fails fast:
   * an unreachable server is reported after one attempt, and opening never
   * takes longer than `connectTimeoutMs`.
   *
   * @throws MemostrataError `BACKEND` when the server cannot be reached or
   *   does not answer; `NOT_A_STORE` when the keys under the prefix hold other
   *   data; `FORMAT_VERSION` for a store in the older two-key layout;
   *   `CONFIG` for a malformed option, a URL the server refuses
   *   (credentials) or a database it does not have.
   */
  static async open(options: RedisBackendOptions = {}): Promise<RedisBackend> {
    const resolved = resolveRedisOptions(options, 'RedisBackend option ');
    const { endpoint, connectTimeoutMs } = resolved;
    const state: ConnectionState = { lastError: undefined };
    const client = createClient(resolved, state);

    const opening = (async () => {
      try {
        await client.connect();
        // ioredis only reports a failed SELECT of the URL's database as an event: ask again, so that it fails here.
        if (endpoint.db !== 0 && !(client instanceof Cluster)) await client.select(endpoint.db);
      } catch (error) {
        throw connectError(resolved.shownUrl, state.lastError ?? (error as Error));
      }
      const limits = await serverLimits(client, resolved);
      const backend = new RedisBackend(client, resolved, limits, state);
      await backend.#checkKeyspace();
      return backend;
    })();
    // One deadline for connecting, the handshake and the checks: a server that
    // accepts the connection but never answers must not stall the open.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const reason = new Error(`no answer within connectTimeoutMs (${connectTimeoutMs} ms)`);
        reject(connectError(resolved.shownUrl, reason));
      }, connectTimeoutMs);
    });
    try {
      return await Promise.race([opening, deadline]);
    } catch (error) {
      opening.catch(() => undefined);
      client.disconnect();
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Claims an empty keyspace for a store in one atomic step: when the index
   * is absent (nothing stored under the prefix), writes `value` at `key`.
   * Returns what is stored at `key` afterwards (`undefined` when the
   * keyspace holds other keys but not this one). From then on, every write
   * that finds the index absent (the server restarted without its data)
   * writes this record first. `key` must be the format key (`meta!format`),
   * whose slot the index shares.
   */
  async initializeFormat(key: Uint8Array, value: Uint8Array): Promise<Uint8Array | undefined> {
    this.assertOpen();
    this.checkKey(key);
    this.checkValue(value);
    if (Buffer.compare(key, formatKey) !== 0) throw new MemostrataError('INVALID_ARGUMENT', 'RedisBackend.initializeFormat() takes the format key, meta!format.');
    const record: [Buffer, Buffer] = [Buffer.from(key), Buffer.from(value)];
    const stored = await this.#call(() => this.#client.memostrataInitializeFormatBuffer(this.#space.indexKey, this.#formatEntry, ...record));
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
    const value = await this.#call(() => this.#client.getBuffer(this.#space.entryKey(key)));
    return value === null ? undefined : copyBytes(value);
  }

  protected async _getMany(keys: readonly Uint8Array[]): Promise<(Uint8Array | undefined)[]> {
    if (keys.length === 0) return [];
    const values = await this.#call(() => this.#readValues(keys));
    return values.map((value) => (value === null ? undefined : copyBytes(value)));
  }

  protected async _has(key: Uint8Array): Promise<boolean> {
    return (await this.#call(() => this.#client.exists(this.#space.entryKey(key)))) === 1;
  }

  protected async _put(key: Uint8Array, value: Uint8Array): Promise<void> {
    await this._batch([{ type: 'put', key, value }]);
  }

  protected async _delete(key: Uint8Array): Promise<void> {
    await this._batch([{ type: 'del', key }]);
  }

  protected async _batch(operations: readonly BatchOperation<Uint8Array, Uint8Array>[]): Promise<void> {
    const copied = copyOperations(operations);
    this.#checkSizes(copied, undefined);
    await this.#writeBatch(copied);
  }

  protected async _batchIf(condition: BatchCondition<Uint8Array, Uint8Array>, operations: readonly BatchOperation<Uint8Array, Uint8Array>[]): Promise<boolean> {
    const copied = copyOperations(operations);
    const tested: Condition =
      condition.value === undefined
        ? { kind: EXPECT_ABSENT, key: Buffer.from(condition.key), expected: EMPTY }
        : { kind: EXPECT_EQUAL, key: Buffer.from(condition.key), expected: Buffer.from(condition.value) };
    const tag = slotTag(tested.key);
    const fitsOneChunk = splitIntoChunks(copied, this.chunkLimits, this.#space.prefix.length).length <= 1;
    // Values are content-addressed (the same bytes whoever writes them): written first, a record the step writes never names a missing one.
    const early = fitsOneChunk && !this.cluster ? [] : copied.filter((op) => op.type === 'put' && isValueKey(op.key) && slotTag(op.key) !== tag);
    const rest = copied.filter((op) => !early.includes(op));
    const step = this.cluster ? rest.filter((op) => slotTag(op.key) === tag) : rest;
    const after = this.cluster ? rest.filter((op) => slotTag(op.key) !== tag) : [];
    this.#checkSizes(copied, step);
    if (early.length > 0) await this.#writeBatch(early);
    if (!this.cluster) return (await this.#call(() => this.#client.memostrataServerChunk(...this.#serverChunkArgs(tested, step)))) === 1;
    const { added, removed } = finalMembers(step);
    await this.#call(() => this.#index('a', added));
    const applied = (await this.#call(() => this.#applyGroup(tested, step))) === 1;
    if (!applied) {
      await this.#call(() => this.#unindex(added));
      return false;
    }
    await this.#call(() => this.#settleIndex(added, removed));
    if (after.length > 0) await this.#writeBatch(after);
    return true;
  }

  /**
   * Resolves once another process's (or this one's) conditional write
   * ({@link Database.batchIf}) that changed `key` is published, once the
   * subscription becomes live (a publish may have been missed before), or
   * after `timeoutMs`. The subscription is one connection per backend,
   * opened on the first call.
   */
  protected _changed(key: Uint8Array, timeoutMs: number): Promise<void> {
    return this.#notifier.wait(key, timeoutMs);
  }

  /** Applies `operations` in chunks, in order, each acknowledged before the next is sent. */
  async #writeBatch(operations: readonly Operation[]): Promise<void> {
    for (const chunk of splitIntoChunks(operations, this.chunkLimits, this.#space.prefix.length) as Operation[][]) {
      if (!this.cluster) await this.#call(() => this.#client.memostrataServerChunk(...this.#serverChunkArgs(undefined, chunk)));
      else await this.#call(() => this.#clusterChunk(chunk));
    }
  }

  /** The arguments of the single-server chunk script (see redis-scripts.ts). */
  #serverChunkArgs(condition: Condition | undefined, operations: readonly Operation[]): Argument[] {
    const space = this.#space;
    const keys: Buffer[] = [space.indexKey, this.#formatEntry, condition === undefined ? space.indexKey : space.entryKey(condition.key)];
    const args: Buffer[] = [...this.#formatRecord, condition?.kind ?? NO_CONDITION, condition?.expected ?? EMPTY, condition?.key ?? EMPTY, space.channel];
    for (const op of operations) {
      keys.push(space.entryKey(op.key));
      if (op.type === 'put') args.push(PUT, op.key, op.value);
      else args.push(DEL, op.key);
    }
    return [keys.length, ...keys, ...args];
  }

  /** One chunk on a cluster: index members first, then one script (or command) per slot, then the index checked. */
  async #clusterChunk(chunk: readonly Operation[]): Promise<void> {
    const { added, removed } = finalMembers(chunk);
    await this.#index('a', added);
    const groups = new Map<string, Operation[]>();
    for (const op of chunk) {
      const tag = slotTag(op.key);
      const group = groups.get(tag);
      if (group === undefined) groups.set(tag, [op]);
      else group.push(op);
    }
    await Promise.all([...groups.values()].map((group) => this.#applyGroup(undefined, group)));
    await this.#settleIndex(added, removed);
  }

  /** Operations of one slot, with or without a condition in that slot. Returns 1 when applied. */
  async #applyGroup(condition: Condition | undefined, group: readonly Operation[]): Promise<number> {
    const space = this.#space;
    if (condition === undefined && group.length === 1) {
      const op = group[0]!;
      if (op.type === 'put') await this.#client.set(space.entryKey(op.key), op.value);
      else await this.#client.del(space.entryKey(op.key));
      return 1;
    }
    const keys: Buffer[] = [space.entryKey(condition?.key ?? group[0]!.key)];
    const args: Buffer[] = [condition?.kind ?? NO_CONDITION, condition?.expected ?? EMPTY, space.channel, condition?.key ?? EMPTY];
    for (const op of group) {
      keys.push(space.entryKey(op.key));
      if (op.type === 'put') args.push(PUT, op.value);
      else args.push(DEL);
    }
    return this.#client.memostrataSlot(keys.length, ...keys, ...args);
  }

  /** Adds (`a`) or removes (`r`) index members, writing the format record first if the index is absent. */
  async #index(mode: 'a' | 'r', keys: readonly Buffer[]): Promise<void> {
    if (keys.length === 0 && (mode === 'r' || this.#formatRecord[1].length === 0)) return;
    await this.#client.memostrataIndex(this.#space.indexKey, this.#formatEntry, ...this.#formatRecord, mode, ...keys);
  }

  /**
   * After a cluster write: a member a concurrent removal took while our entry
   * was being written is added back; members of deleted keys are removed.
   */
  async #settleIndex(added: readonly Buffer[], removed: readonly Buffer[]): Promise<void> {
    if (added.length > 0) {
      const scores = await this.#client.zmscore(this.#space.indexKey, ...added);
      await this.#index('a', added.filter((_, i) => scores[i] === null));
    }
    await this.#unindex(removed);
  }

  /** Removes index members, then adds back those whose entry exists again (a concurrent write of the same key). */
  async #unindex(keys: readonly Buffer[]): Promise<void> {
    if (keys.length === 0) return;
    await this.#index('r', keys);
    const present = await Promise.all(keys.map((key) => this.#client.exists(this.#space.entryKey(key))));
    await this.#index('a', keys.filter((_, i) => present[i] === 1));
  }

  /** The values at `keys` (`null` where absent): one MGET on a server, one GET per key (pipelined per node) on a cluster. */
  #readValues(keys: readonly Uint8Array[]): Promise<(Buffer | null)[]> {
    const entries = keys.map((key) => this.#space.entryKey(key));
    if (!this.cluster) return this.#client.mgetBuffer(...entries);
    return Promise.all(entries.map((entry) => this.#client.getBuffer(entry)));
  }

  protected async *_entries(range: NormalizedRange<Uint8Array>): AsyncGenerator<[Uint8Array, Uint8Array]> {
    let remaining = range.limit;
    for await (const members of this.#pages(range, () => remaining)) {
      const values = await this.#call(() => this.#readValues(members));
      const stale: Buffer[] = [];
      const page: [Uint8Array, Uint8Array][] = [];
      members.forEach((key, i) => {
        const value = values[i];
        if (value === null || value === undefined) stale.push(key);
        else page.push([copyBytes(key), copyBytes(value)]);
      });
      if (this.cluster && stale.length > 0) await this.#call(() => this.#unindex(stale));
      for (const entry of page) {
        if (remaining <= 0) return;
        remaining -= 1;
        yield entry;
      }
    }
  }

  protected async *_keys(range: NormalizedRange<Uint8Array>): AsyncGenerator<Uint8Array> {
    let remaining = range.limit;
    for await (const members of this.#pages(range, () => remaining)) {
      let present: readonly number[] | undefined;
      // The index is exact on a single server (written by the same scripts as the entries); on a cluster it may list more.
      if (this.cluster) {
        present = await this.#call(() => Promise.all(members.map((key) => this.#client.exists(this.#space.entryKey(key)))));
        const stale = members.filter((_, i) => present![i] !== 1);
        if (stale.length > 0) await this.#call(() => this.#unindex(stale));
      }
      for (const [i, key] of members.entries()) {
        if (present !== undefined && present[i] !== 1) continue;
        if (remaining <= 0) return;
        remaining -= 1;
        yield copyBytes(key);
      }
    }
  }

  /**
   * Pages of index members in `range`, each at most `wanted()` long (what
   * the caller still has to yield: it skips members whose entry is gone, so
   * the limit is counted in what it yields, not in members).
   */
  async *#pages(range: NormalizedRange<Uint8Array>, wanted: () => number): AsyncGenerator<Buffer[]> {
    let bounds = lexBounds(range);
    const index = this.#space.indexKey;
    while (wanted() > 0) {
      const count = Math.min(this.#options.pageSize, wanted());
      const page = await this.#call(() =>
        range.reverse
          ? this.#client.zrevrangebylexBuffer(index, bounds.max, bounds.min, 'LIMIT', 0, count)
          : this.#client.zrangebylexBuffer(index, bounds.min, bounds.max, 'LIMIT', 0, count),
      );
      if (page.length > 0) yield page;
      if (page.length < count) return;
      bounds = after(bounds, page[page.length - 1]!, range.reverse);
    }
  }

  protected async _close(): Promise<void> {
    this.#closed = true;
    this.#notifier.close();
    if (this.#client.status === 'ready') {
      // A polite QUIT, but never waiting on a server that stopped answering.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const goodbye = this.#call(() => this.#client.quit()).catch(() => undefined);
      await Promise.race([goodbye, new Promise<void>((resolve) => (timer = setTimeout(resolve, this.#options.closeTimeoutMs)))]);
      clearTimeout(timer);
    }
    this.#client.disconnect();
  }

  async #checkKeyspace(): Promise<void> {
    const [values, keys] = this.#space.legacyKeys;
    const [valuesType, keysType, indexType] = await this.#call(() =>
      Promise.all([this.#client.type(values), this.#client.type(keys), this.#client.type(this.#space.indexKey)]),
    );
    if (valuesType === 'hash' || keysType === 'zset') {
      throw new MemostrataError(
        'FORMAT_VERSION',
        `The Redis store at ${this.url} (prefix ${this.prefix}) is in the two-key layout of older memostrata versions (the hash ${values} and the sorted set ${keys}); ` +
          'this memostrata keeps one Redis key per entry (so that Redis Cluster works). Convert it: with the older memostrata, ' +
          '`memostrata export store.cbor --config <its config>`; then with this one, into a new prefix (or this one once emptied), `memostrata import store.cbor --config <config>`.',
      );
    }
    if (valuesType !== 'none' || keysType !== 'none' || (indexType !== 'zset' && indexType !== 'none')) {
      throw new MemostrataError(
        'NOT_A_STORE',
        `The Redis keys under ${this.prefix} at ${this.url} hold other data (${values}: ${valuesType}, ${keys}: ${keysType}, ${this.#space.indexKey.toString('latin1')}: ${indexType}), not a memostrata store; choose another prefix.`,
      );
    }
  }

  /**
   * Refuses, before sending anything, a write the server would answer by
   * dropping the connection: a key or value over `maxValueBytes`, a single
   * operation or the atomic `step` of a conditional write over `maxBatchBytes`.
   */
  #checkSizes(operations: readonly Operation[], step: readonly Operation[] | undefined): void {
    const { maxValueBytes, maxBatchBytes } = this.limits;
    const prefixBytes = this.#space.prefix.length;
    const framing = ARGUMENT_FRAMING * 12 + this.#formatRecord[0].length + this.#formatRecord[1].length + this.#space.indexKey.length * 2;
    for (const op of operations) {
      const largest = op.type === 'put' ? (op.key.length > op.value.length ? op.key : op.value) : op.key;
      if (largest.length > maxValueBytes) {
        const what = largest === op.key ? 'key' : 'value';
        throw this.#limitError(
          `The ${what} at key ${describeKey(op.key)} is ${mebibytes(largest.length)}, over the Redis backend's limit of ${mebibytes(maxValueBytes)} per key or value (maxValueBytes, or the server's proto-max-bulk-len). It was not sent and nothing of this write was stored. Store a smaller result, or raise proto-max-bulk-len on the server and maxValueBytes.`,
          { key: new Uint8Array(op.key), size: largest.length, limit: maxValueBytes },
        );
      }
      const size = framing + operationBytes(op, prefixBytes);
      if (size > maxBatchBytes) {
        throw this.#limitError(
          `The write at key ${describeKey(op.key)} is ${mebibytes(size)}, over the Redis backend's limit of ${mebibytes(maxBatchBytes)} per command (maxBatchBytes, or the server's client-query-buffer-limit). It was not sent and nothing of this write was stored. Raise client-query-buffer-limit on the server and maxBatchBytes.`,
          { key: new Uint8Array(op.key), size, limit: maxBatchBytes },
        );
      }
    }
    if (step === undefined) return;
    const total = step.reduce((sum, op) => sum + operationBytes(op, prefixBytes), framing);
    if (total > maxBatchBytes) {
      throw this.#limitError(
        `The atomic step of a conditional write (${step.length} operations) is ${mebibytes(total)}, over the Redis backend's limit of ${mebibytes(maxBatchBytes)} per command (maxBatchBytes, or the server's client-query-buffer-limit). It was not sent and nothing of it was stored. Write less under one condition, or raise client-query-buffer-limit on the server and maxBatchBytes.`,
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
    if (this.#client.status === 'end' && !this.#closed) this.#client.connect().catch(() => undefined);
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
   * Refs the sockets while operations are in flight and unrefs them otherwise,
   * so that only a connection with work to do keeps Node running. A socket
   * still connecting is left alone: Node would queue one 'connect' listener
   * per call (the listener leak of an outage); the 'connect' event sets it.
   */
  #holdProcess(): void {
    for (const socket of clientSockets(this.#client)) {
      if (socket.pending !== false) continue;
      if (this.#pending > 0) socket.ref?.();
      else socket.unref?.();
    }
  }

  #backendError(error: Error): MemostrataError {
    if (error instanceof MemostrataError) return error;
    const status = this.#client.status;
    if (status !== 'ready' || isConnectionError(error)) {
      const last = this.#state.lastError;
      const reason = last === undefined ? error.message : `${error.message}; ${last.message}`;
      const message = `The Redis server at ${this.url} is unreachable (connection ${status}: ${reason}). Check that it is running; operations fail until it is back, and the backend reconnects by itself.`;
      return new MemostrataError('BACKEND', message, { cause: new BackendUnreachableError(message, { cause: error }) });
    }
    if (/NOPERM/.test(error.message)) return aclError(this.url, this.prefix, error);
    return new MemostrataError('BACKEND', `Redis at ${this.url} (prefix ${this.prefix}) failed: ${error.message}`, { cause: error });
  }
}

const PUT = Buffer.from('p');
const DEL = Buffer.from('d');
const EMPTY = Buffer.alloc(0);
const NO_CONDITION = Buffer.from('-');
const EXPECT_ABSENT = Buffer.from('0');
const EXPECT_EQUAL = Buffer.from('1');
const MIN = Buffer.from('-');
const MAX = Buffer.from('+');
const VALUE_PREFIX = Buffer.from('v!');

/** Copies: the caller may change its buffers while a later chunk waits to be sent. */
function copyOperations(operations: readonly BatchOperation<Uint8Array, Uint8Array>[]): Operation[] {
  return operations.map((op) => (op.type === 'put' ? { type: 'put', key: Buffer.from(op.key), value: Buffer.from(op.value) } : { type: 'del', key: Buffer.from(op.key) }));
}

function isValueKey(key: Buffer): boolean {
  return key.length > 2 && key[0] === VALUE_PREFIX[0] && key[1] === VALUE_PREFIX[1];
}

/** The keys whose last operation in `operations` is a put (index members to add) or a delete (to remove). */
function finalMembers(operations: readonly Operation[]): { added: Buffer[]; removed: Buffer[] } {
  const last = new Map<string, Operation>();
  for (const op of operations) {
    const id = op.key.toString('latin1');
    // Re-inserted, so that the order is that of the last operations.
    last.delete(id);
    last.set(id, op);
  }
  const added: Buffer[] = [];
  const removed: Buffer[] = [];
  for (const op of last.values()) (op.type === 'put' ? added : removed).push(op.key);
  return { added, removed };
}

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

/**
 * The write limits: the options', lowered to the server's `proto-max-bulk-len`
 * and `client-query-buffer-limit` when the server lets us read them (CONFIG
 * is often disabled on managed servers; then the options stand).
 */
async function serverLimits(client: Client, options: ResolvedRedisOptions): Promise<RedisWriteLimits> {
  const read = async (name: string): Promise<number> => {
    try {
      const reply = (await client.config('GET', name)) as unknown;
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
