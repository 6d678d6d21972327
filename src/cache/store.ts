import { LevelBackend } from '../backends/level-backend.js';
import { LmdbBackend } from '../backends/lmdb-backend.js';
import { MemoryBackend } from '../backends/memory-backend.js';
import { RedisBackend } from '../backends/redis-backend.js';
import type { Database } from '../contract/database.js';
import { MemostrataError } from '../errors.js';
import { loadDigester, type Digester } from '../layers/digest.js';
import { loadLayers } from '../layers/bytes/build-layers.js';
import type { LayerConfig } from '../layers/bytes/layer-config.js';
import { layerOfStoredBytes } from '../layers/bytes/stored-form.js';
import { FORMAT_VERSION, formatKey } from '../layers/keys.js';
import { ProxyObjectDatabase } from '../layers/proxy-object-database.js';
import { SerializedDB, type SerializedDBOptions } from '../layers/serialized-db.js';
import { defaultTypes, type TypeRegistry } from '../layers/type-registry.js';
import { UUIDDatabase } from '../layers/uuid-database.js';
import type { BackendConfig } from './config.js';

/** The shared layers of one open store, bottom to top. */
export interface Store {
  /** Where the store lives, for messages: a path, a Redis URL and prefix, or `memory`. */
  readonly location: string;
  /** The bytes-to-bytes backend at the bottom, under the byte layers: what it holds may be ciphertext or signed. */
  readonly backend: Database<Uint8Array, Uint8Array>;
  /**
   * The top of the byte layers (`encrypt`, `sign`, …), right under
   * {@link Store.serialized}: the bytes the codec wrote. Tools read and
   * write store bytes here. The backend itself when there are no layers.
   */
  readonly bytes: Database<Uint8Array, Uint8Array>;
  /** The byte layers, bottom to top (empty without layers). */
  readonly byteLayers: readonly Database<Uint8Array, Uint8Array>[];
  /** A byte layer drops every write (a signed store opened with public keys only): the cache stores nothing. */
  readonly readOnly: boolean;
  /** Values to bytes and back. */
  readonly serialized: SerializedDB;
  /** Values by content UUID. */
  readonly values: UUIDDatabase;
  /** Memo records, by module and call digest. */
  readonly proxy: ProxyObjectDatabase;
  /** The canonical digest. */
  readonly digester: Digester;
  /** The registered user types the store's values are read with. */
  readonly types: TypeRegistry;
}

/** How {@link openStore} opens a store. */
export interface OpenStoreOptions {
  /**
   * Check (or, for a new store, write) the format version. Only `migrate`
   * turns it off: it opens a store of an older format to convert it, and
   * reads the version itself.
   *
   * @default true
   */
  checkFormat?: boolean;
  /**
   * Byte layers stacked between the serialized values and the backend
   * (their keys are read before the backend opens).
   *
   * @default []
   */
  layers?: readonly LayerConfig[];
  /**
   * Values stored larger than this go to blobs (see {@link SerializedDBOptions.largeValueBytes}).
   *
   * @default 1048576 (1 MiB)
   */
  largeValueBytes?: number;
}

/**
 * Opens the backend a configuration names and stacks the shared layers on it.
 * A new store gets the current format version; a store of another version,
 * or a non-empty keyspace that memostrata did not write, is refused.
 *
 * @throws MemostrataError `LOCKED`, `NOT_A_STORE`, `FORMAT_VERSION`, `CORRUPT` or `BACKEND`
 *   (a Redis server that cannot be reached).
 */
export async function openStore(config: BackendConfig, types: TypeRegistry = defaultTypes, options: OpenStoreOptions = {}): Promise<Store> {
  const digester = await loadDigester(types);
  const stackLayers = loadLayers(options.layers ?? []);
  const backend = await openBackend(config);
  const location = backend instanceof LevelBackend || backend instanceof LmdbBackend ? backend.path : backend instanceof RedisBackend ? `${backend.url} (prefix ${backend.prefix})` : 'memory';
  let stack: ReturnType<typeof stackLayers>;
  try {
    stack = stackLayers(backend);
  } catch (error) {
    await backend.close();
    throw error;
  }
  const serialized = new SerializedDB(stack.top, { types, ...(options.largeValueBytes === undefined ? {} : { largeValueBytes: options.largeValueBytes }) });
  try {
    if (options.checkFormat !== false) await checkFormat(serialized, stack.top, location);
  } catch (error) {
    await serialized.close();
    throw error;
  }
  const values = new UUIDDatabase(serialized, digester);
  const proxy = new ProxyObjectDatabase(values);
  return { location, backend, bytes: stack.top, byteLayers: stack.layers, readOnly: stack.readOnly, serialized, values, proxy, digester, types };
}

async function openBackend(config: BackendConfig): Promise<Database<Uint8Array, Uint8Array>> {
  switch (config.type) {
    case 'memory':
      return new MemoryBackend();
    case 'redis':
      return RedisBackend.open(config);
    case 'lmdb': {
      const { type, path, ...options } = config;
      if (path === undefined) throw new MemostrataError('CONFIG', "An LMDB backend needs a path: { type: 'lmdb', path: '<store directory>' }.");
      return LmdbBackend.open(path, options);
    }
    default: {
      const { type, path, ...options } = config;
      return LevelBackend.open(path ?? '.memostrata', options);
    }
  }
}

/**
 * A backend that many processes open at once: it claims an empty store in one
 * atomic step, so that two processes starting together cannot each see the
 * other's half-written start (a format record appearing between "no format
 * record" and "is the store empty?").
 */
interface ClaimsEmptyStore {
  /** When nothing is stored, writes `value` at `key`; returns what is at `key` afterwards. */
  initializeFormat(key: Uint8Array, value: Uint8Array): Promise<Uint8Array | undefined>;
}

function claimsEmptyStore(backend: object): backend is ClaimsEmptyStore {
  return typeof (backend as Partial<ClaimsEmptyStore>).initializeFormat === 'function';
}

async function checkFormat(db: SerializedDB, backend: Database<Uint8Array, Uint8Array>, location: string): Promise<void> {
  let version = await readFormat(db, backend, location);
  if (version === undefined && claimsEmptyStore(backend)) {
    // Also reached when the server lost everything (restarted without
    // persistence): an emptied store starts again as a new one.
    const stored = await backend.initializeFormat(formatKey, db.codec.encode(FORMAT_VERSION, 'the format version'));
    version = stored === undefined ? undefined : decodeFormat(db, stored, location);
    if (version === undefined) throw notAStore(location);
  }
  if (version === FORMAT_VERSION) return;
  if (version !== undefined) {
    throw new MemostrataError(
      'FORMAT_VERSION',
      typeof version === 'number' && version < FORMAT_VERSION ? `The store at ${location} has format version ${version}, written by an older memostrata; this memostrata reads version ${FORMAT_VERSION}. Convert it in place with \`memostrata migrate ${location}\` (back it up first if the older memostrata must still read it).` : `The store at ${location} has format version ${JSON.stringify(version)}; this memostrata reads version ${FORMAT_VERSION}. Upgrade memostrata, or use another path.`,
    );
  }
  // One process holds an embedded store, so nothing can come between these steps.
  for await (const _ of db.keys({ limit: 1 })) throw notAStore(location);
  await db.put(formatKey, FORMAT_VERSION, { sync: true });
}

function notAStore(location: string): MemostrataError {
  return new MemostrataError('NOT_A_STORE', `${location} holds data that memostrata did not write (no format version); choose an empty or new path.`);
}

function decodeFormat(db: SerializedDB, bytes: Uint8Array, location: string): unknown {
  try {
    return db.codec.decode(bytes);
  } catch (error) {
    const layer = layerOfStoredBytes(bytes);
    if (layer !== undefined) {
      throw new MemostrataError('CONFIG', `The store at ${location} was written through the ${layer} layer: open it with the same layers and keys (\`layers\` in openCache or the config file; \`--config <file>\` for the CLI).`, { cause: error });
    }
    throw new MemostrataError('NOT_A_STORE', `${location} is not a memostrata store: its format record does not decode.`, { cause: error });
  }
}

async function readFormat(db: SerializedDB, backend: Database<Uint8Array, Uint8Array>, location: string): Promise<unknown> {
  // Read the bytes below the codec: a damaged block (the backend's CORRUPT) is a damaged store for
  // `memostrata verify --fix`, while bytes that do not decode mean the store is not ours.
  const bytes = await backend.get(formatKey);
  return bytes === undefined ? undefined : decodeFormat(db, bytes, location);
}
