import { runSupervisor } from '../../supervisor/supervisor.js';
import { configPath as resolveConfigPath } from '../paths.js';
import { intOption } from './options.js';

export interface RunOptions {
  port?: string | number;
  host?: string;
  token?: string;
  force?: boolean;
  config?: string;
}

/** `xopc gateway`: runs the gateway in the foreground; this process becomes the supervisor. */
export async function runGateway(options: RunOptions): Promise<never> {
  const code = await runSupervisor({
    configPath: resolveConfigPath(options.config),
    flags: {
      port: intOption('port', options.port, 0, 65535),
      host: options.host,
      token: options.token === undefined ? undefined : String(options.token),
    },
    force: Boolean(options.force),
  });
  // Workers and timers are gone; leave now rather than wait for stray handles.
  process.exit(code);
}
