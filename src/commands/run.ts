import { setFlagsFromString } from 'node:v8';
import { CliError } from '../cli-error.js';
import { configPath as resolveConfigPath, stateDir } from '../paths.js';
import { describeStorageFault, probeWritable, storageErrnoCode } from '../storage-errors.js';
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
  // Everything the gateway keeps (lock, config, sessions, logs) is written there: a
  // read-only or full state dir is one clear line now, not a failure deep in the start.
  const dir = stateDir();
  const fault = probeWritable(dir);
  if (fault) {
    const code = storageErrnoCode(fault);
    throw new CliError(`Cannot write the state dir ${dir}: ${code ? describeStorageFault(code) : fault.message}. Make it writable (or free space), or set XOPC_HOME to another directory.`);
  }
  const { runSupervisor } = await import('../../supervisor/supervisor.js');
  const code = await runSupervisor({ configPath: resolveConfigPath(options.config), flags, force: Boolean(options.force) });
  // Workers and timers are gone; leave now rather than wait for stray handles.
  process.exit(code);
}
