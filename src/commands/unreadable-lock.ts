import { findLiveGateway, type LiveGateway } from '../lock-owner.js';
import { loadTargetConfig, type Target } from './common.js';

/**
 * For a lock file that cannot be read: the live gateway of this config found without it
 * (control channel, process table, configured port), or null when there is none.
 */
export async function findGatewayBehindUnreadableLock(target: Target): Promise<LiveGateway | null> {
  let port: number | null = null;
  let host: string | undefined;
  try {
    const { config } = loadTargetConfig(target);
    port = config.gateway.port;
    host = config.gateway.host;
  } catch {
    /* a broken config must not hide a running gateway: the other probes still run */
  }
  return findLiveGateway(target.configPath, { port, host });
}
