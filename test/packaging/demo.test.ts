import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';

afterAll(removeTempDirs);

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Runs `npm run demo`'s script on the store that `config` names, with short integrations; returns its stdout. */
async function runDemo(config: string): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'examples/demo.ts'], {
    cwd: root,
    env: { ...process.env, MEMOSTRATA_CONFIG: config, SCAN_STEPS: '2000' },
  });
  return stdout;
}

describe('the demo (npm run demo)', () => {
  it('says it killed the job only when it did', async () => {
    const dir = tempDir();
    const config = join(dir, 'memostrata.json');
    writeFileSync(config, JSON.stringify({ path: 'store' }));
    const first = await runDemo(config);
    expect(first).toContain('--- killing the job with SIGKILL after 8 computed points ---');
    expect(first).toMatch(/Run 2: .*resumes/);
    // Every point is stored now: the second demo computes nothing and kills nothing.
    const second = await runDemo(config);
    expect(second).not.toMatch(/kill(ing|ed) the job|is killed|resumes/);
    expect(second).toContain('nothing was killed');
  });
});
