import type { CAC } from 'cac';
import { runSupervisor } from '../../supervisor/supervisor.js';
import { configPath as resolveConfigPath } from '../paths.js';
import { intOption } from './common.js';

interface RunOptions {
  port?: string | number;
  host?: string;
  token?: string;
  force?: boolean;
  config?: string;
}

/** `xopc gateway`: runs the gateway in the foreground; this process becomes the supervisor. */
export function registerRun(cli: CAC): void {
  cli
    .command('', 'Run the gateway in the foreground (Ctrl+C to stop)')
    .option('--port <port>', 'Port to listen on (default: gateway.port or 18790; 0 = any free port)')
    .option('--host <host>', 'Address to bind (default: gateway.host or 0.0.0.0)')
    .option('--token <token>', 'Auth token for /api/* (default: config, $XOPC_GATEWAY_TOKEN, or generated)')
    .option('--force', 'Stop whatever holds the lock or the port first (SIGTERM, 700 ms, SIGKILL)')
    .option('--config <path>', 'Config file (default: $XOPC_CONFIG or ~/.xopc/config.json)')
    .action(async (options: RunOptions) => {
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
    });
}
