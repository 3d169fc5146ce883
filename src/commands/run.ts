import { setFlagsFromString } from 'node:v8';
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
  const flags = {
    port: intOption('port', options.port, 0, 65535),
    host: options.host,
    token: options.token === undefined ? undefined : String(options.token),
  };
  // The supervisor runs for days but does little per event (a log line, a worker message),
  // so V8's defaults for busy programs only cost it memory (measured): the optimizing
  // compiler adds its code and output (~3.5 MB), and a young generation that grows under
  // a burst of log lines stays grown (~2 MB after 10,000 requests). Set before the
  // supervisor's modules load, whose loading is what would otherwise get optimized.
  setFlagsFromString('--no-opt --semi-space-growth-factor=1');
  const { runSupervisor } = await import('../../supervisor/supervisor.js');
  const code = await runSupervisor({ configPath: resolveConfigPath(options.config), flags, force: Boolean(options.force) });
  // Workers and timers are gone; leave now rather than wait for stray handles.
  process.exit(code);
}
