import { differencesOf, EXPLAIN_SCAN_LIMIT, storedRecords, type Difference, type ExplainedCall } from '../cache/explain.js';
import type { Store } from '../cache/store.js';
import type { MemoRecord } from '../layers/memo-record.js';

/*
 * Why a stored call's neighbours differ from it: the stored calls of the same
 * module closest to it, compared as explanations compare a call with the
 * store (src/cache/explain.ts), but record against record. A record keeps
 * neither the module's ignored positions nor its maxAge (those live in the
 * memoize options of a running process), so arguments are numbered by keyed
 * input and expiry is not judged.
 */

/** A stored call near another, and what differs. */
export interface Neighbour {
  /** Its call digest (hex). */
  call: string;
  /** The module version it was computed with. */
  version: string;
  /** When it was stored (ms since the epoch). */
  createdAt: number;
  /**
   * What differs from the call compared with. An `'argument'` difference's
   * `position` is the index among keyed inputs (the argument position when
   * the module ignores none); never `'expired'`.
   */
  differences: Difference[];
}

/** What {@link neighboursOf} found. */
export interface Neighbours {
  /** The nearest stored calls, fewest differences first, then newest first. */
  neighbours: Neighbour[];
  /** Stored calls compared. */
  scanned: number;
  /** Whether the scan stopped at {@link EXPLAIN_SCAN_LIMIT} before the module's last stored call. */
  truncated: boolean;
}

/** Options of {@link neighboursOf}. */
export interface NeighboursOptions {
  /**
   * How many neighbours to return at most.
   * @default 5
   */
  limit?: number;
}

/**
 * The stored calls of `record`'s module nearest to it (itself excluded), and
 * how each differs, comparing content UUIDs only: no value is loaded. At
 * most {@link EXPLAIN_SCAN_LIMIT} records are compared, as for an explanation.
 */
export async function neighboursOf(store: Store, record: MemoRecord, options: NeighboursOptions = {}): Promise<Neighbours> {
  const limit = options.limit ?? 5;
  const asCall = callOf(record);
  const found: Neighbour[] = [];
  let scanned = 0;
  let truncated = false;
  for await (const other of storedRecords(store, record.module)) {
    if (other.call === record.call) continue;
    if (scanned >= EXPLAIN_SCAN_LIMIT) {
      truncated = true;
      break;
    }
    scanned += 1;
    // maxAge is Infinity here, so `now` never matters.
    const differences = differencesOf(other, asCall, 0).map((difference) => relabel(difference, other, record));
    found.push({ call: other.call, version: other.version, createdAt: other.createdAt, differences });
    found.sort(nearerFirst);
    if (found.length > limit) found.pop();
  }
  return { neighbours: found, scanned, truncated };
}

function nearerFirst(a: Neighbour, b: Neighbour): number {
  return a.differences.length - b.differences.length || b.createdAt - a.createdAt;
}

/** A stored record as the call an explanation compares with, with nothing ignored and no expiry. */
function callOf(record: MemoRecord): ExplainedCall {
  return {
    module: record.module,
    version: record.version,
    deps: record.deps,
    call: record.call,
    args: new Map(),
    inputs: record.inputs,
    positions: record.inputs.map((_, index) => index),
    ignore: new Set(),
    maxAgeMs: Infinity,
    cacheErrors: true,
  };
}

/** Explanations say "stored … now …"; here both sides are stored, so name them. */
function relabel(difference: Difference, neighbour: MemoRecord, record: MemoRecord): Difference {
  if (difference.kind === 'version' || difference.kind === 'code') return { ...difference, detail: `this call ${JSON.stringify(record.version)}, neighbour ${JSON.stringify(neighbour.version)}` };
  if (difference.kind === 'dependency') return { ...difference, detail: `this call ${JSON.stringify(record.deps)}, neighbour ${JSON.stringify(neighbour.deps)}` };
  if (difference.kind === 'argument') {
    const detail = difference.detail === 'the stored call has no such argument' ? 'the neighbour has no such argument' : difference.detail === 'this call has no such argument' ? 'this call has no such argument' : 'other content';
    return { ...difference, detail };
  }
  return difference;
}
