import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/*
 * Builds dist/ once before the tests: the CLI tests run the built command
 * (`node dist/cli/main.js`) as a user would, so it must match the sources.
 */
export default function buildDist(): void {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  try {
    execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'pipe' });
  } catch (error) {
    const output = (error as { stdout?: Buffer }).stdout?.toString() ?? '';
    throw new Error(`Building dist/ (tsc -p tsconfig.build.json) failed before the tests:\n${output}`);
  }
}
