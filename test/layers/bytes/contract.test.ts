import { join } from 'node:path';
import { afterAll } from 'vitest';
import { LmdbBackend } from '../../../src/backends/lmdb-backend.js';
import { MemoryBackend } from '../../../src/backends/memory-backend.js';
import { AuditLayer } from '../../../src/layers/bytes/audit-layer.js';
import { buildLayers } from '../../../src/layers/bytes/build-layers.js';
import { EncryptLayer } from '../../../src/layers/bytes/encrypt-layer.js';
import { SignLayer } from '../../../src/layers/bytes/sign-layer.js';
import { runDatabaseContract } from '../../contract/database-contract.js';
import { removeTempDirs, tempDir } from '../../helpers/temp-dir.js';
import { newKey, newSigner, writeKeyFile, writeSignerFiles } from './keys.js';

afterAll(removeTempDirs);

const key = newKey();
const secret = newKey();
const signer = newSigner();

runDatabaseContract('EncryptLayer over MemoryBackend', { open: async () => new EncryptLayer(new MemoryBackend(), { key, previousKeys: [newKey()] }) });
runDatabaseContract('SignLayer (HMAC) over MemoryBackend', { open: async () => new SignLayer(new MemoryBackend(), { secret }) });
runDatabaseContract('SignLayer (Ed25519) over MemoryBackend', { open: async () => new SignLayer(new MemoryBackend(), { privateKey: signer.privateKey, publicKeys: [] }) });
runDatabaseContract('AuditLayer over MemoryBackend', { open: async () => new AuditLayer(new MemoryBackend(), { path: join(tempDir(), 'audit.jsonl') }) });

runDatabaseContract('encrypt, sign and audit stacked over MemoryBackend', {
  open: async () => {
    const dir = tempDir();
    const { privateKeyFile, publicKeyFile } = writeSignerFiles(dir, 'writer');
    return buildLayers(
      [
        { type: 'audit', path: join(dir, 'audit.jsonl') },
        { type: 'sign', privateKeyFile, publicKeyFiles: [publicKeyFile] },
        { type: 'encrypt', keyFile: writeKeyFile(dir, 'store.key') },
      ],
      new MemoryBackend(),
    ).top;
  },
});

const lmdbPaths = new WeakMap<object, string>();
const openEncryptedLmdb = async (path: string): Promise<EncryptLayer> => {
  const layer = new EncryptLayer(await LmdbBackend.open(path), { key });
  lmdbPaths.set(layer, path);
  return layer;
};
runDatabaseContract('EncryptLayer over LmdbBackend', {
  open: () => openEncryptedLmdb(join(tempDir(), 'store')),
  reopen: (closed) => openEncryptedLmdb(lmdbPaths.get(closed)!),
});
