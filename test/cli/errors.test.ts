import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fixtureCache, makeStore, removeScratch, runCli, runJson, scratchDir } from './cli-helpers.js';

afterEach(removeScratch);

describe('opening the store', () => {
  it.each([
    ['info'],
    ['ls'],
    ['show', 'physics.energy', 'ab'],
    ['stats'],
    ['verify'],
    ['export', 'out.cbor'],
    ['rm', 'physics.energy', '--yes'],
    ['prune', '--stale-versions'],
    ['backup', 'copy'],
  ])('%s on a path with no store exits 2 with "no store at <path>" and creates nothing', async (...args) => {
    const missing = join(scratchDir(), 'nothing-here');
    const run = await runCli([...args, '--store', missing]);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(`memostrata: no store at ${missing}\n`);
    expect(run.stdout).toBe('');
    expect(existsSync(missing)).toBe(false);
  });

  it('diff refuses a missing second store without creating it', async () => {
    const store = join(scratchDir(), 'store');
    await makeStore(store);
    const missing = join(scratchDir(), 'absent');
    const run = await runCli(['diff', store, missing]);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(`memostrata: no store at ${missing}\n`);
    expect(existsSync(missing)).toBe(false);
  });

  it('uses ./.memostrata by default, and the config file named by MEMOSTRATA_CONFIG', async () => {
    const cwd = scratchDir();
    await makeStore(join(cwd, '.memostrata'));
    const byDefault = await runJson(['info'], { cwd });
    expect(byDefault.json.store).toBe(join(cwd, '.memostrata'));
    const configDir = scratchDir();
    await makeStore(join(configDir, 'runs', 'cache'));
    writeFileSync(join(configDir, 'memostrata.json'), JSON.stringify({ path: 'runs/cache' }));
    const fromEnv = await runJson(['info'], { cwd, env: { MEMOSTRATA_CONFIG: join(configDir, 'memostrata.json') } });
    expect(fromEnv.json.store).toBe(join(configDir, 'runs', 'cache'));
    const fromOption = await runJson(['info', '--config', join(configDir, 'memostrata.json')], { cwd });
    expect(fromOption.json.store).toBe(join(configDir, 'runs', 'cache'));
  });

  it('refuses a configuration that names an in-memory store (exit 2)', async () => {
    const dir = scratchDir();
    writeFileSync(join(dir, 'memory.json'), JSON.stringify({ backend: { type: 'memory' } }));
    const run = await runCli(['info', '--config', join(dir, 'memory.json')]);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      `memostrata: the store configured by --config ${join(dir, 'memory.json')} is in memory (backend.type 'memory'); the CLI works on a LevelDB, LMDB or Redis store: pass --store <path>, or --config <file> naming one of those\n`,
    );
  });

  it('reports a store held by another process as LOCKED (exit 2), in one line without a stack', async () => {
    const store = join(scratchDir(), 'store');
    await makeStore(store);
    const holder = await fixtureCache(store);
    try {
      const run = await runCli(['info', '--store', store]);
      expect(run.code).toBe(2);
      // The holder is this test's process: the message names it.
      expect(run.stderr).toMatch(
        new RegExp(`^memostrata: The store at ${store} is in use by another process: process ${process.pid} on \\S+ \\(holding it since [^)]+\\)\\. Wait for that process to finish \\(or stop it\\), or open a different path\\. .*for parallel jobs on one store use Redis.*\\n$`),
      );
      const json = await runJson(['ls', '--store', store]);
      expect(json.code).toBe(2);
      expect(json.json).toEqual({ error: { code: 'LOCKED', message: expect.stringContaining('in use by another process'), exitCode: 2 } });
    } finally {
      await holder.close();
    }
    expect((await runCli(['info', '--store', store])).code).toBe(0);
  });

  it('shows the stack trace, with its cause, only under --debug', async () => {
    const store = join(scratchDir(), 'store');
    await makeStore(store);
    const holder = await fixtureCache(store);
    try {
      const run = await runCli(['stats', '--store', store, '--debug']);
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/^memostrata: The store at .* is in use by another process: .*\nMemostrataError: /);
      expect(run.stderr).toMatch(/\n {4}at .*level-backend\.js/);
      expect(run.stderr).toContain('caused by:');
    } finally {
      await holder.close();
    }
  });

  it('refuses a path that holds something other than a store (exit 2)', async () => {
    const dir = join(scratchDir(), 'not-a-store');
    mkdirSync(dir);
    writeFileSync(join(dir, 'notes.txt'), 'hello');
    const run = await runCli(['info', dir]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^memostrata: .*not-a-store.*\n$/);
  });
});

describe('usage', () => {
  it.each([
    [['frobnicate'], "memostrata: unknown command 'frobnicate'"],
    [['ls', '--colour'], "memostrata: unknown option '--colour'"],
    [['show', 'physics.energy'], "memostrata: missing required argument 'digest-prefix'"],
    [['ls', '--limit', '-3'], "memostrata: --limit takes a whole number >= 0; got '-3'"],
  ])('%j exits 2 with one line', async (args, message) => {
    const run = await runCli(args);
    expect(run.code).toBe(2);
    expect(run.stderr.split('\n')[0]).toBe(message);
    expect(run.stderr).not.toMatch(/\n {4}at /);
  });

  it('prints help and the version with exit 0', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    for (const command of ['info', 'ls', 'show', 'stats', 'rm', 'clear', 'prune', 'verify', 'backup', 'restore', 'diff', 'export', 'import']) {
      expect(help.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
    }
    const version = await runCli(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });

  it('writes no progress bar when stderr is not a terminal', async () => {
    const store = join(scratchDir(), 'store');
    await makeStore(store);
    const run = await runCli(['verify', '--store', store]);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
  });
});

describe('errors as JSON', () => {
  it('gives usage mistakes code USAGE on stdout with --json', async () => {
    const unknown = await runJson(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.json).toEqual({ error: { code: 'USAGE', message: "unknown command 'frobnicate'", exitCode: 2 } });
    const missing = join(scratchDir(), 'nothing-here');
    const absent = await runJson(['info', '--store', missing]);
    expect(absent.code).toBe(2);
    expect(absent.json).toEqual({ error: { code: 'USAGE', message: `no store at ${missing}`, exitCode: 2 } });
  });
});

describe('paths under a regular file', () => {
  it.each([
    ['import', (file: string, store: string, exported: string) => ['import', exported, '--store', join(file, 'sub')]],
    ['backup', (file: string, store: string) => ['backup', join(file, 'sub'), '--store', store]],
    ['restore', (file: string, store: string) => ['restore', store, join(file, 'sub')]],
    ['export', (file: string, store: string) => ['export', join(file, 'out.cbor'), '--store', store]],
  ])('%s reports CONFIG naming the file, not an internal error', async (_command, args) => {
    const directory = scratchDir();
    const store = join(directory, 'store');
    await makeStore(store);
    const exported = join(directory, 'store.cbor');
    expect((await runCli(['export', exported, '--store', store])).code).toBe(0);
    const file = join(directory, 'afile.txt');
    writeFileSync(file, 'text');
    const run = await runJson(args(file, store, exported));
    expect(run.code).toBe(2);
    expect(run.json.error).toMatchObject({ code: 'CONFIG', message: expect.stringContaining(`${file} is a file`) });
    expect(run.stderr).not.toContain('unexpected error');
  });

  it('import into a store under /proc is refused with CONFIG instead of spinning forever', async () => {
    const directory = scratchDir();
    const store = join(directory, 'store');
    await makeStore(store);
    const exported = join(directory, 'store.cbor');
    expect((await runCli(['export', exported, '--store', store])).code).toBe(0);
    const run = await runJson(['import', exported, '--store', '/proc/memostrata-nope/store']);
    expect(run.code).toBe(2);
    expect(run.json.error).toMatchObject({ code: 'CONFIG', message: expect.stringContaining('/proc/memostrata-nope') });
  });
});
