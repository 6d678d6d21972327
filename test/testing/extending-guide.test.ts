import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const read = (path: string): string => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

describe('docs/extending.md', () => {
  it('shows in full the example backend and layer that the contract suite runs on', () => {
    const guide = read('docs/extending.md');
    for (const example of ['test/fixtures/example-sorted-map-backend.ts', 'test/fixtures/example-counting-layer.ts']) {
      expect(guide, example).toContain(`\`\`\`ts\n${read(example).trimEnd()}\n\`\`\``);
    }
  });
});
