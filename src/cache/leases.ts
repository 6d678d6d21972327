import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { BatchOperation, Database } from '../contract/database.js';
import { MemostrataError, isMemostrataError } from '../errors.js';
import { leaseKey, memoKey } from '../layers/keys.js';

/*
 * Leases: on a store that processes share, the process that misses a call
 * first claims `l!<module>!<call>` with a conditional write (batchIf), so that
 * one process computes each distinct call while the others wait for its
 * result. The protocol and its failure cases are in docs/architecture.md.
 *
 * Expiry is judged by each waiter on its own monotonic clock, never by
 * comparing clocks across machines (nor by a wall clock that NTP may step):
 * a lease whose stored bytes have not changed for `ttlMs` (no heartbeat) is
 * stale. Waiters compare the bytes below the object layers, so that damaged
 * bytes, or a value that is not a lease, expire like any lease; a waiter
 * removes exactly the bytes it saw, so that one waiter wins the takeover.
 */

/**
 * The lease as the store keeps it: who computes the call, since when, and
 * its last heartbeat. Integers and strings only, so that it encodes to the
 * same bytes each time: a conditional write compares bytes.
 *
 * @category Cache
 */
export interface LeaseRecord {
  /** The owner's host name. */
  host: string;
  /** The owner's process id. */
  pid: number;
  /** A random token naming this claim: every write the owner makes is fenced by it. */
  token: string;
  /** When the owner claimed the call (ms since the epoch, the owner's clock). */
  startedAt: number;
  /** The owner's last heartbeat (ms since the epoch, the owner's clock). */
  heartbeatAt: number;
  /** Heartbeats so far: the stored bytes change at every one, whatever the clocks say. */
  beat: number;
}

/** `value` as a lease record, or `undefined` when it is not one (damaged). */
export function asLeaseRecord(value: unknown): LeaseRecord | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const lease = value as Partial<LeaseRecord>;
  const integers = [lease.pid, lease.startedAt, lease.heartbeatAt, lease.beat];
  if (typeof lease.host !== 'string' || typeof lease.token !== 'string' || !integers.every((n) => Number.isSafeInteger(n))) return undefined;
  return lease as LeaseRecord;
}

/** The first and the longest wait between two looks at a lease someone else holds (ms). */
const FIRST_POLL_MS = 5;
const LONGEST_POLL_MS = 500;

/** How a process that misses a call gets to compute it, or finds it computed. */
export type LeaseClaim = { kind: 'owner'; lease: Lease } | { kind: 'done' };

/**
 * The leases of one cache's store. `db` is the store's object layer
 * (SerializedDB): leases go through the same layers as every other write.
 */
export class LeaseTable {
  readonly #db: Database<Uint8Array, unknown>;
  /** The store's bytes, below the layers that decode them: what waiters compare and takeovers are conditioned on. */
  readonly #raw: Database<Uint8Array, Uint8Array>;
  readonly #ttlMs: number;
  readonly #host = hostname();
  /** The leases this process holds now. */
  readonly #held = new Set<Lease>();
  /** Claims being written now: close() waits for them, so that none lands after it released the rest. */
  readonly #claiming = new Set<Promise<unknown>>();
  /** Set by {@link LeaseTable.releaseAll}: no new claim after it. */
  #closing = false;

  /** `db` is the store's object layer; `raw` the bytes below it (the backend), where `db` keeps them under the same keys. */
  constructor(db: Database<Uint8Array, unknown>, ttlMs: number, raw: Database<Uint8Array, Uint8Array>) {
    this.#db = db;
    this.#raw = raw;
    this.#ttlMs = ttlMs;
  }

  /**
   * Claims the lease of a call, waiting while another live process holds it.
   * Resolves `done` when the call's result turned up meanwhile (`stored()`
   * says so), else `owner` with the lease: a lease that was taken over from a
   * dead owner, or a fresh one. The caller checks the store once more after
   * a fresh claim: the result may have been written just before it.
   *
   * @throws MemostrataError `BACKEND` when the store cannot be reached (the
   *   caller then computes without a lease).
   */
  async claim(module: string, call: string, stored: () => Promise<boolean>): Promise<LeaseClaim> {
    const key = leaseKey(module, call);
    for (;;) {
      const held = await this.#raw.get(key);
      if (held === undefined) {
        const lease = await this.#claimAbsent(module, call, key);
        if (lease !== undefined) return { kind: 'owner', lease };
        continue;
      }
      const outcome = await this.#waitOn(key, held);
      if (outcome.kind === 'stale') {
        // Exactly one waiter removes the bytes it saw unchanged (a waiter that decided late finds them
        // gone, or another's fresh lease, and removes nothing); then it claims like any newcomer.
        await this.#raw.batchIf({ key, value: outcome.bytes }, [{ type: 'del', key }]);
        continue;
      }
      if (await stored()) return { kind: 'done' };
    }
  }

  /**
   * Gives up every lease this process holds (the cache is closing: what its
   * running calls compute is not stored), so that waiters need not wait out
   * their lifetime. Never rejects.
   */
  async releaseAll(): Promise<void> {
    this.#closing = true;
    await Promise.allSettled([...this.#claiming]);
    await Promise.all([...this.#held].map((lease) => lease.release()));
  }

  /** Claims the lease at `key`, which was absent: `undefined` when another process was first. */
  async #claimAbsent(module: string, call: string, key: Uint8Array): Promise<Lease | undefined> {
    if (this.#closing) throw new MemostrataError('CLOSED', `The cache is closing, so the call of module '${module}' claims no lease; open the cache again with openCache().`);
    const mine = this.#newRecord();
    const attempt = this.#db.batchIf({ key, value: undefined }, [{ type: 'put', key, value: mine }]).then((applied) => (applied ? this.#hold(module, call, key, mine) : undefined));
    this.#claiming.add(attempt);
    try {
      return await attempt;
    } finally {
      this.#claiming.delete(attempt);
    }
  }

  #hold(module: string, call: string, key: Uint8Array, record: LeaseRecord): Lease {
    const lease = new Lease(this.#db, module, call, key, record, this.#ttlMs, () => this.#held.delete(lease));
    this.#held.add(lease);
    return lease;
  }

  /**
   * The lease record at `key` as it reads now, for the dead-owner check:
   * `undefined` for damaged bytes or a value that is not a lease (held by
   * nobody this process can check), or when none.
   */
  async #owner(key: Uint8Array): Promise<LeaseRecord | undefined> {
    try {
      return asLeaseRecord(await this.#db.get(key));
    } catch (error) {
      if (!isMemostrataError(error, 'CORRUPT') && !isMemostrataError(error, 'UNKNOWN_TYPE')) throw error;
      return undefined;
    }
  }

  /**
   * Waits until the lease at `key` (whose stored bytes were `first`) is
   * released (`released`), or its bytes stopped changing for `ttlMs` or name
   * an owner of this host that is gone (`stale`, with the bytes to remove).
   */
  async #waitOn(key: Uint8Array, first: Uint8Array): Promise<{ kind: 'released' } | { kind: 'stale'; bytes: Uint8Array }> {
    let seen = first;
    // Read after the bytes: an owner read later than `seen` can only make the takeover's condition fail, never remove a newer lease.
    let owner = await this.#owner(key);
    let seenSince = performance.now();
    for (let poll = FIRST_POLL_MS; ; poll = Math.min(poll * 1.5, LONGEST_POLL_MS, this.#ttlMs / 4)) {
      if (performance.now() - seenSince >= this.#ttlMs || (owner !== undefined && owner.pid !== process.pid && ownerStatus(owner) === 'gone')) return { kind: 'stale', bytes: seen };
      await this.#raw.changed(key, poll);
      const now = await this.#raw.get(key);
      if (now === undefined) return { kind: 'released' };
      if (Buffer.compare(now, seen) !== 0) {
        seen = now;
        owner = await this.#owner(key);
        seenSince = performance.now();
      }
    }
  }

  #newRecord(): LeaseRecord {
    const now = Date.now();
    return { host: this.#host, pid: process.pid, token: randomBytes(12).toString('hex'), startedAt: now, heartbeatAt: now, beat: 0 };
  }
}

/**
 * Whether a lease's owner still runs: `gone` for a process of this machine
 * that no longer exists (no need to wait out its lease), `running` for one
 * that does, `unknown` for another machine's process.
 */
export function ownerStatus(owner: LeaseRecord): 'running' | 'gone' | 'unknown' {
  if (owner.host !== hostname()) return 'unknown';
  try {
    process.kill(owner.pid, 0);
    return 'running';
  } catch (error) {
    // EPERM: it exists under another user. Only "no such process" is proof.
    return (error as NodeJS.ErrnoException).code === 'ESRCH' ? 'gone' : 'running';
  }
}

/**
 * A claimed lease: renewed every third of `ttlMs` while the call runs, and
 * the fence of every write the call makes. Its writes run one at a time, so
 * it always knows the bytes it last stored.
 */
export class Lease {
  /** The module whose call this lease is for. */
  readonly module: string;
  readonly #db: Database<Uint8Array, unknown>;
  readonly #key: Uint8Array;
  /** The key of the call's memo record: once it is stored, a lease that vanished was released by whoever stored it. */
  readonly #recordKey: Uint8Array;
  #current: LeaseRecord;
  #lost = false;
  /** Released, lost or abandoned: no longer renewed, and no write goes through it. */
  #ended = false;
  readonly #onEnd: () => void;
  #writes: Promise<unknown> = Promise.resolve();
  readonly #heartbeat: ReturnType<typeof setInterval>;

  constructor(db: Database<Uint8Array, unknown>, module: string, call: string, key: Uint8Array, record: LeaseRecord, ttlMs: number, onEnd: () => void) {
    this.module = module;
    this.#onEnd = onEnd;
    this.#db = db;
    this.#key = key;
    this.#recordKey = memoKey(module, call);
    this.#current = record;
    this.#heartbeat = setInterval(() => void this.#renew(), Math.max(1, Math.floor(ttlMs / 3)));
    // A heartbeat alone must not keep a process alive: the computation it guards does that.
    this.#heartbeat.unref();
  }

  /** Whether another process took the call over: this one may no longer write its state or result. */
  get lost(): boolean {
    return this.#lost;
  }

  /**
   * Applies `operations` if this process still holds the lease, and, with
   * `release`, gives the lease up in the same atomic step. Resolves `false`
   * (writing nothing) when the lease was taken over. A store that lost the
   * lease altogether (a server restarted empty) holds no one else's: the
   * write then goes ahead, re-claiming the lease unless it releases it;
   * unless the call's result is stored, which means another process took
   * the call over, finished it and released the lease.
   *
   * @throws MemostrataError `BACKEND` when the store cannot be reached.
   */
  write(operations: readonly BatchOperation<Uint8Array, unknown>[], release: boolean): Promise<boolean> {
    return this.#queue(() => this.#writeNow(operations, release));
  }

  async #writeNow(operations: readonly BatchOperation<Uint8Array, unknown>[], release: boolean): Promise<boolean> {
    if (this.#ended) return false;
    const next = this.#next();
    const leaseOperation: BatchOperation<Uint8Array, unknown> = release ? { type: 'del', key: this.#key } : { type: 'put', key: this.#key, value: next };
    const all = [...operations, leaseOperation];
    // A lease alone need not survive a crash (one lost with the machine is one nobody holds); what it fences must.
    const options = { sync: operations.length > 0 };
    let applied = await this.#db.batchIf({ key: this.#key, value: this.#current }, all, options);
    // A new owner that finished left its result and no lease: that is not a store that forgot the lease.
    // (One that claims, computes and finishes between these reads and the write below is not caught.)
    if (!applied && !(await this.#db.has(this.#key)) && !(await this.#db.has(this.#recordKey))) {
      applied = await this.#db.batchIf({ key: this.#key, value: undefined }, all, options);
    }
    if (!applied) this.#lose();
    else if (!release) this.#current = next;
    if (release) this.#end();
    return applied;
  }

  /** Gives the lease up without writing anything else (the call failed, or its result cannot be stored). Never rejects. */
  async release(): Promise<void> {
    try {
      // Queued behind a write under way, which may itself have released it.
      await this.write([], true);
    } catch {
      // Out of reach: the lease expires by itself, since nobody renews it.
    } finally {
      this.#end();
    }
  }

  /** Stops renewing: the lease expires by itself (used when the store cannot be reached). */
  abandon(): void {
    this.#end();
  }

  #renew(): Promise<unknown> {
    return this.#queue(async () => {
      if (this.#ended) return;
      try {
        await this.#writeNow([], false);
      } catch (error) {
        // A store out of reach: keep trying; if it stays away long enough, another process takes over.
        if (!isMemostrataError(error, 'BACKEND') && !isMemostrataError(error, 'CLOSED')) throw error;
      }
    }).catch(() => undefined);
  }

  #next(): LeaseRecord {
    return { ...this.#current, heartbeatAt: Date.now(), beat: this.#current.beat + 1 };
  }

  #lose(): void {
    this.#lost = true;
    this.#end();
  }

  #end(): void {
    this.#ended = true;
    clearInterval(this.#heartbeat);
    this.#onEnd();
  }

  /** Runs `work` after this lease's earlier writes; the chain holds no rejection. */
  #queue<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#writes.then(work);
    this.#writes = run.catch(() => undefined);
    return run;
  }
}

/** The error `currentCall().save()` rejects with once another process took the call over. */
export function leaseLostError(module: string): MemostrataError {
  return new MemostrataError(
    'LEASE_LOST',
    `Another process took over this call of module '${module}' (this one stopped renewing its lease for longer than lease.ttlMs, or was thought dead), so it may no longer save state or store the result. Its result is computed there; raise lease.ttlMs if a synchronous stretch of the computation can outlast it.`,
  );
}
