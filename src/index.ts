export { MemostrataError, isMemostrataError, type ErrorCode, type MemostrataErrorOptions } from './errors.js';
export { Database, type BatchOperation, type DatabaseStatus, type Manifest, type WriteOptions } from './contract/database.js';
export type { NormalizedRange, Range } from './contract/range.js';
export { MemoryBackend } from './backends/memory-backend.js';
export { LevelBackend, type LevelBackendOptions } from './backends/level-backend.js';
