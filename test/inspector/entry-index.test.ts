import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { MemoRecord } from '../../src/layers/memo-record.js';
import { EntryIndex, SORT_KEYS, type PageQuery, type SortKey } from '../../src/inspector/entry-index.js';

async function* stream(records: readonly MemoRecord[]): AsyncGenerator<MemoRecord> {
  yield* records;
}

const recordArbitrary = fc.record({
  call: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((bytes) => Buffer.from(bytes).toString('hex')),
  version: fc.constantFrom('1', '2', 'v3'),
  createdAt: fc.integer({ min: 1, max: 50 }),
  lastHitAt: fc.constantFrom(0, 10, 20),
  hits: fc.integer({ min: 0, max: 4 }),
  size: fc.integer({ min: 0, max: 5 }),
  computeMs: fc.constantFrom(0.5, 1, 2),
  error: fc.boolean(),
});

/** Records in key order (by call digest), as a module's listing yields them. */
const recordsArbitrary = fc.uniqueArray(recordArbitrary, { selector: (record) => record.call, maxLength: 60 }).map((rows) =>
  rows
    .sort((a, b) => (a.call < b.call ? -1 : 1))
    .map(({ error, ...row }): MemoRecord => ({ module: 'm', deps: '', inputs: [], ...row, ...(error ? { error: { name: 'Error', message: 'no' } } : { result: '00000000-0000-5000-8000-000000000000' }) })),
);

const field: Record<SortKey, (record: MemoRecord) => number | string> = {
  call: (record) => record.call,
  version: (record) => record.version,
  created: (record) => record.createdAt,
  lastHit: (record) => record.lastHitAt,
  hits: (record) => record.hits,
  size: (record) => record.size,
  compute: (record) => record.computeMs,
  saved: (record) => record.hits * record.computeMs,
};

/** The obvious model: filter, stable sort ascending, reverse for descending, slice. */
function modelPage(records: readonly MemoRecord[], query: PageQuery): { matched: number; calls: string[] } {
  const kept = records.filter(
    (record) =>
      (query.callPrefix === undefined || record.call.startsWith(query.callPrefix)) &&
      (query.version === undefined || record.version === query.version) &&
      (query.status === undefined || (record.error === undefined) === (query.status === 'ok')),
  );
  const get = field[query.sort];
  const sorted = [...kept].sort((a, b) => (get(a) < get(b) ? -1 : get(a) > get(b) ? 1 : 0));
  if (query.descending) sorted.reverse();
  return { matched: kept.length, calls: sorted.slice(query.offset, query.offset + query.limit).map((record) => record.call) };
}

describe('the entry index of a module', () => {
  it('pages, sorts and filters exactly as sorting and filtering every record would', async () => {
    await fc.assert(
      fc.asyncProperty(
        recordsArbitrary,
        fc.record({
          sort: fc.constantFrom(...SORT_KEYS),
          descending: fc.boolean(),
          offset: fc.integer({ min: 0, max: 70 }),
          limit: fc.integer({ min: 1, max: 25 }),
          callPrefix: fc.option(fc.constantFrom('', '0', 'a', '7f', 'c3a'), { nil: undefined }),
          version: fc.option(fc.constantFrom('1', 'v3', 'missing'), { nil: undefined }),
          status: fc.option(fc.constantFrom('ok' as const, 'error' as const), { nil: undefined }),
        }),
        async (records, query) => {
          const index = await EntryIndex.build(stream(records), 4);
          const page = index.page(query);
          const model = modelPage(records, { ...query, callPrefix: query.callPrefix === '' ? undefined : query.callPrefix });
          expect(page.total).toBe(records.length);
          expect(page.matched).toBe(model.matched);
          expect(page.rows.map((row) => row.call)).toEqual(model.calls);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('gives each row the figures of its record, with the time it saved', async () => {
    const record: MemoRecord = { module: 'm', version: '7', deps: '', call: 'ab'.repeat(16), inputs: [], result: '00000000-0000-5000-8000-000000000000', createdAt: 5, computeMs: 2.5, size: 99, hits: 4, lastHitAt: 9 };
    const index = await EntryIndex.build(stream([record]));
    expect(index.page({ sort: 'call', descending: false, offset: 0, limit: 10 }).rows).toEqual([
      { call: record.call, version: '7', createdAt: 5, lastHitAt: 9, hits: 4, size: 99, computeMs: 2.5, savedMs: 10, error: false },
    ]);
  });
});
