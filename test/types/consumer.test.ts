import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';

afterAll(removeTempDirs);

// dist/ is built by test/global-setup.ts from the current sources.
const root = fileURLToPath(new URL('../..', import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

/** A user's program: touches the API a user reaches for first, and the layers a tool author uses. */
const app = `
import { openCache, currentCall, registerType, MemostrataError, isMemostrataError, MemoryBackend, type CacheOptions } from 'memostrata';

class Point {
  constructor(readonly x: number, readonly y: number) {}
}
registerType({ name: 'app.Point', type: Point, encode: (p: Point) => [p.x, p.y], decode: ([x, y]: [number, number]) => new Point(x, y) });

const options: CacheOptions = { path: '.cache', flush: { everyMs: 500 } };
const cache = await openCache(options);
const square = cache.memoize('square', async (x: number) => {
  await currentCall().save({ x });
  return x * x;
});
const result: number = await square(3);
const backend = new MemoryBackend();
await backend.close();
try {
  await cache.close();
} catch (error) {
  if (isMemostrataError(error) && error instanceof MemostrataError) throw new Error(error.code + String(result));
}
`;

/** Runs the repository's tsc on a consumer project; returns its diagnostics (empty when it compiled). */
function compile(project: string): string {
  try {
    execFileSync(process.execPath, [tsc, '-p', project], { cwd: project, stdio: 'pipe' });
    return '';
  } catch (error) {
    return (error as { stdout?: Buffer }).stdout?.toString() ?? String(error);
  }
}

function declarationFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.d.ts'))
    .map((entry) => join(entry.parentPath, entry.name));
}

describe('the published declarations', () => {
  it('compile in a strict TypeScript app that has no @types/node', () => {
    const project = tempDir();
    mkdirSync(join(project, 'node_modules'));
    // The package as installed: its package.json "exports" and dist/, its own dependencies beside it.
    symlinkSync(root, join(project, 'node_modules', 'memostrata'), 'dir');
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          lib: ['ES2023'],
          types: [],
          strict: true,
          skipLibCheck: false,
          noEmit: true,
        },
        files: ['app.ts'],
      }),
    );
    writeFileSync(join(project, 'app.ts'), app);
    expect(compile(project)).toBe('');
  });

  it('name no Node.js global namespace, which only @types/node declares', () => {
    const offenders = declarationFiles(join(root, 'dist'))
      .filter((file) => /\bNodeJS\./.test(readFileSync(file, 'utf8')))
      .map((file) => file.slice(root.length));
    expect(offenders).toEqual([]);
  });
});
