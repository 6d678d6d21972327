import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { utf8 } from '../../src/backends/bytes.js';
import { LevelBackend } from '../../src/backends/level-backend.js';
import { fixturePath, killRunningChildren, spawnTsChild, type TsChild } from '../helpers/child-process.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';

const holdStore = fixturePath('hold-store.ts');
const text = (value: Uint8Array | undefined): string | undefined => (value === undefined ? undefined : Buffer.from(value).toString('utf8'));

/** Starts a child that opens `path` and waits until it reports `ready` or `open-failed <code>`. */
async function childOpening(path: string, entries = 0): Promise<{ child: TsChild; outcome: string }> {
  const child = spawnTsChild(holdStore, [path, String(entries)]);
  const outcome = await child.nextLine((line) => line === 'ready' || line.startsWith('open-failed '));
  return { child, outcome };
}

/** Asks a holding child to close its store and waits until it has exited. */
async function release(child: TsChild): Promise<void> {
  child.endInput();
  expect(await child.exited).toEqual({ code: 0, signal: null });
}

const opened: LevelBackend[] = [];
async function open(path: string): Promise<LevelBackend> {
  const store = await LevelBackend.open(path);
  opened.push(store);
  return store;
}

afterEach(async () => {
  await killRunningChildren();
  await Promise.all(opened.splice(0).map((store) => store.close()));
});
afterAll(removeTempDirs);

describe('LevelBackend between processes', () => {
  it('rejects a second process with LOCKED, naming the path, and opens once the holder exits', async () => {
    const path = join(tempDir(), 'store');
    const { child, outcome } = await childOpening(path, 5);
    expect(outcome).toBe('ready');

    const refusal = await open(path).then(
      () => new Error('the second process opened a store that another process holds'),
      (error: unknown) => error,
    );
    expect(refusal).toMatchObject({ name: 'MemostrataError', code: 'LOCKED', message: expect.stringContaining(path) });
    expect((refusal as Error).message).toMatch(/in use by another process/);

    await release(child);
    const store = await open(path);
    for (let i = 0; i < 5; i += 1) expect(text(await store.get(utf8(`key-${i}`)))).toBe(`value-${i}`);
  });

  it('names the process holding the store and points to a backend for parallel jobs', async () => {
    const path = join(tempDir(), 'store');
    const { child, outcome } = await childOpening(path);
    expect(outcome).toBe('ready');
    const refusal = await open(path).then(
      () => new Error('opened a store that another process holds'),
      (error: unknown) => error,
    );
    expect(refusal).toMatchObject({ code: 'LOCKED' });
    expect((refusal as Error).message).toContain(`process ${child.process.pid} on `);
    expect((refusal as Error).message).toMatch(/parallel jobs.*Redis/);
    await release(child);
  });

  it('removes its owner file when the last handle closes', async () => {
    const path = join(tempDir(), 'store');
    const first = await LevelBackend.open(path);
    const second = await LevelBackend.open(path);
    expect(existsSync(join(path, 'owner'))).toBe(true);
    await first.close();
    expect(existsSync(join(path, 'owner'))).toBe(true);
    await second.close();
    expect(existsSync(join(path, 'owner'))).toBe(false);
  });

  it('rejects a child process with LOCKED while this process holds the store', async () => {
    const path = join(tempDir(), 'store');
    await open(path);
    expect((await childOpening(path)).outcome).toBe('open-failed LOCKED');
  });
});

describe('LevelBackend within one process', () => {
  it('shares one handle between two opens of the same path', async () => {
    const path = join(tempDir(), 'store');
    const first = await open(path);
    const second = await open(path);
    await first.put(utf8('written by first'), utf8('1'));
    expect(text(await second.get(utf8('written by first')))).toBe('1');

    await first.close();
    await second.put(utf8('written by second'), utf8('2'));
    expect(text(await second.get(utf8('written by first')))).toBe('1');
    expect(text(await second.get(utf8('written by second')))).toBe('2');
    await expect(first.get(utf8('written by first'))).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('shares one handle between concurrent opens of the same path', async () => {
    const path = join(tempDir(), 'store');
    const [first, second] = await Promise.all([open(path), open(path)]);
    await first!.put(utf8('k'), utf8('v'));
    expect(text(await second!.get(utf8('k')))).toBe('v');
  });

  // LevelDB drops its cross-process lock when a second handle on the same
  // directory fails to open in-process (DESIGN.md): sharing must prevent that.
  it('keeps other processes out until the last handle closes', async () => {
    const path = join(tempDir(), 'store');
    const first = await open(path);
    const second = await open(path);
    await first.close();
    expect((await childOpening(path)).outcome).toBe('open-failed LOCKED');

    await second.close();
    const { child, outcome } = await childOpening(path);
    expect(outcome).toBe('ready');
    await release(child);
  });

  // POSIX file locks belong to the process: a second handle reaching the same
  // LOCK file through another spelling would release the lock when it closes.
  it('shares one handle when the same store is reached through a symlink', async () => {
    const directory = tempDir();
    const path = join(directory, 'store');
    const link = join(directory, 'link-to-store');
    const direct = await open(path);
    symlinkSync(path, link);
    const throughLink = await open(link);
    await throughLink.put(utf8('k'), utf8('v'));
    expect(text(await direct.get(utf8('k')))).toBe('v');

    await throughLink.close();
    expect((await childOpening(path)).outcome).toBe('open-failed LOCKED');
  });

  it('reopens a store after every handle closed, and locks it again', async () => {
    const path = join(tempDir(), 'store');
    const before = await open(path);
    await before.put(utf8('k'), utf8('kept'));
    await before.close();

    const after = await open(path);
    expect(text(await after.get(utf8('k')))).toBe('kept');
    expect((await childOpening(path)).outcome).toBe('open-failed LOCKED');
  });
});

describe('LevelBackend on a path that is not a store', () => {
  it('refuses a regular file with NOT_A_STORE', async () => {
    const path = join(tempDir(), 'notes.txt');
    writeFileSync(path, 'not a store');
    await expect(LevelBackend.open(path)).rejects.toMatchObject({ name: 'MemostrataError', code: 'NOT_A_STORE', message: expect.stringContaining(path) });
  });

  it('refuses a directory holding foreign files with NOT_A_STORE and leaves it untouched', async () => {
    const path = join(tempDir(), 'project');
    mkdirSync(path);
    writeFileSync(join(path, 'thesis.tex'), '\\documentclass{article}');
    await expect(LevelBackend.open(path)).rejects.toMatchObject({ name: 'MemostrataError', code: 'NOT_A_STORE', message: expect.stringContaining(path) });
    expect(readdirSync(path)).toEqual(['thesis.tex']);
  });

  it('refuses a path under a regular file with CONFIG naming the file, creating nothing', async () => {
    const file = join(tempDir(), 'afile.txt');
    writeFileSync(file, 'text');
    const refusal = LevelBackend.open(join(file, 'sub', 'store'));
    await expect(refusal).rejects.toMatchObject({ name: 'MemostrataError', code: 'CONFIG', message: expect.stringContaining(`${file} is a file`) });
  });

  it('refuses a path it cannot create with CONFIG giving the reason', async () => {
    // /sys refuses mkdir even to root, with EPERM.
    await expect(LevelBackend.open('/sys/memostrata-nope/store')).rejects.toMatchObject({ code: 'CONFIG', message: expect.stringMatching(/\/sys\/memostrata-nope.*EPERM/) });
  });

  it('refuses /proc/nope with CONFIG instead of spinning forever', async () => {
    // classic-level's recursive mkdir loops without end there: a hang shows as a child that never answers.
    const { child, outcome } = await Promise.race([
      childOpening('/proc/memostrata-nope'),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('opening /proc/memostrata-nope did not finish within 30 s')), 30_000)),
    ]);
    expect(outcome).toBe('open-failed CONFIG');
    await child.exited;
  });

  it('puts the real cause of an open failure in the message', async () => {
    const path = join(tempDir(), 'broken');
    mkdirSync(path);
    writeFileSync(join(path, 'CURRENT'), 'MANIFEST-000099\n');
    const refusal = await LevelBackend.open(path).then(
      () => new Error('opened a store whose manifest is missing'),
      (error: unknown) => error as Error,
    );
    expect(refusal.message).toContain(path);
    expect(refusal.message).not.toMatch(/Database failed to open/);
    expect(refusal.message).toMatch(/MANIFEST-000099/);
  });

  it('opens an empty existing directory as a new store', async () => {
    const path = join(tempDir(), 'empty');
    mkdirSync(path);
    const store = await open(path);
    await store.put(utf8('k'), utf8('v'));
    expect(text(await store.get(utf8('k')))).toBe('v');
  });
});
