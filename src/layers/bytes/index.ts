/** Byte layers: bytes-to-bytes layers stacked between `SerializedDB` and the backend. */
export { AuditLayer, type AuditEntry, type AuditLayerOptions } from './audit-layer.js';
export { buildLayers, loadLayers, type ByteDatabase, type ByteStack } from './build-layers.js';
export { EncryptLayer, type EncryptLayerOptions, type ReencryptOptions, type ReencryptResult } from './encrypt-layer.js';
export { KEY_BYTES, keyId, readKeyEnv, readKeyFile } from './key-file.js';
export { resolveLayers, type AuditLayerConfig, type EncryptLayerConfig, type LayerConfig, type LayerFactory, type SignLayerConfig } from './layer-config.js';
export { SignLayer, type Ed25519Key, type SignLayerOptions } from './sign-layer.js';
export { ValueTransformLayer } from './value-transform-layer.js';
