import type { BatchOperation, Database, WriteStage } from '../contract/database.js';
import type { PerModuleObjectDatabase } from '../layers/per-module-object-database.js';
import type { Store } from './store.js';

/**
 * Entries per part of a staged flush: each part's operations are built,
 * encoded and handed to the backend before the next part is prepared, so a
 * checkpoint holds about this many entries' operations in JavaScript at once.
 */
export const FLUSH_PART_ENTRIES = 5_000;

/** A backend that can hold a batch across several calls (see `WriteOptions.stage`). */
interface Stageable {
  openStage(): WriteStage;
}

/**
 * A stage to write a flush of `store` into, or `undefined` where the flush
 * must be one batch: the backend cannot stage, a byte layer sits between
 * (it might not pass the stage down), or user types are registered (the
 * codec's type record is read and rewritten by every batch that meets a new
 * type name, and a staged rewrite is not visible to the next part's read).
 */
export function openFlushStage(store: Store): WriteStage | undefined {
  if (store.byteLayers.length > 0 || store.readOnly || !canStage(store.backend)) return undefined;
  if (store.types.names().length > 0) return undefined;
  return store.backend.openStage();
}

function canStage(backend: Database<Uint8Array, Uint8Array>): backend is Database<Uint8Array, Uint8Array> & Stageable {
  return typeof (backend as Partial<Stageable>).openStage === 'function';
}

/** What a staged flush did, for the caller to finish once the stage is committed. */
export interface StagedFlush {
  /** Marks every written entry and value done: run once the stage is committed. */
  commit(): void;
  /** The UUIDs of the values written. */
  uuids: string[];
  /** Whether any record was written. */
  wroteRecords: boolean;
}

/** Thrown when a part of a staged flush fails: the error, with the operations of that part (to find what could not be stored). */
export class StagedPartError extends Error {
  readonly operations: readonly BatchOperation<Uint8Array, unknown>[];

  constructor(cause: unknown, operations: readonly BatchOperation<Uint8Array, unknown>[]) {
    super('a part of a staged flush failed', { cause });
    this.operations = operations;
  }
}

/**
 * Stages every dirty entry of `databases` into `stage`, part by part (values
 * before the records that name them), without committing it. A value that
 * several entries or modules share is staged once. Also stops, with
 * `undefined`, when user types get registered meanwhile: the caller discards
 * the stage and writes one batch instead.
 *
 * @throws StagedPartError when a part fails to encode or stage.
 */
export async function stageFlush(store: Store, databases: Iterable<PerModuleObjectDatabase>, stage: WriteStage, sync: boolean): Promise<StagedFlush | undefined> {
  const commits: (() => void)[] = [];
  const staged = new Set<string>();
  let wroteRecords = false;
  for (const db of databases) {
    for await (const part of db.prepareFlushParts(FLUSH_PART_ENTRIES)) {
      const fresh = part.values.filter((value) => !staged.has(value.uuid));
      for (const value of fresh) staged.add(value.uuid);
      const values = await store.values.internOperations(fresh);
      const operations = [...values.operations, ...part.operations];
      if (store.types.names().length > 0) return undefined;
      try {
        if (operations.length > 0) await store.proxy.batch(operations, { sync, stage });
      } catch (error) {
        throw new StagedPartError(error, operations);
      }
      wroteRecords ||= part.operations.length > 0;
      commits.push(values.commit, part.commit);
    }
  }
  return {
    commit: () => {
      for (const commit of commits) commit();
    },
    uuids: [...staged],
    wroteRecords,
  };
}
