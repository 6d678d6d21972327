/* The suite lives in the package (memostrata/testing); the repository's own tests import it from here. */
export { runDatabaseContract, type ContractDatabase, type ContractFactory } from '../../src/testing/index.js';
/** The former name of {@link ContractFactory}. */
export type { ContractFactory as ContractFixture } from '../../src/testing/index.js';
