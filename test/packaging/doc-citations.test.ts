import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** The README, the docs (not the generated API reference) and the sources: what users and contributors read. */
function readFiles(): string[] {
  const docs = readdirSync(join(root, 'docs')).filter((name) => name.endsWith('.md')).map((name) => join(root, 'docs', name));
  const sources = readdirSync(join(root, 'src'), { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts'))
    .map((name) => join(root, 'src', name));
  return [join(root, 'README.md'), ...docs, ...sources];
}

describe('the documentation', () => {
  it('cites only documents the project has', () => {
    const missing: string[] = [];
    for (const file of readFiles()) {
      for (const [cited] of readFileSync(file, 'utf8').matchAll(/[\w./-]+\.md\b/g)) {
        // A citation is relative to the repository root (docs/cli.md) or to the citing file (store-format.md).
        if (!existsSync(join(root, cited)) && !existsSync(join(dirname(file), cited))) missing.push(`${relative(root, file)} cites ${cited}`);
      }
    }
    expect(missing).toEqual([]);
  });
});
