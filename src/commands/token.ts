import { CliError } from '../cli-error.js';
import { loadTargetConfig, resolveTarget, type TargetOptions } from './common.js';

/** `xopc gateway token`: prints the gateway's auth token (the only place it is shown in full). */
export function printToken(options: TargetOptions): void {
  const { config } = loadTargetConfig(resolveTarget(options));
  const token = config.gateway.auth.token;
  if (!token) throw new CliError('No token yet: start the gateway once (it generates one) or set gateway.auth.token / XOPC_GATEWAY_TOKEN.');
  console.log(token);
}
