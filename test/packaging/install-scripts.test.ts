import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('npm install', () => {
  it('has every dependency install script reviewed, so npm 11 installs without warnings', async () => {
    const { stdout } = await promisify(execFile)('npm', ['install-scripts', 'ls', '--json'], { cwd: root });
    expect(JSON.parse(stdout)).toEqual({ allowScripts: [] });
  });

  it('lets the native modules and esbuild run the install scripts they need', () => {
    const { allowScripts } = JSON.parse(readFileSync(new URL('package.json', `file://${root}/`), 'utf8')) as { allowScripts?: Record<string, boolean> };
    expect(allowScripts).toMatchObject({ 'classic-level': true, 'cbor-extract': true, esbuild: true });
  });
});
