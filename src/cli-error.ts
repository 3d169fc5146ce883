/** Exit codes of every `xopc` command (documented in the README). */
export const EXIT = {
  OK: 0,
  /** Something failed: the message says what. */
  FAILURE: 1,
  /** The command line itself is wrong (unknown command or option, bad value). */
  USAGE: 2,
  /** `status`: the gateway is not running (or its lock is stale). */
  NOT_RUNNING: 3,
  /**
   * Started by a service manager while another live gateway holds the lock for the same
   * config (after waiting for it to finish draining). Units list it in
   * `RestartPreventExitStatus=` so the manager does not restart into a lock loop.
   */
  ALREADY_RUNNING_SUPERVISED: 4,
} as const;

/** An error meant for the user: printed as one line, no stack trace, with this exit code. */
export class CliError extends Error {
  override name = 'CliError';
  constructor(message: string, readonly exitCode: number = EXIT.FAILURE) {
    super(message);
  }
}
