import { tokenizer } from 'acorn';
import fc from 'fast-check';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { normalizedSource } from '../../src/cache/fingerprint.js';
import { openedCaches, storedRecords } from '../helpers/open-caches.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';

const open = openedCaches();
afterAll(removeTempDirs);

/** A function made from source text, as a bundler or `node` would load it: toString gives that text back. */
function fromSource<F = (...args: never[]) => unknown>(source: string): F {
  return new Function(`return (${source});`)() as F;
}

/** The version `version: 'auto'` gives `fn` (with `uses`) in a fresh in-memory cache. */
async function autoVersionOf(fn: (...args: never[]) => unknown, uses?: unknown[]): Promise<string> {
  const cache = await open();
  return cache.memoize('f', fn, { version: 'auto', ...(uses === undefined ? {} : { uses }) }).version;
}

/** The version of code given as source: a function memoized itself, a class through uses (it cannot be memoized). */
function versionOfSource(source: string): Promise<string> {
  const code = fromSource(source);
  return source.startsWith('class') ? autoVersionOf(() => 0, [code]) : autoVersionOf(code);
}

const sources = [
  `function energy(atoms, scale) { let total = 0; for (const charge of atoms) total += charge * charge; return total * scale; }`,
  `async (mesh, { tolerance = 1e-6, label = 'run' } = {}) => { const nodes = mesh.nodes.map((node) => node * 2); if (nodes.length === 0) throw new Error("empty"); return { label, sum: nodes.reduce((a, b) => a + b, 0) / tolerance }; }`,
  `function* walk(tree) { let depth = 0; while (tree !== null) { yield [depth++, tree.value]; tree = tree.next; } return \`done after \${depth}\`; }`,
  `class Model { #scale = 3; fit(xs) { return xs.map((x) => x * this.#scale).filter((y) => y > 0 ? true : false); } static of() { return new Model(); } }`,
];

/** Tokens after which (or before which) a line break changes meaning: the separator there stays on one line. */
const INLINE_ONLY_AFTER = new Set(['return', 'break', 'continue', 'throw', 'yield', 'async']);
const INLINE_ONLY_BEFORE = new Set(['++', '--', '=>']);

/**
 * Rewrites `source` without changing its meaning: other whitespace and
 * comments between tokens, and string literals in the other quote style.
 */
function reformat(source: string, separators: readonly string[], inlineSeparators: readonly string[], quoteFlips: readonly boolean[]): string {
  const tokens = [...tokenizer(source, { ecmaVersion: 'latest' })];
  let out = '';
  tokens.forEach((token, index) => {
    const text = source.slice(token.start, token.end);
    const value = (token as { value?: unknown }).value;
    // Inside a template literal the text between tokens is the string itself.
    const inTemplateText = ['`', 'template'].includes(token.type.label) || ['`', 'template'].includes(tokens[index - 1]?.type.label ?? '');
    if (index > 0 && !inTemplateText) {
      const previous = tokens[index - 1] as { value?: unknown; type: { label: string } };
      const inline = INLINE_ONLY_AFTER.has(String(previous.value ?? previous.type.label)) || INLINE_ONLY_BEFORE.has(String(value ?? token.type.label));
      out += inline ? inlineSeparators[index % inlineSeparators.length] : separators[index % separators.length];
    }
    const flip = token.type.label === 'string' && quoteFlips[index % quoteFlips.length] === true;
    out += flip ? (text.startsWith('"') ? `'${String(value)}'` : JSON.stringify(value)) : text;
  });
  return out;
}

describe("version: 'auto'", () => {
  it('gives formatting-only rewrites of a function the same version (whitespace, comments, quote style)', async () => {
    const separator = fc.constantFrom(' ', '  ', '\n', '\n\t\t', ' /* note */ ', ' // note\n', ' /**\n * doc\n */ ');
    const inlineSeparator = fc.constantFrom(' ', '\t', ' /* note */ ');
    const originals = await Promise.all(sources.map(versionOfSource));
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: sources.length - 1 }),
        fc.array(separator, { minLength: 1, maxLength: 20 }),
        fc.array(inlineSeparator, { minLength: 1, maxLength: 5 }),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 5 }),
        async (which, separators, inlineSeparators, flips) => {
          const rewritten = reformat(sources[which]!, separators, inlineSeparators, flips);
          expect(normalizedSource(fromSource(rewritten))).toBe(normalizedSource(fromSource(sources[which]!)));
          expect(await versionOfSource(rewritten)).toBe(originals[which]);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('gives a function a new version when any literal or name in it changes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: sources.length - 1 }), fc.nat(), (which, pick) => {
        const source = sources[which]!;
        const contextual = new Set(['let', 'of', 'async', 'static', 'await', 'yield', 'get', 'set']);
        const tokens = [...tokenizer(source, { ecmaVersion: 'latest' })].filter(
          (token) => ['name', 'num', 'string'].includes(token.type.label) && !contextual.has(String((token as { value?: unknown }).value)),
        );
        const token = tokens[pick % tokens.length]!;
        const replacement = token.type.label === 'num' ? '7' : token.type.label === 'string' ? "'other'" : 'renamed';
        const changed = source.slice(0, token.start) + replacement + source.slice(token.end);
        expect(normalizedSource(fromSource(changed))).not.toBe(normalizedSource(fromSource(source)));
      }),
      { numRuns: 60 },
    );
  });

  it('ignores a trailing comma and the parentheses of a lone arrow parameter, but not the holes commas make', () => {
    const same = (a: string, b: string) => normalizedSource(fromSource(a)) === normalizedSource(fromSource(b));
    expect(same('(a, b,) => [a, b,]', '(a, b) => [a, b]')).toBe(true);
    expect(same('(x) => x', 'x => x')).toBe(true);
    expect(same('() => [,]', '() => []')).toBe(false);
    expect(same('() => [1,,]', '() => [1,]')).toBe(false);
    expect(same('() => 1.0', '() => 1')).toBe(true);
  });

  it('counts a line break where it changes meaning: after return, before ++', () => {
    const same = (a: string, b: string) => normalizedSource(fromSource(a)) === normalizedSource(fromSource(b));
    expect(same('function f(x) { return x }', 'function f(x) { return\nx }')).toBe(false);
    expect(same('function f(x, y) { x\n++y }', 'function f(x, y) { x++\ny }')).toBe(false);
    expect(same('function f(x) { return x +\n1 }', 'function f(x) { return x + 1 }')).toBe(true);
  });

  it('is stored as auto:<16 hex> in each record, and a code edit gives a new one', async () => {
    const cache = await open();
    const square = cache.memoize('square', (x: number) => x * x, { version: 'auto' });
    expect(square.version).toMatch(/^auto:[0-9a-f]{16}$/);
    expect(square.fingerprint).toBe(`square@${square.version}`);
    await square(3);
    await cache.checkpoint();
    expect((await storedRecords(cache, 'square')).map((record) => record.version)).toEqual([square.version]);
    expect(await autoVersionOf((x: number) => x * x * x)).not.toBe(square.version);
  });

  it('changes when a function or a constant listed in uses changes, and not when its comments do', async () => {
    const scale = (x: number) => x * 2;
    const energy = (x: number) => scale(x) + 1;
    const base = await autoVersionOf(energy, [scale, { factor: 2 }]);
    expect(await autoVersionOf(energy)).not.toBe(base);
    expect(await autoVersionOf(energy, [fromSource('(x) => x * 3'), { factor: 2 }])).not.toBe(base);
    expect(await autoVersionOf(energy, [scale, { factor: 3 }])).not.toBe(base);
    expect(await autoVersionOf(energy, [fromSource('(x) => /* doubled */ x * 2'), { factor: 2 }])).toBe(base);
  });

  it('misses after a change to a function in uses, and hits its old entries again after the revert', async () => {
    const path = join(tempDir(), 'cache');
    let runs = 0;
    /** One run of a program whose memoized function calls `helper`, listed in uses. */
    const run = async (helperSource: string): Promise<{ result: number; version: string }> => {
      const helper = fromSource<(x: number) => number>(helperSource);
      const cache = await open(path);
      const compute = cache.memoize('uses.helper', (x: number) => ((runs += 1), helper(x)), { version: 'auto', uses: [helper] });
      const result = await compute(5);
      await cache.close();
      return { result, version: compute.version };
    };
    const first = await run('(x) => x * 2');
    expect(first.result).toBe(10);
    const changed = await run('(x) => x * 3');
    expect(changed.result).toBe(15);
    expect(changed.version).not.toBe(first.version);
    expect(runs).toBe(2);
    expect(await run('(x) => /* back to doubling */ x * 2')).toEqual(first);
    expect(runs).toBe(2);
  });

  it('includes the plain values, memoized functions and module-namespace-like objects listed in uses', async () => {
    const cache = await open();
    const helper = cache.memoize('helper', (x: number) => x + 1, { version: '1' });
    const helpers = Object.freeze(Object.assign(Object.create(null) as object, { shift: (x: number) => x - 1, table: [1, 2, 3] }));
    const fn = (x: number) => x;
    const version = await autoVersionOf(fn, [helper, helpers, 42, 'text', new Map([[1, 2]])]);
    expect(version).toMatch(/^auto:[0-9a-f]{16}$/);
    const otherCache = await open();
    const helper2 = otherCache.memoize('helper', (x: number) => x + 1, { version: '2' });
    expect(await autoVersionOf(fn, [helper2, helpers, 42, 'text', new Map([[1, 2]])])).not.toBe(version);
  });

  it('includes dependsOn', async () => {
    const cache = await open();
    const dep1 = cache.memoize('dep', (x: number) => x, { version: '1' });
    const fn = (x: number) => x;
    const with1 = cache.memoize('dependent', fn, { version: 'auto', dependsOn: [dep1] }).version;
    const other = await open();
    const dep2 = other.memoize('dep', (x: number) => x, { version: '2' });
    expect(other.memoize('dependent', fn, { version: 'auto', dependsOn: [dep2] }).version).not.toBe(with1);
  });

  it('refuses a bound or built-in function with CONFIG, saying to list the original in uses or give a version', async () => {
    const cache = await open();
    const original = (x: number) => x + 1;
    expect(() => cache.memoize('bound', original.bind(null), { version: 'auto' })).toThrow(
      expect.objectContaining({ code: 'CONFIG', message: expect.stringMatching(/bound function.*listed in uses.*explicit version/) }),
    );
    expect(() => cache.memoize('native', Math.max, { version: 'auto' })).toThrow(expect.objectContaining({ code: 'CONFIG', message: expect.stringContaining('built-in function (max)') }));
    expect(() => cache.memoize('uses.bound', original, { version: 'auto', uses: [original.bind(null)] })).toThrow(
      expect.objectContaining({ code: 'CONFIG', message: expect.stringMatching(/uses\[0\] cannot be fingerprinted.*List the original function in uses/) }),
    );
    // A bound function wrapped in an arrow, with the original listed: fine.
    expect(cache.memoize('wrapped', (x: number) => original(x), { version: 'auto', uses: [original] }).version).toMatch(/^auto:/);
  });

  it('fingerprints methods, classes, arrow and async functions', async () => {
    class Solver {
      solve(x: number): number {
        return x * 2;
      }
      static create(): Solver {
        return new Solver();
      }
    }
    const solver = new Solver();
    for (const fn of [solver.solve, Solver.create, async (x: number) => x, function* gen() {}]) {
      expect(await autoVersionOf(fn as (...args: never[]) => unknown, [Solver])).toMatch(/^auto:[0-9a-f]{16}$/);
    }
    expect(await autoVersionOf(solver.solve)).not.toBe(await autoVersionOf(Solver.create));
  });

  it('refuses a class as the function (it cannot be called without new), saying how to memoize one', async () => {
    const cache = await open();
    class Model {}
    expect(() => cache.memoize('model', Model as unknown as () => Model, { version: 'auto' })).toThrow(
      expect.objectContaining({ code: 'CONFIG', message: expect.stringContaining('(...args) => new Model(...args), with Model listed in uses') }),
    );
    expect(cache.memoize('model', () => new Model(), { version: 'auto', uses: [Model] }).version).toMatch(/^auto:/);
  });

  it('refuses uses with a class instance, uses without version auto, and an explicit version that looks like a fingerprint', async () => {
    const cache = await open();
    class Opaque {}
    expect(() => cache.memoize('a', (x: number) => x, { version: 'auto', uses: [new Opaque()] })).toThrow(
      expect.objectContaining({ code: 'CONFIG', message: expect.stringContaining('uses[0] is neither a function nor a plain value') }),
    );
    expect(() => cache.memoize('b', (x: number) => x, { version: '2', uses: [Math] })).toThrow(
      expect.objectContaining({ code: 'CONFIG', message: expect.stringContaining("set version: 'auto'") }),
    );
    expect(() => cache.memoize('c', (x: number) => x, { version: 'auto:0123456789abcdef' })).toThrow(expect.objectContaining({ code: 'CONFIG' }));
    const cyclic: Record<string, unknown> = { f: (x: number) => x };
    cyclic['self'] = cyclic;
    expect(() => cache.memoize('d', (x: number) => x, { version: 'auto', uses: [cyclic] })).toThrow(
      expect.objectContaining({ code: 'CONFIG', message: expect.stringContaining('uses[0].self refers to itself') }),
    );
  });

  it('keeps explicit versions as they were', async () => {
    const cache = await open();
    expect(cache.memoize('n', (x: number) => x, { version: 3 }).version).toBe('3');
    expect(cache.memoize('s', (x: number) => x).version).toBe('1');
  });
});
