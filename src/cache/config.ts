import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { LevelBackendOptions } from '../backends/level-backend.js';
import type { LmdbBackendOptions } from '../backends/lmdb-backend.js';
import { REDIS_OPTION_NAMES, REDIS_TLS_OPTION_NAMES, checkRedisOptions, type RedisBackendOptions } from '../backends/redis-options.js';
import { MemostrataError } from '../errors.js';
import { resolveLayers, type LayerConfig } from '../layers/bytes/layer-config.js';
import { TypeRegistry } from '../layers/type-registry.js';
import { closestName } from './closest-name.js';
import { resolveMaxAge } from './expiry.js';

/**
 * The embedded LevelDB store (the default). The other options are those of
 * {@link LevelBackendOptions}, with the same defaults.
 *
 * @category Configuration
 */
export interface LevelBackendConfig extends LevelBackendOptions {
  /** The embedded LevelDB backend. */
  type: 'level';
  /**
   * Store directory.
   *
   * @default the top-level `path`, else './.memostrata'
   */
  path?: string;
}

/**
 * An embedded LMDB store that many processes on one machine open, read and
 * write at the same time (a job array, a worker pool, MPI ranks on one node):
 * none gets `LOCKED`. The other options are those of
 * {@link LmdbBackendOptions}, with the same defaults. Two processes that
 * miss the same call at the same time compute it once: see
 * {@link CacheOptions.lease}.
 *
 * @category Configuration
 */
export interface LmdbBackendConfig extends LmdbBackendOptions {
  /** The embedded LMDB backend. */
  type: 'lmdb';
  /**
   * Store directory (made if missing); this or the top-level `path` is required.
   *
   * @default the top-level `path`
   */
  path?: string;
}

/**
 * A store in process memory, gone when the process ends: for tests.
 *
 * @category Configuration
 */
export interface MemoryBackendConfig {
  /** The in-memory backend. */
  type: 'memory';
}

/**
 * A store on a Redis server, shared by every process and machine configured
 * with the same `url` and `prefix`. Durability is the server's persistence
 * setting; there is no `LOCKED`, since sharing is the point. The other
 * options (timeouts, write limits) are those of {@link RedisBackendOptions},
 * with the same defaults.
 *
 * @category Configuration
 */
export interface RedisBackendConfig extends RedisBackendOptions {
  /** A Redis server. */
  type: 'redis';
}

/**
 * Which backend holds the store.
 *
 * @category Configuration
 */
export type BackendConfig = LevelBackendConfig | LmdbBackendConfig | MemoryBackendConfig | RedisBackendConfig;

/**
 * When a module's new results are written to the store.
 *
 * - `{ everyMs }`: every so many milliseconds, in the background (the default,
 *   `{ everyMs: 1000 }`), and on `close()`, `checkpoint()`, SIGINT, SIGTERM
 *   and normal exit; once due, also on the next call, so a loop that never
 *   lets a timer fire still flushes. A process killed without warning loses
 *   about one interval at most.
 * - `'write-through'`: durable (fsync) before the memoized call returns. If
 *   the store fails, the call still returns its result, which stays in memory
 *   and is retried (warning `MEMOSTRATA_FLUSH_FAILED`).
 * - `'manual'`: only on `checkpoint()` or `close()` (and SIGINT, SIGTERM, normal exit).
 *
 * With every policy, results held beyond `memoryBudget` that are not stored
 * yet force a flush, and a failed flush is retried with backoff.
 *
 * @category Configuration
 */
export type FlushPolicy =
  | {
      /** Milliseconds between background flushes: 1 to 2^31-1 (Node's longest timer; use `'manual'` for never). */
      everyMs: number;
    }
  | 'write-through'
  | 'manual';

/**
 * Options of {@link openCache}; every field is optional.
 *
 * @category Configuration
 */
export interface CacheOptions {
  /** LevelDB store directory; shorthand for `backend: { type: 'level', path }`. Default `./.memostrata`. */
  path?: string;
  /** The backend; takes precedence over `path`. */
  backend?: BackendConfig;
  /**
   * A JSON file holding these options (all but `types` and `configFile`).
   * Relative paths in it are relative to the file. Options given directly win
   * (a `path` or `backend` given directly replaces both of the file's).
   * Default: the file named by `MEMOSTRATA_CONFIG`, if set.
   */
  configFile?: string;
  /** Default flush policy of modules that do not set their own. Default `{ everyMs: 1000 }`. */
  flush?: FlushPolicy;
  /**
   * Bytes of entries each module keeps in memory: each entry counts its
   * result's approximate encoded size plus about 700 bytes for its record
   * and bookkeeping (`ENTRY_BYTES`), so a budget bounds many small results
   * too. Beyond it the least recently used stored entries are dropped from
   * memory and read back from the store when needed. The process holds more
   * than this: entries not yet checkpointed, the store's own caches, and
   * what a checkpoint stages.
   *
   * @default Infinity (unlimited)
   */
  memoryBudget?: number;
  /**
   * Checkpoint and close on SIGINT, SIGTERM and normal exit. Default `true`.
   * With `false`, call `close()` yourself.
   */
  handleExit?: boolean;
  /**
   * How long `close()` keeps retrying to write pending results to a store
   * that fails to answer (a Redis server restarting), in ms; then it rejects
   * with `BACKEND` saying how many results were not written. Default `3000`.
   */
  closeRetryMs?: number;
  /**
   * Leases, on a store that processes share (LMDB, Redis): a process that
   * misses a call claims it first, and any other process that calls it
   * meanwhile waits for its result instead of computing it too. `false`
   * turns them off for the whole cache (`memoize(…, { lease: false })` for
   * one module). On memory and LevelDB stores, which one process holds,
   * there are none and they cost nothing.
   *
   * @default { ttlMs: 30000 }
   */
  lease?: LeaseOptions | false;
  /** Registered user types. Default: the process-wide registry that `registerType` fills. */
  types?: TypeRegistry;
  /**
   * Print one line on stderr per miss: the module, and what differs from the
   * nearest stored call of the module (an argument position, the version,
   * the code, a dependency, or expiry; see `Memoized.explain`). A miss then
   * reads up to `EXPLAIN_SCAN_LIMIT` records of its module before computing;
   * when off, misses do no such work. `MEMOSTRATA_EXPLAIN=1` (or `0`) sets it
   * when it is not given here.
   *
   * @default false
   */
  explainMisses?: boolean;
  /**
   * Entries stored longer ago than this many milliseconds (by their
   * `createdAt`) are misses: recomputed and replaced. Also for entries held
   * in memory. A module's own `maxAge` (`memoize`) wins.
   * `memostrata prune --expired` removes them from the store.
   *
   * @default undefined (entries never expire)
   */
  maxAge?: number;
  /**
   * Keep the store's size under this many bytes, "size" being the sum of the
   * stored entries' result sizes (the `bytes` column of `ls` and `stats`,
   * kept in the store's module metadata so that checking it reads no
   * record). After each write of new entries the cache checks it and, when
   * over, evicts in the background and in bounded steps the entries worth
   * least per byte (compute time × (1 + hits) / bytes) until under it; the
   * values that other entries still use stay. Modules memoized with
   * `pin: true` are never evicted. The disk holds more than this (inputs,
   * records, the backend's own overhead): leave headroom.
   *
   * @default undefined (no limit)
   */
  maxBytes?: number;
  /**
   * Byte layers between the stored values and the backend: `encrypt`
   * (AES-256-GCM), `sign` (HMAC-SHA256 or Ed25519; a value whose signature
   * does not check is a miss), `audit` (a JSON-lines log of every write), or
   * a function `(below) => layer` of your own. Applied in order on write and
   * in reverse on read. Key files in a config file are relative to it.
   * Every process that opens the store needs the same layers (and keys).
   *
   * @default [] (values stored as the codec writes them)
   */
  layers?: LayerConfig[];
  /**
   * Values (results, arguments, saved states) whose stored form is larger
   * than this many bytes are kept as blobs: files beside an embedded store
   * (its `blobs` folder), files in a Redis store's `blobDir`, or else chunks
   * of at most 4 MiB in the store. Their typed arrays are written from and
   * read into their own memory, and `f.stored()` reads parts of them. Every
   * process may use its own value: readers take either form.
   *
   * @default 1048576 (1 MiB)
   */
  largeValueBytes?: number;
}

/**
 * How long a lease lives without a heartbeat. See {@link CacheOptions.lease}.
 *
 * @category Configuration
 */
export interface LeaseOptions {
  /**
   * A lease whose owner has not renewed it for this long (ms) is taken over
   * by one waiting process, which resumes from the call's last saved state.
   * The owner renews every third of it, from a timer: a synchronous stretch
   * of computation longer than this lets another process take the call over.
   *
   * @default 30000
   */
  ttlMs?: number;
}

/** The options after the config file, the environment and the defaults are applied. */
export interface ResolvedCacheOptions {
  backend: BackendConfig;
  flush: FlushPolicy;
  memoryBudget: number;
  handleExit: boolean;
  closeRetryMs: number;
  lease: { ttlMs: number } | false;
  types: TypeRegistry | undefined;
  explainMisses: boolean;
  maxAge: number | undefined;
  maxBytes: number | undefined;
  layers: LayerConfig[];
  largeValueBytes: number | undefined;
}

/**
 * The environment variable that turns `explainMisses` on (`1`, `true`) or off
 * (`0`, `false`) when `openCache` is not given it.
 *
 * @category Configuration
 */
export const EXPLAIN_ENV = 'MEMOSTRATA_EXPLAIN';

/**
 * The environment variable naming a JSON config file, read unless `configFile` is given; options given directly win over it.
 *
 * @category Configuration
 */
export const CONFIG_ENV = 'MEMOSTRATA_CONFIG';

/**
 * The default store directory.
 *
 * @category Configuration
 */
export const DEFAULT_PATH = '.memostrata';

const fileFields = new Set(['path', 'backend', 'flush', 'memoryBudget', 'handleExit', 'closeRetryMs', 'lease', 'explainMisses', 'maxAge', 'maxBytes', 'layers', 'largeValueBytes']);
const optionFields = new Set([...fileFields, 'configFile', 'types']);

/** The longest delay a Node.js timer takes; a longer one fires after 1 ms instead (with a `TimeoutOverflowWarning`). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Merges direct options, a config file (`configFile`, else `MEMOSTRATA_CONFIG`
 * if set) and the defaults, and checks every field.
 *
 * @throws MemostrataError `CONFIG` naming the field that is wrong (and the config file, when it is there).
 */
export function resolveCacheOptions(options: CacheOptions | undefined, env: Readonly<Record<string, string | undefined>> = process.env): ResolvedCacheOptions {
  if (options !== undefined && (options === null || typeof options !== 'object' || Array.isArray(options))) {
    throw new MemostrataError('CONFIG', 'openCache() takes an options object, such as { path: ".memostrata" }.');
  }
  const given = options ?? {};
  checkFields(given, optionFields, 'openCache()');
  const configFile = given.configFile ?? env[CONFIG_ENV];
  const fromFile = configFile === undefined ? {} : readConfigFile(configFile, given.configFile === undefined ? CONFIG_ENV : 'configFile');
  // Where the store is comes from one place: a path or backend given directly replaces the file's.
  if (given.path !== undefined || given.backend !== undefined) {
    delete fromFile.path;
    delete fromFile.backend;
  }
  // The file's fields were checked when it was read; what is wrong now was given directly.
  const resolved = resolveFields({ ...fromFile, ...withoutUndefined(given) }, 'openCache()');
  if (given.explainMisses === undefined) resolved.explainMisses = explainFromEnv(env) ?? resolved.explainMisses;
  return resolved;
}

/**
 * Checks a flush policy, naming `field` in the error (after `where`, when
 * given); `undefined` passes through.
 *
 * @throws MemostrataError `CONFIG`.
 */
export function resolveFlushPolicy(policy: unknown, field: string, where?: string): FlushPolicy | undefined {
  if (policy === undefined || policy === 'write-through' || policy === 'manual') return policy;
  const at = where === undefined ? '' : `${where}: `;
  if (policy !== null && typeof policy === 'object' && !Array.isArray(policy)) {
    checkFields(policy, new Set(['everyMs']), where ?? field, where === undefined ? '' : `${field}.`);
    const everyMs = (policy as { everyMs?: unknown }).everyMs;
    if (typeof everyMs === 'number' && everyMs >= 1 && everyMs <= MAX_TIMER_MS) return { everyMs };
    throw new MemostrataError(
      'CONFIG',
      `${at}${field}.everyMs must be a number of milliseconds from 1 to ${MAX_TIMER_MS} (about 24.8 days); got ${JSON.stringify(everyMs) ?? String(everyMs)}. For no background flushes use 'manual'.`,
    );
  }
  throw new MemostrataError('CONFIG', `${at}${field} must be { everyMs: <ms> }, 'write-through' or 'manual'; got ${JSON.stringify(policy)}.`);
}

/** Checks every field of `options`; `where` (`openCache()` or a config file) starts each message. */
function resolveFields(options: CacheOptions, where: string): ResolvedCacheOptions {
  return {
    backend: resolveBackend(options, where),
    flush: resolveFlushPolicy(options.flush, 'flush', where) ?? { everyMs: 1000 },
    memoryBudget: resolveMemoryBudget(options.memoryBudget, where),
    handleExit: resolveBoolean(options.handleExit, 'handleExit', where) ?? true,
    closeRetryMs: resolveCloseRetry(options.closeRetryMs, where),
    lease: resolveLease(options.lease, where),
    types: resolveTypes(options.types, where),
    explainMisses: resolveBoolean(options.explainMisses, 'explainMisses', where) ?? false,
    maxAge: resolveMaxAge(options.maxAge, where),
    maxBytes: resolveMaxBytes(options.maxBytes, where),
    layers: resolveLayers(options.layers, where),
    largeValueBytes: resolveLargeValueBytes(options.largeValueBytes, where),
  };
}

function resolveLargeValueBytes(bytes: unknown, where: string): number | undefined {
  if (bytes === undefined) return undefined;
  if (typeof bytes === 'number' && Number.isSafeInteger(bytes) && bytes >= 1) return bytes;
  throw new MemostrataError('CONFIG', `${where}: largeValueBytes must be a whole number of bytes >= 1 (values stored larger go to blobs); got ${JSON.stringify(bytes) ?? String(bytes)}.`);
}

/** `MEMOSTRATA_EXPLAIN` as a boolean, `undefined` when unset. @throws MemostrataError `CONFIG` for another value. */
function explainFromEnv(env: Readonly<Record<string, string | undefined>>): boolean | undefined {
  const value = env[EXPLAIN_ENV];
  if (value === undefined || value === '') return undefined;
  if (value === '1' || value === 'true') return true;
  if (value === '0' || value === 'false') return false;
  throw new MemostrataError('CONFIG', `${EXPLAIN_ENV} must be 1 or 0 (true or false); got ${JSON.stringify(value)}. Unset it to use the configured explainMisses.`);
}

function resolveMaxBytes(bytes: unknown, where: string): number | undefined {
  if (bytes === undefined) return undefined;
  if (typeof bytes === 'number' && Number.isFinite(bytes) && bytes >= 0) return bytes;
  throw new MemostrataError('CONFIG', `${where}: maxBytes must be a number of bytes >= 0 (the store's size limit); got ${JSON.stringify(bytes) ?? String(bytes)}.`);
}

function readConfigFile(file: string, source: string): CacheOptions {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new MemostrataError('CONFIG', `Cannot read the config file ${file} (from ${source}): ${(error as Error).message}`, { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new MemostrataError('CONFIG', `The config file ${file} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new MemostrataError('CONFIG', `The config file ${file} must hold a JSON object such as { "path": ".memostrata" }.`);
  }
  checkFields(parsed, fileFields, file);
  const config = parsed as CacheOptions;
  resolveFields(config, file);
  // Paths in a config file are relative to the file, so a job can be started from anywhere.
  const base = dirname(resolve(file));
  if (typeof config.path === 'string') config.path = resolve(base, config.path);
  if (config.layers !== undefined) config.layers = resolveLayers(config.layers, file, base);
  const backend = config.backend as { type?: unknown; path?: unknown; blobDir?: unknown; tls?: Record<string, unknown> } | undefined;
  if (backend !== null && typeof backend === 'object' && typeof backend.path === 'string') backend.path = resolve(base, backend.path);
  if (backend !== null && typeof backend === 'object' && typeof backend.blobDir === 'string') backend.blobDir = resolve(base, backend.blobDir);
  const tls = backend?.tls;
  if (isPlainObject(tls)) {
    for (const name of ['caFile', 'certFile', 'keyFile']) if (typeof tls[name] === 'string') tls[name] = resolve(base, tls[name]);
  }
  return config;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function resolveBackend(options: CacheOptions, where: string): BackendConfig {
  const { backend, path } = options;
  if (path !== undefined && (typeof path !== 'string' || path.length === 0)) {
    throw new MemostrataError('CONFIG', `${where}: path must be a non-empty string (a store directory); got ${JSON.stringify(path)}.`);
  }
  if (backend === undefined) return { type: 'level', path: path ?? DEFAULT_PATH };
  if (backend === null || typeof backend !== 'object' || Array.isArray(backend)) {
    throw new MemostrataError('CONFIG', `${where}: backend must be an object such as { type: 'level', path: '.memostrata' }; got ${JSON.stringify(backend)}.`);
  }
  switch (backend.type) {
    case 'memory':
      checkFields(backend, new Set(['type']), where, 'backend.');
      return { type: 'memory' };
    case 'level': {
      checkFields(backend, new Set(['type', 'path', ...Object.keys(LEVEL_OPTIONS)]), where, 'backend.');
      const levelPath = backend.path ?? path ?? DEFAULT_PATH;
      if (typeof levelPath !== 'string' || levelPath.length === 0) {
        throw new MemostrataError('CONFIG', `${where}: backend.path must be a non-empty string; got ${JSON.stringify(backend.path)}.`);
      }
      return { type: 'level', path: levelPath, ...checkBackendOptions<LevelBackendOptions>(backend, LEVEL_OPTIONS, where) };
    }
    case 'lmdb': {
      checkFields(backend, new Set(['type', 'path', ...Object.keys(LMDB_OPTIONS)]), where, 'backend.');
      const lmdbPath = backend.path ?? path;
      if (typeof lmdbPath !== 'string' || lmdbPath.length === 0) {
        throw new MemostrataError('CONFIG', `${where}: backend.path must be a non-empty string (the LMDB store directory), such as { type: 'lmdb', path: '.memostrata-lmdb' }; got ${JSON.stringify(backend.path)}.`);
      }
      return { type: 'lmdb', path: lmdbPath, ...checkBackendOptions<LmdbBackendOptions>(backend, LMDB_OPTIONS, where) };
    }
    case 'redis': {
      checkFields(backend, new Set(['type', ...REDIS_OPTION_NAMES]), where, 'backend.');
      if (isPlainObject(backend.tls)) checkFields(backend.tls, new Set(REDIS_TLS_OPTION_NAMES), where, 'backend.tls.');
      return { type: 'redis', ...checkRedisOptions(backend, `${where}: backend.`) };
    }
    default:
      throw new MemostrataError(
        'CONFIG',
        `${where}: backend.type must be 'level', 'lmdb', 'memory' or 'redis'; got ${JSON.stringify((backend as { type?: unknown }).type)}.`,
      );
  }
}

/** What a backend option holds, for checking it in a configuration. */
type OptionKind = 'boolean' | 'positive integer';

// Every option of the backend's options type, by its kind: `satisfies` makes
// a new option fail to compile until a configuration can set it.
const LEVEL_OPTIONS = { sync: 'boolean', compression: 'boolean', writeBufferSize: 'positive integer', syncReads: 'boolean' } as const satisfies Record<keyof LevelBackendOptions, OptionKind>;
const LMDB_OPTIONS = { sync: 'boolean' } as const satisfies Record<keyof LmdbBackendOptions, OptionKind>;

/** The options of `kinds` that `backend` sets, each checked. @throws MemostrataError `CONFIG` naming the field. */
function checkBackendOptions<Options>(backend: object, kinds: Record<keyof Options & string, OptionKind>, where: string): Options {
  const checked: Record<string, unknown> = {};
  for (const [name, kind] of Object.entries<OptionKind>(kinds)) {
    const value = (backend as Record<string, unknown>)[name];
    if (value === undefined) continue;
    if (kind === 'boolean') resolveBoolean(value, `backend.${name}`, where);
    else if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
      throw new MemostrataError('CONFIG', `${where}: backend.${name} must be a positive integer; got ${JSON.stringify(value) ?? String(value)}.`);
    }
    checked[name] = value;
  }
  return checked as Options;
}

function resolveMemoryBudget(budget: unknown, where: string): number {
  if (budget === undefined) return Infinity;
  if (typeof budget === 'number' && budget > 0 && !Number.isNaN(budget)) return budget;
  throw new MemostrataError('CONFIG', `${where}: memoryBudget must be a positive number of bytes; got ${JSON.stringify(budget)}.`);
}

function resolveCloseRetry(ms: unknown, where: string): number {
  if (ms === undefined) return 3000;
  if (typeof ms === 'number' && Number.isFinite(ms) && ms >= 0) return ms;
  throw new MemostrataError('CONFIG', `${where}: closeRetryMs must be a number of milliseconds >= 0; got ${JSON.stringify(ms)}.`);
}

/** The default lifetime of a lease without a heartbeat (ms). */
const DEFAULT_LEASE_TTL_MS = 30_000;

function resolveLease(lease: unknown, where: string): { ttlMs: number } | false {
  if (lease === undefined) return { ttlMs: DEFAULT_LEASE_TTL_MS };
  if (lease === false) return false;
  if (lease !== null && typeof lease === 'object' && !Array.isArray(lease)) {
    checkFields(lease, new Set(['ttlMs']), where, 'lease.');
    const ttlMs = (lease as LeaseOptions).ttlMs ?? DEFAULT_LEASE_TTL_MS;
    if (typeof ttlMs === 'number' && ttlMs >= 30 && ttlMs <= MAX_TIMER_MS) return { ttlMs };
    throw new MemostrataError('CONFIG', `${where}: lease.ttlMs must be a number of milliseconds from 30 to ${MAX_TIMER_MS}; got ${JSON.stringify(ttlMs) ?? String(ttlMs)}.`);
  }
  throw new MemostrataError('CONFIG', `${where}: lease must be { ttlMs: <ms> } or false; got ${JSON.stringify(lease)}.`);
}

function resolveBoolean(value: unknown, field: string, where: string): boolean | undefined {
  if (value === undefined || typeof value === 'boolean') return value;
  throw new MemostrataError('CONFIG', `${where}: ${field} must be true or false; got ${JSON.stringify(value)}.`);
}

function resolveTypes(types: unknown, where: string): TypeRegistry | undefined {
  // A look-alike object would fail only at the first call that stores a class instance.
  if (types === undefined || types instanceof TypeRegistry) return types;
  throw new MemostrataError(
    'CONFIG',
    `${where}: types must be a TypeRegistry (new TypeRegistry(), then .register(...)), or left out to use the one registerType() fills; got ${describe(types)}.`,
  );
}

function describe(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? String(value);
  const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' && name !== 'Object' ? `an instance of ${name}` : 'a plain object';
}

/** Refuses a field not in `allowed`, naming it (as `prefix` + field) and the closest valid one. */
function checkFields(object: object, allowed: ReadonlySet<string>, where: string, prefix = ''): void {
  const valid = [...allowed].map((field) => `${prefix}${field}`);
  for (const field of Object.keys(object)) {
    if (!allowed.has(field)) {
      // The hint compares bare names: a shared prefix would make any two look alike.
      const closest = closestName(field, allowed);
      const hint = closest === undefined ? '' : ` (did you mean '${prefix}${closest}'?)`;
      throw new MemostrataError('CONFIG', `${where}: unknown option '${prefix}${field}'${hint}; expected one of ${valid.join(', ')}.`);
    }
  }
}

function withoutUndefined<T extends object>(object: T): Partial<T> {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined)) as Partial<T>;
}
