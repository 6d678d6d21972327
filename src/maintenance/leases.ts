import { asLeaseRecord, ownerStatus, type LeaseRecord } from '../cache/leases.js';
import type { Store } from '../cache/store.js';
import { isMemostrataError } from '../errors.js';
import { KeyPrefix, keyText, leasePrefix, prefixRange, stateKey } from '../layers/keys.js';

/**
 * One call a process is computing now, as its lease in the store says.
 *
 * @category Maintenance
 */
export interface RunningCall {
  /** The module. */
  module: string;
  /** The call digest (hex). */
  call: string;
  /** Who holds the lease, and since when; `undefined` when the lease is damaged. */
  owner: LeaseRecord | undefined;
  /** Whether the call has saved state (`currentCall().save()`) that a process taking it over resumes from. */
  savedState: boolean;
  /**
   * `gone` when the owner is a process of this machine that no longer exists
   * (its lease is taken over by the next process that calls the call);
   * `running` when it exists; `unknown` for another machine's process or a damaged lease.
   */
  ownerStatus: 'running' | 'gone' | 'unknown';
}

/** The calls running now across processes (the leases held in the store), of `module` or of every module, in key order. */
export async function* runningCalls(store: Store, module?: string): AsyncGenerator<RunningCall> {
  for await (const [key, value] of leaseEntries(store, module)) {
    const text = keyText(key).slice(KeyPrefix.lease.length);
    const bang = text.lastIndexOf('!');
    const leaseModule = text.slice(0, bang);
    const call = text.slice(bang + 1);
    const owner = asLeaseRecord(value);
    yield { module: leaseModule, call, owner, savedState: await store.proxy.has(stateKey(leaseModule, call)), ownerStatus: owner === undefined ? 'unknown' : ownerStatus(owner) };
  }
}

/** The lease entries, with a lease whose bytes do not decode given as `undefined`. */
async function* leaseEntries(store: Store, module: string | undefined): AsyncGenerator<[Uint8Array, unknown]> {
  for await (const key of store.proxy.keys(prefixRange(leasePrefix(module)))) {
    let value: unknown;
    try {
      value = await store.proxy.get(key);
    } catch (error) {
      if (!isMemostrataError(error, 'CORRUPT')) throw error;
      value = undefined;
    }
    // Released between the listing and the read.
    if (value === undefined && !(await store.proxy.has(key))) continue;
    yield [key, value];
  }
}
