/**
 * memostrata: a persistent, layered memoization cache for expensive computations.
 *
 * Start with {@link openCache} and {@link Cache.memoize}; {@link currentCall}
 * makes a long call resumable. The layers and backends are exported for
 * tools and for stacking your own.
 *
 * @packageDocumentation
 */
export { openCache, Cache, type CacheStats, type Memoized, type MemoizedIdentity, type MemoizeOptions } from './cache/cache.js';
export { currentCall, type CurrentCall } from './cache/current-call.js';
export { EXPLAIN_SCAN_LIMIT, type Difference, type Explanation, type NearestCall } from './cache/explain.js';
export type { StoredArray, StoredCall } from './cache/stored-call.js';
export type { EvictionResult } from './cache/eviction.js';
export { ENTRY_SORT_KEYS, type EntryInfo, type EntryQuery, type EntrySortKey } from './maintenance/inventory.js';
export {
  CONFIG_ENV,
  DEFAULT_PATH,
  EXPLAIN_ENV,
  type BackendConfig,
  type CacheOptions,
  type FlushPolicy,
  type LeaseOptions,
  type LevelBackendConfig,
  type LmdbBackendConfig,
  type MemoryBackendConfig,
  type RedisBackendConfig,
} from './cache/config.js';
export type { ModuleStats } from './cache/memoized-module.js';
export type { LeaseRecord } from './cache/leases.js';
export type { Store } from './cache/store.js';
export { MemostrataError, isMemostrataError, type ErrorCode, type MemostrataErrorOptions } from './errors.js';
export { BackendUnreachableError, BackendLimitError, isBackendUnreachable, isBackendLimit } from './backends/backend-errors.js';
export { registerType, TypeRegistry, defaultTypes, type TypeDefinition } from './layers/type-registry.js';

export { Database, type BatchCondition, type BatchOperation, type DatabaseStatus, type Manifest, type WriteOptions, type WriteStage } from './contract/database.js';
export type { NormalizedRange, Range } from './contract/range.js';
export { isBlobId, type BlobInfo, type BlobReader, type BlobStore, type BlobWriteOptions, type ListedBlob, type PendingBlob } from './contract/blob-store.js';
export { FileBlobStore } from './backends/file-blob-store.js';
export { KeyedBlobStore, CHUNK_BYTES } from './layers/blob/keyed-blob-store.js';
export { MemoryBackend } from './backends/memory-backend.js';
export { LevelBackend, type LevelBackendOptions } from './backends/level-backend.js';
export { LmdbBackend, LMDB_MAX_KEY_BYTES, type LmdbBackendOptions } from './backends/lmdb-backend.js';
export { RedisBackend, DEFAULT_REDIS_PREFIX, DEFAULT_REDIS_URL, type RedisBackendOptions, type RedisTlsOptions, type RedisWriteLimits } from './backends/redis-backend.js';
export type { ChunkLimits } from './backends/redis-chunks.js';
export { SerializedDB, typesKey, LARGE_VALUE_BYTES, type OpenedValue, type SerializedDBOptions, type StartedWriting, type StoredSegment } from './layers/serialized-db.js';
export type { SegmentWatch } from './layers/typed-arrays.js';
export { ValueCodec, type BlobReference, type Segment, type SegmentType, type SplitValue } from './layers/value-codec.js';
export type { SupportedTypedArray, TypedArrayName } from './layers/typed-arrays.js';
export { loadDigester, digestToHex, DIGEST_BYTES, type Digester, type DigestStream } from './layers/digest.js';
export { UUIDDatabase, UUID_NAMESPACE, type InternedValue, type PreparedValues } from './layers/uuid-database.js';
export { ProxyObjectDatabase, type MemoRecord, type StoredError, type UnproxiedRecord } from './layers/proxy-object-database.js';
export type { CallRef } from './layers/memo-record.js';
export {
  PerModuleObjectDatabase,
  type LiveEntry,
  type NewEntry,
  type PerModuleOptions,
  type PreparedFlush,
} from './layers/per-module-object-database.js';
export { PassThroughLayer, type LayerOptions } from './layers/pass-through-layer.js';
export {
  AuditLayer,
  EncryptLayer,
  SignLayer,
  ValueTransformLayer,
  buildLayers,
  loadLayers,
  keyId,
  readKeyEnv,
  readKeyFile,
  type AuditEntry,
  type AuditLayerConfig,
  type AuditLayerOptions,
  type ByteDatabase,
  type ByteStack,
  type EncryptLayerConfig,
  type EncryptLayerOptions,
  type ReencryptOptions,
  type ReencryptResult,
  type LayerConfig,
  type LayerFactory,
  type SignLayerConfig,
  type Ed25519Key,
  type SignLayerOptions,
} from './layers/bytes/index.js';
export { FORMAT_VERSION } from './layers/keys.js';
export { readModuleMeta, type ModuleMeta } from './layers/module-meta.js';
