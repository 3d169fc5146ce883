import { controlRevealsToken, sendControl } from '../control.js';
import type { TokenSource } from '../config.js';
import { loadTargetConfig, type Target } from './common.js';

/** Where a found token came from: the running gateway itself, or the config as this shell sees it. */
export type FoundTokenSource = 'gateway' | TokenSource;

export interface FoundToken {
  token: string | null;
  source: FoundTokenSource;
}

// The supervisor answers at once; a hung one must not hang `status`.
const ASK_TIMEOUT_MS = 2000;

/**
 * The token the running gateway uses, asked over its control channel (see src/control.ts
 * for why that is safe), so a gateway started with `--token` or its own XOPC_GATEWAY_TOKEN
 * is reachable without writing the token anywhere. When no gateway runs, or it cannot be
 * asked (an older version, Windows), the config file with this shell's XOPC_GATEWAY_TOKEN.
 */
export async function findToken(target: Target): Promise<FoundToken> {
  const { lock } = target;
  if (lock.state === 'held' && lock.info.control && controlRevealsToken()) {
    const answer = await sendControl(lock.info.control, { cmd: 'token' }, ASK_TIMEOUT_MS).catch(() => null);
    if (answer?.ok && answer.token) return { token: answer.token, source: 'gateway' };
  }
  const loaded = loadTargetConfig(target);
  return { token: loaded.config.gateway.auth.token, source: loaded.tokenSource };
}
