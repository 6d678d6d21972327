/** The exit codes of the `memostrata` command (documented in docs/cli.md). */
export const ExitCode = {
  /** The command did what was asked and found nothing wrong. */
  ok: 0,
  /** The command ran and found a problem: `verify` found damage, `diff` found differences. */
  problem: 1,
  /** Wrong usage, or the store could not be opened (missing, locked, not a store, damaged). */
  error: 2,
} as const;

/**
 * An error of the command line itself (bad usage, a refused action), printed
 * as one line `memostrata: <message>` and exiting with `exitCode`.
 */
export class CliError extends Error {
  readonly exitCode: number;

  constructor(message: string, exitCode: number = ExitCode.error) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}
