import { SORT_KEYS, type PageQuery, type SortKey } from './entry-index.js';
import { HttpError } from './http.js';

/*
 * The query parameters of the entry listing, validated: a page is bounded,
 * every value has its form, and an unknown parameter is an error rather
 * than silently ignored (a typo would otherwise show the wrong entries).
 */

/** Entries one page holds at most. */
export const MAX_PAGE_SIZE = 500;
/** Entries a page holds when the request does not say. */
export const DEFAULT_PAGE_SIZE = 50;
/** Largest offset accepted. */
const MAX_OFFSET = 1_000_000_000;

const KNOWN = new Set(['offset', 'limit', 'sort', 'order', 'call', 'version', 'status', 'refresh', 'token']);

/** A page query and whether the index should be rebuilt first. */
export interface ListingQuery extends PageQuery {
  refresh: boolean;
}

/** Parses the query of `GET /api/modules/:module/entries`. @throws HttpError 400. */
export function parseListingQuery(params: URLSearchParams): ListingQuery {
  for (const name of params.keys()) {
    if (!KNOWN.has(name)) throw badRequest(`Unknown query parameter ${JSON.stringify(name)}; known: ${[...KNOWN].filter((known) => known !== 'token').join(', ')}.`);
  }
  const sort = one(params, 'sort') ?? 'call';
  if (!(SORT_KEYS as readonly string[]).includes(sort)) throw badRequest(`sort is one of ${SORT_KEYS.join(', ')}; got ${JSON.stringify(sort)}.`);
  const order = one(params, 'order') ?? 'asc';
  if (order !== 'asc' && order !== 'desc') throw badRequest(`order is asc or desc; got ${JSON.stringify(order)}.`);
  const call = (one(params, 'call') ?? '').toLowerCase();
  if (!/^[0-9a-f]{0,32}$/.test(call)) throw badRequest(`call is up to 32 hex digits (the start of a call digest); got ${JSON.stringify(call)}.`);
  const version = one(params, 'version');
  if (version !== undefined && version.length > 200) throw badRequest('version is at most 200 characters.');
  const status = one(params, 'status');
  if (status !== undefined && status !== 'ok' && status !== 'error') throw badRequest(`status is ok or error; got ${JSON.stringify(status)}.`);
  const refresh = one(params, 'refresh');
  if (refresh !== undefined && refresh !== '1' && refresh !== '0') throw badRequest(`refresh is 1 or 0; got ${JSON.stringify(refresh)}.`);
  return {
    sort: sort as SortKey,
    descending: order === 'desc',
    offset: integer(params, 'offset', 0, 0, MAX_OFFSET),
    limit: integer(params, 'limit', DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE),
    ...(call === '' ? {} : { callPrefix: call }),
    ...(version === undefined ? {} : { version }),
    ...(status === undefined ? {} : { status }),
    refresh: refresh === '1',
  };
}

/** A 400 error with code `BAD_REQUEST`. */
export function badRequest(message: string): HttpError {
  return new HttpError(400, 'BAD_REQUEST', message);
}

/** A call digest from a path: exactly 32 hex digits. @throws HttpError 400. */
export function parseCall(text: string): string {
  if (!/^[0-9a-fA-F]{32}$/.test(text)) throw badRequest(`A call digest is 32 hex digits; got ${JSON.stringify(text.slice(0, 80))}.`);
  return text.toLowerCase();
}

function one(params: URLSearchParams, name: string): string | undefined {
  const values = params.getAll(name);
  if (values.length > 1) throw badRequest(`${name} is given ${values.length} times; give it once.`);
  return values[0];
}

function integer(params: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
  const text = one(params, name);
  if (text === undefined) return fallback;
  const value = /^\d{1,10}$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= min && value <= max)) throw badRequest(`${name} is a whole number from ${min} to ${max}; got ${JSON.stringify(text.slice(0, 40))}.`);
  return value;
}

/**
 * Parses a query that takes at most one bounded whole number, `name`
 * (`depth` of a lineage, `limit` of neighbours); any other parameter is an
 * error, as in the listing. @throws HttpError 400.
 */
export function parseBoundedQuery(params: URLSearchParams, name: string, fallback: number, max: number): number {
  for (const key of params.keys()) {
    if (key !== name && key !== 'token') throw badRequest(`Unknown query parameter ${JSON.stringify(key)}; known: ${name}.`);
  }
  return integer(params, name, fallback, 1, max);
}

/**
 * Parses the query of `GET /api/modules/:module/entries/:call`: `full=1`
 * reads large arrays whole (`0`, the default, samples the very large ones).
 * @throws HttpError 400.
 */
export function parseEntryQuery(params: URLSearchParams): boolean {
  for (const key of params.keys()) {
    if (key !== 'full' && key !== 'token') throw badRequest(`Unknown query parameter ${JSON.stringify(key)}; known: full.`);
  }
  const full = one(params, 'full');
  if (full !== undefined && full !== '1' && full !== '0') throw badRequest(`full is 1 or 0; got ${JSON.stringify(full.slice(0, 40))}.`);
  return full === '1';
}
