import { describe, expect, it } from 'vitest';
import type { SuiteContext } from './context.js';

/** The manifest the rest of the suite switches on is well-formed and stable. */
export function manifestTests(suite: SuiteContext): void {
  describe('manifest', () => {
    it('declares persistent and snapshots, and every optional flag as a boolean or absent', async () => {
      const db = await suite.open();
      const { manifest } = db;
      expect(typeof manifest.persistent).toBe('boolean');
      expect(typeof manifest.snapshots).toBe('boolean');
      for (const flag of ['compact', 'repair', 'shared'] as const) expect(['boolean', 'undefined'], flag).toContain(typeof manifest[flag]);
      expect(db.manifest).toEqual(manifest);
    });
  });
}
