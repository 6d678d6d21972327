import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../../src/backends/memory-backend.js';
import type { BatchOperation, Database, WriteOptions } from '../../../src/contract/database.js';
import { EncryptLayer } from '../../../src/layers/bytes/encrypt-layer.js';
import { PassThroughLayer } from '../../../src/layers/pass-through-layer.js';
import { newKey } from './keys.js';

/** Fails every batch after the first `allowed`, as a crash between batches would leave the store. */
class FailingBatches extends PassThroughLayer<Uint8Array> {
  constructor(below: Database<Uint8Array, Uint8Array>, private allowed: number) {
    super(below, { ownsBelow: false });
  }

  protected _batch(operations: readonly BatchOperation<Uint8Array, Uint8Array>[], options: WriteOptions): Promise<void> {
    if (this.allowed <= 0) return Promise.reject(new Error('crash'));
    this.allowed -= 1;
    return super._batch(operations, options);
  }
}

const text = (bytes: Uint8Array | undefined): string | undefined => (bytes === undefined ? undefined : Buffer.from(bytes).toString());

describe('EncryptLayer.reencrypt', () => {
  it('keeps every batch it finished when interrupted, and a rerun finishes the job with every value intact', async () => {
    const backend = new MemoryBackend();
    const oldKey = newKey();
    const key = newKey();
    const before = new EncryptLayer(backend, { key: oldKey, ownsBelow: false });
    for (let n = 0; n < 10; n += 1) await before.put(Buffer.from(`k${n}`), Buffer.from(`value ${n}`));

    const interrupted = new EncryptLayer(new FailingBatches(backend, 2), { key, previousKeys: [oldKey] });
    await expect(interrupted.reencrypt({ batchSize: 3 })).rejects.toThrow('crash');
    let current = 0;
    for await (const [, stored] of backend.entries()) if (interrupted.isCurrent(stored)) current += 1;
    expect(current).toBe(6);

    const rerun = new EncryptLayer(backend, { key, previousKeys: [oldKey], ownsBelow: false });
    expect(await rerun.reencrypt({ batchSize: 3 })).toEqual({ rewritten: 4, current: 6, damaged: [] });
    const newOnly = new EncryptLayer(backend, { key, ownsBelow: false });
    for (let n = 0; n < 10; n += 1) expect(text(await newOnly.get(Buffer.from(`k${n}`)))).toBe(`value ${n}`);
  });

  it('stops with KEY on a value of a key it was not given, writing nothing of that batch', async () => {
    const backend = new MemoryBackend();
    const lost = new EncryptLayer(backend, { key: newKey(), ownsBelow: false });
    await lost.put(Buffer.from('a'), Buffer.from('x'));
    const layer = new EncryptLayer(backend, { key: newKey(), ownsBelow: false });
    const stored = await backend.get(Buffer.from('a'));
    await expect(layer.reencrypt()).rejects.toMatchObject({ code: 'KEY', message: expect.stringContaining(lost.keyId) });
    expect(Buffer.compare((await backend.get(Buffer.from('a')))!, stored!)).toBe(0);
  });
});
