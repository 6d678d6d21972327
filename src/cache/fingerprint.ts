/**
 * Code fingerprints: what `version: 'auto'` and a `key` normalizer key a
 * module by.
 *
 * A function's fingerprint is a digest of its **normalized source**: the
 * text `Function.prototype.toString` gives at run time (after any
 * transpiler: under tsx or esbuild it is the emitted JavaScript), cut into
 * tokens by acorn's tokenizer. Comments and whitespace are not tokens, so
 * they never count. Each token counts by its kind and its value, so the
 * spelling of a literal does not count either (`'a'` and `"a"`, `1.0` and
 * `1`). Two formatting habits that cannot change what code means are
 * undone: a trailing comma before a closing bracket (`f(a, b,)`), and
 * parentheses around a lone arrow parameter (`(x) => x`). Everything else
 * counts, semicolons and braces included. Line breaks count only where the
 * language gives them meaning (its "restricted productions": after `return`,
 * `break`, `continue`, `throw`, `yield` and `async`, before `++`, `--` and
 * `=>`): `return\nx` returns nothing, `return x` returns x.
 *
 * @module
 */
import { tokenizer, type Token } from 'acorn';
import { isMemostrataError } from '../errors.js';
import { digestToHex, type Digester } from '../layers/digest.js';
import { configError } from './memoized-module.js';

/** The `version` that asks for a fingerprint of the code. */
export const AUTO_VERSION = 'auto';

/** What every fingerprinted version starts with (then 16 lowercase hex digits). */
export const AUTO_PREFIX = 'auto:';

/** Changes whenever a fingerprint of unchanged code would change: old entries then miss rather than risk a wrong hit. */
const FINGERPRINT_FORMAT = 'memostrata/fingerprint/1';

const encoder = new TextEncoder();

/** A function's source as `toString` gives it, or `undefined` when it has none (bound and built-in functions). */
function sourceOf(fn: (...args: never[]) => unknown): string | undefined {
  const source = Function.prototype.toString.call(fn);
  return /\{\s*\[native code\]\s*\}\s*$/.test(source) ? undefined : source;
}

/** Thrown by {@link normalizedSource} for a function that cannot be fingerprinted; callers turn it into `CONFIG`. */
export class NoSourceError extends Error {}

/**
 * The token stream of `fn`'s source, one JSON-encoded `[kind, value]` per
 * token, joined by newlines: equal for sources that differ only in comments,
 * whitespace, quote style, number spelling, trailing commas and the
 * parentheses of a lone arrow parameter.
 *
 * @throws NoSourceError for a bound or built-in function, or source acorn cannot tokenize.
 */
export function normalizedSource(fn: (...args: never[]) => unknown): string {
  const source = sourceOf(fn);
  if (source === undefined) {
    throw new NoSourceError(fn.name.startsWith('bound ') ? `a bound function (${fn.name}) shows no source` : `a built-in function (${fn.name || 'anonymous'}) shows no source`);
  }
  const tokens: string[][] = [];
  try {
    let previous: Token | undefined;
    for (const token of tokenizer(source, { ecmaVersion: 'latest', allowHashBang: true })) {
      const described = describe(token, source);
      // A comment that spans lines is a line break too.
      if (previous !== undefined && breakMatters(previous, token) && LINE_BREAK.test(source.slice(previous.end, token.start))) described.push('after a line break');
      tokens.push(described);
      previous = token;
    }
  } catch (error) {
    throw new NoSourceError(`its source does not tokenize as JavaScript (${(error as Error).message})`);
  }
  return undoFormatting(tokens)
    .map((token) => JSON.stringify(token))
    .join('\n');
}

/** A token as kind and value; the value as written only where its spelling is meaning (template text, regular expressions). */
function describe(token: Token, source: string): string[] {
  const kind = token.type.label;
  const value = (token as Token & { value?: unknown }).value;
  // A tagged template sees the raw text (String.raw`\x61` is not String.raw`a`): keep it as written.
  if (kind === 'template' || kind === 'invalidTemplate' || kind === 'regexp') return [kind, source.slice(token.start, token.end)];
  if (value === undefined || value === null) return [kind];
  return [kind, typeof value === 'bigint' ? `${value}n` : String(value)];
}

const CLOSERS = new Set([')', ']', '}']);
const LINE_BREAK = /[\n\r\u2028\u2029]/;
/** Tokens after which a line break ends the statement or expression (`return`, `async`, …). */
const BREAK_AFTER = new Set(['return', 'break', 'continue', 'throw', 'yield', 'async']);
/** Tokens before which a line break changes the meaning (`a\n++b` is `a; ++b`) or is an error. */
const BREAK_BEFORE = new Set(['++', '--', '=>']);

/** Whether a line break between `previous` and `token` can change what the code means. */
function breakMatters(previous: Token, token: Token): boolean {
  const before = (previous as Token & { value?: unknown }).value ?? previous.type.label;
  const after = (token as Token & { value?: unknown }).value ?? token.type.label;
  return (typeof before === 'string' && BREAK_AFTER.has(before)) || (typeof after === 'string' && BREAK_BEFORE.has(after));
}

/**
 * Drops a comma that follows an element and precedes a closing bracket
 * (`[a,]` is `[a]`, but `[a,,]` and `[,]` keep theirs: they make holes), then
 * the parentheses around a lone arrow parameter (`(x) =>` is `x =>`).
 */
function undoFormatting(tokens: string[][]): string[][] {
  const commas: string[][] = [];
  tokens.forEach((token, index) => {
    const previous = commas.at(-1)?.[0];
    const next = tokens[index + 1]?.[0];
    const trailing = token[0] === ',' && next !== undefined && CLOSERS.has(next) && previous !== ',' && previous !== '[';
    if (!trailing) commas.push(token);
  });
  const out: string[][] = [];
  for (let i = 0; i < commas.length; i++) {
    const [open, name, close, arrow] = [commas[i], commas[i + 1], commas[i + 2], commas[i + 3]];
    if (open?.[0] === '(' && name?.[0] === 'name' && close?.[0] === ')' && arrow?.[0] === '=>') {
      out.push(name);
      i += 2;
    } else {
      out.push(commas[i]!);
    }
  }
  return out;
}

/** A memoized function (the result of `cache.memoize`): keyed by its identity, not by its wrapper's source. */
function memoizedIdentity(value: unknown): string | undefined {
  const identity = (value as { identity?: unknown }).identity;
  return typeof value === 'function' && typeof identity === 'string' && typeof (value as { moduleName?: unknown }).moduleName === 'string' ? identity : undefined;
}

/** Whether `value` is an object whose entries can be fingerprinted one by one: an array, a plain object, a module namespace. */
function isContainer(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as unknown;
  return Array.isArray(value) || proto === null || proto === Object.prototype || Object.prototype.toString.call(value) === '[object Module]';
}

/**
 * The fingerprint part of one entry of `uses` (at `path`): a function by its
 * normalized source, a memoized function by its identity, a plain value by
 * its canonical digest; an array, plain object or module namespace that holds
 * functions by its entries, in key order.
 */
function usePart(context: UseContext, value: unknown, path: string): string {
  const identity = memoizedIdentity(value);
  if (identity !== undefined) return `memoized ${identity}`;
  if (typeof value === 'function') {
    try {
      return `function ${normalizedSource(value as (...args: never[]) => unknown)}`;
    } catch (error) {
      if (!(error instanceof NoSourceError)) throw error;
      throw configError(context.module, `${path} cannot be fingerprinted: ${error.message}. List the original function in uses instead, or give an explicit version.`);
    }
  }
  return valuePart(context, value, path);
}

/** What fingerprinting the entries of `uses` carries along. */
interface UseContext {
  readonly module: string;
  readonly digester: Digester;
  /** The containers being walked: one met again is a cycle. */
  readonly seen: Set<object>;
}

function valuePart(context: UseContext, value: unknown, path: string): string {
  const { module, seen } = context;
  try {
    return `value ${digestToHex(context.digester.digest(value, path))}`;
  } catch (error) {
    if (!isMemostrataError(error, 'UNSERIALIZABLE')) throw error;
    if (value === null || typeof value !== 'object' || !isContainer(value)) {
      throw configError(module, `${path} is neither a function nor a plain value (${error.message}). List functions and plain data in uses, or give an explicit version.`);
    }
    if (seen.has(value)) throw configError(module, `${path} refers to itself; list what it holds in uses instead.`);
    seen.add(value);
    const keys = Object.keys(value).sort();
    const parts = keys.map((key) => `${JSON.stringify(key)}: ${usePart(context, (value as Record<string, unknown>)[key], `${path}.${key}`)}`);
    seen.delete(value);
    return `${Array.isArray(value) ? 'array' : 'object'} {\n${parts.join('\n')}\n}`;
  }
}

/** What {@link autoVersion} fingerprints. */
export interface FingerprintInput {
  /** The module name, for error messages. */
  module: string;
  /** The memoized function. */
  fn: (...args: never[]) => unknown;
  /** The `uses` option: helpers and constants the function relies on. */
  uses: readonly unknown[];
  /** Identities (hex) of the `dependsOn` modules, sorted. */
  depIdentities: readonly string[];
}

/**
 * The version `version: 'auto'` gives a module: `auto:` and the first 16
 * hex digits of the digest of the function's normalized source, of each
 * entry of `uses` and of the dependencies' identities.
 *
 * @throws MemostrataError `CONFIG` when the function or an entry of `uses`
 *   cannot be fingerprinted (a bound or built-in function, a class instance).
 */
export function autoVersion(digester: Digester, input: FingerprintInput): string {
  let source: string;
  try {
    source = normalizedSource(input.fn);
  } catch (error) {
    if (!(error instanceof NoSourceError)) throw error;
    throw configError(
      input.module,
      `version 'auto' needs the function's source, but ${error.message}. Memoize a function written in JavaScript (for a bound one: (...args) => original(...args), with original listed in uses), or give an explicit version.`,
    );
  }
  if (source.startsWith('["class","class"]')) {
    const name = input.fn.name || 'Model';
    throw configError(input.module, `${name} is a class, which cannot be called without new; memoize a function that makes one, such as (...args) => new ${name}(...args), with ${name} listed in uses.`);
  }
  const context: UseContext = { module: input.module, digester, seen: new Set() };
  const uses = input.uses.map((value, index) => usePart(context, value, `uses[${index}]`));
  const parts = [FINGERPRINT_FORMAT, source, String(uses.length), ...uses, input.depIdentities.join(',')];
  return `${AUTO_PREFIX}${digestToHex(digester.digestParts(parts.map((part) => encoder.encode(part)))).slice(0, 16)}`;
}

/**
 * The fingerprint (32 hex digits) of a `key` normalizer's normalized source:
 * part of the module's identity, so that keys one normalizer made are never
 * read as keys of another (`x => [Math.round(x * 100)]` and
 * `x => [Math.round(x * 10)]` both give `[12]`, for 0.12 and for 1.2).
 *
 * @throws MemostrataError `CONFIG` for a bound or built-in normalizer.
 */
export function keyFingerprint(digester: Digester, module: string, normalizer: (...args: never[]) => unknown): string {
  try {
    return digestToHex(digester.digestParts([encoder.encode(FINGERPRINT_FORMAT), encoder.encode(normalizedSource(normalizer))]));
  } catch (error) {
    if (!(error instanceof NoSourceError)) throw error;
    throw configError(module, `the key normalizer cannot be fingerprinted: ${error.message}. Pass a function written in JavaScript, such as (...args) => normalize(...args).`);
  }
}
