/**
 * memostrata/testing: the storage contract suite, for your own backend or
 * layer. Needs vitest (a peer dependency of this entry point only): call
 * {@link runDatabaseContract} at the top level of a vitest test file.
 *
 * @packageDocumentation
 */
import { describe } from 'vitest';
import { batchIfTests } from './batch-if.js';
import { batchTests } from './batch.js';
import { closeTests } from './close.js';
import { suiteContext } from './context.js';
import type { ContractFactory } from './fixture.js';
import { getPutDeleteTests } from './get-put-delete.js';
import { maintenanceTests } from './maintenance.js';
import { manifestTests } from './manifest.js';
import { persistenceTests } from './persistence.js';
import { rangeTests } from './ranges.js';
import { snapshotTests } from './snapshots.js';

export type { ContractDatabase, ContractFactory } from './fixture.js';

/**
 * Runs the whole storage contract (vitest `describe`/`it`) on the databases
 * `factory` opens: every backend and every stack of layers in memostrata
 * passes it. Each test opens a fresh database and the suite closes it. The
 * database's {@link Manifest} decides which promise a test holds it to
 * (`snapshots`, `compact`, `repair`: the stronger one where the manifest makes
 * it, the weaker one otherwise); the persistence test runs when the factory
 * gives `reopen`. Nothing is skipped.
 *
 * @param name - names the `describe` block: `${name} honours the storage contract`.
 * @param factory - opens a new, empty database (and, for a persistent one, reopens a closed one).
 * @category Contract suite
 */
export function runDatabaseContract(name: string, factory: ContractFactory): void {
  describe(`${name} honours the storage contract`, () => {
    const suite = suiteContext(factory);
    manifestTests(suite);
    getPutDeleteTests(suite);
    batchTests(suite);
    batchIfTests(suite);
    rangeTests(suite);
    snapshotTests(suite);
    maintenanceTests(suite);
    persistenceTests(suite);
    closeTests(suite);
  });
}
