import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../../src/backends/memory-backend.js';
import { EncryptLayer } from '../../../src/layers/bytes/encrypt-layer.js';
import { SignLayer } from '../../../src/layers/bytes/sign-layer.js';
import type { ValueTransformLayer } from '../../../src/layers/bytes/value-transform-layer.js';
import { newKey } from './keys.js';

const key = newKey();
const layers: Record<string, () => ValueTransformLayer> = {
  EncryptLayer: () => new EncryptLayer(new MemoryBackend(), { key }),
  SignLayer: () => new SignLayer(new MemoryBackend(), { secret: key }),
};

const hex = (bytes: Uint8Array | undefined): string | undefined => (bytes === undefined ? undefined : Buffer.from(bytes).toString('hex'));
const bytes = fc.uint8Array({ maxLength: 48 });

describe.each(Object.entries(layers))('%s', (_name, open) => {
  it('gives back every value it stored, byte for byte', async () => {
    await fc.assert(
      fc.asyncProperty(bytes, bytes, async (storeKey, value) => {
        const db = open();
        await db.put(storeKey, value);
        expect(hex(await db.get(storeKey))).toBe(hex(value));
        await db.close();
      }),
    );
  });

  it('applies a batchIf exactly when the stored value equals the expected one (not its stored form)', async () => {
    await fc.assert(
      fc.asyncProperty(bytes, fc.option(bytes, { nil: undefined }), fc.option(bytes, { nil: undefined }), bytes, async (storeKey, stored, expected, next) => {
        const db = open();
        if (stored !== undefined) await db.put(storeKey, stored);
        const applied = await db.batchIf({ key: storeKey, value: expected }, [{ type: 'put', key: storeKey, value: next }]);
        expect(applied).toBe(hex(stored) === hex(expected));
        expect(hex(await db.get(storeKey))).toBe(applied ? hex(next) : hex(stored));
        await db.close();
      }),
    );
  });
});
