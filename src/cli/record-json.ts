import type { MemoRecord } from '../layers/proxy-object-database.js';
import type { RunningCall } from '../maintenance/leases.js';
import { isoTime } from './format.js';

/** Compute time a record's hits saved: each hit saved one original call. */
export function savedMs(record: MemoRecord): number {
  return record.hits * record.computeMs;
}

/** The `--json` form of a record's metadata, the same in `ls` and `show` (see docs/cli.md). */
export function recordJson(record: MemoRecord) {
  return {
    module: record.module,
    version: record.version,
    deps: record.deps,
    call: record.call,
    createdAt: isoTime(record.createdAt),
    lastHitAt: isoTime(record.lastHitAt),
    hits: record.hits,
    size: record.size,
    computeMs: record.computeMs,
    savedMs: savedMs(record),
    error: record.error === undefined ? null : { name: record.error.name, message: record.error.message, code: record.error.code ?? null },
  };
}

/** A running call (its lease) as `memostrata leases --json` and the inspector's `/api/leases` give it. */
export function runningCallJson({ module, call, owner, savedState, ownerStatus }: RunningCall) {
  return {
    module,
    call,
    host: owner?.host ?? null,
    pid: owner?.pid ?? null,
    startedAt: owner === undefined ? null : isoTime(owner.startedAt),
    heartbeatAt: owner === undefined ? null : isoTime(owner.heartbeatAt),
    heartbeats: owner?.beat ?? null,
    savedState,
    ownerStatus,
    damaged: owner === undefined,
  };
}
