import { sendControl, type ControlCommand } from '../control.js';
import type { LockInfo } from '../lock.js';
import { signal } from '../proc.js';
import { CliError } from '../cli-error.js';
import type { Target } from './common.js';
import { findToken } from './find-token.js';

const SIGNAL_FOR: Record<ControlCommand, NodeJS.Signals> = { stop: 'SIGTERM', restart: 'SIGUSR1' };

/**
 * Asks a running gateway to stop or restart: by signal (SIGTERM, SIGUSR1) where there are
 * POSIX signals, through its control channel where there are none (Windows), or when
 * `via` says so. `drainMs` (stop only, control channel only) replaces the gateway's drain bound.
 */
export async function deliver(target: Target, info: LockInfo, cmd: ControlCommand, via: 'auto' | 'control' = 'auto', drainMs?: number): Promise<void> {
  if (via === 'auto' && process.platform !== 'win32') {
    signal(info.pid, SIGNAL_FOR[cmd]);
    return;
  }
  if (!info.control) throw new CliError(`The gateway (pid ${info.pid}) has no control channel; it is an older version or could not open one (see its log).`);
  const { token } = await findToken(target);
  if (!token) throw new CliError('No gateway token in the config: the control channel needs it (gateway.auth.token or XOPC_GATEWAY_TOKEN).');
  const request = cmd === 'stop' ? { cmd, token, ...(drainMs === undefined ? {} : { drainMs }) } : { cmd, token };
  const answer = await sendControl(info.control, request).catch((err: Error) => {
    throw new CliError(err.message);
  });
  if (!answer.ok) throw new CliError(`The gateway refused "${cmd}": ${answer.error}`);
}
