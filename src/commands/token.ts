import { CliError, EXIT } from '../cli-error.js';
import { resolveTarget, type TargetOptions } from './common.js';
import { findToken } from './find-token.js';
import { generateToken } from '../config.js';

export interface TokenOptions extends TargetOptions {
  new?: boolean;
  json?: boolean;
}


/**
 * `xopc gateway token`: prints the token the running gateway uses (else the config's), the
 * only place it is shown in full. `--new` prints a fresh one and stores nothing.
 */
export async function printToken(options: TokenOptions): Promise<number> {
  if (options.new) {
    const token = generateToken();
    console.log(options.json ? JSON.stringify({ token, source: 'new' }, null, 2) : token);
    return EXIT.OK;
  }
  const { token, source } = await findToken(resolveTarget(options));
  if (!token) throw new CliError('No token yet: start the gateway once (it generates one) or set gateway.auth.token / XOPC_GATEWAY_TOKEN (`xopc gateway token --new` makes one).');
  console.log(options.json ? JSON.stringify({ token, source }, null, 2) : token);
  return EXIT.OK;
}
