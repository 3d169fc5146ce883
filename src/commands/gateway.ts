import { cac, type CAC } from 'cac';
import { CONFIG_OPTION } from './cli-options.js';
import { VERSION } from '../version.js';
import type { DashboardOptions } from './dashboard.js';
import type { LogsOptions } from './logs.js';
import type { RestartOptions } from './restart.js';
import type { RunOptions } from './run.js';
import type { InstallOptions, ServiceStartOptions, ServiceStatusOptions } from './service.js';
import type { StatusOptions } from './status.js';
import type { StopOptions } from './stop.js';
import type { TokenOptions } from './token.js';
import type { UninstallOptions } from './service.js';

const TIMEOUT_OPTION = ['--timeout <ms>', 'How long to wait for /health after starting (0: do not wait)', { default: 15000 }] as const;

/**
 * `xopc gateway ...`: the foreground run (default command) and every management command.
 * Only declared here: each action imports its command's module when it runs, so that
 * `logs` or `status` do not load the supervisor or the service managers, and the
 * foreground run loads none of the management commands.
 */
export function buildGatewayCli(): CAC {
  const cli = cac('xopc gateway');

  cli
    .command('', 'Run the gateway in the foreground (Ctrl+C to stop)')
    .option('--port <port>', 'Port to listen on (default: gateway.port or 18790; 0 = any free port)')
    .option('--host <host>', 'Address to bind (default: gateway.host or 0.0.0.0)')
    .option('--token <token>', 'Auth token for /api/* (default: config, $XOPC_GATEWAY_TOKEN, or generated)')
    .option('--force', 'Stop whatever holds the lock or the port first (SIGTERM, 700 ms, SIGKILL)')
    .option(...CONFIG_OPTION)
    .action(async (options: RunOptions) => (await import('./run.js')).runGateway(options));

  cli
    .command('status', 'Show whether the gateway is running')
    .option('--json', 'Print the status as JSON')
    .option(...CONFIG_OPTION)
    .action(async (options: StatusOptions) => (await import('./status.js')).showStatus(options));

  cli
    .command('stop', 'Stop the running gateway (SIGTERM, wait, then SIGKILL)')
    .option('--force', 'SIGKILL at once, no graceful drain')
    .option('--timeout <ms>', 'How long the gateway may drain requests in flight (default: gateway.drainTimeoutMs); SIGKILL 3 s after')
    .option('--json', 'Print the result as JSON')
    .option(...CONFIG_OPTION)
    .action(async (options: StopOptions) => (await import('./stop.js')).stopGateway(options));

  cli
    .command('restart', 'Restart the gateway (SIGUSR1; --force = kill and start again)')
    .option('--force', 'Kill the gateway and start it again with the same command line')
    .option('--json', 'Print the result as JSON')
    .option(...CONFIG_OPTION)
    .action(async (options: RestartOptions) => (await import('./restart.js')).restartGateway(options));

  cli
    .command('logs', 'Show the newest lines of the gateway log')
    .option('-n, --lines <n>', 'How many lines to show (default 50)')
    .option('-f, --follow', 'Keep printing new lines, across log rotation (Ctrl+C to stop)')
    .option('--json', 'Print the raw JSON lines instead of pretty ones')
    .option(...CONFIG_OPTION)
    .action(async (options: LogsOptions) => (await import('./logs.js')).showLogs(options));

  cli
    .command('token', "Print the gateway auth token (the running gateway's, else the config's)")
    .option('--new', 'Print a newly generated token (stores nothing), e.g. for install --token')
    .option('--json', 'Print the token and where it came from as JSON')
    .option(...CONFIG_OPTION)
    .action(async (options: TokenOptions) => (await import('./token.js')).printToken(options));

  cli
    .command('dashboard', 'Print (and open, on a desktop) the control page URL, signed in through its #token= fragment')
    .option('--no-open', 'Only print the URL')
    .option(...CONFIG_OPTION)
    .action(async (options: DashboardOptions) => (await import('./dashboard.js')).openDashboard(options));

  cli
    .command('install', 'Install the gateway as a service that starts at login (systemd user unit, LaunchAgent, Task Scheduler)')
    .option('--port <port>', 'Gateway port (default: the config, else 18790)')
    .option('--host <host>', 'Bind address (default: the config, else 0.0.0.0)')
    .option('--token <token>', 'Auth token: stored in the config file (0600), never in the service definition')
    .option('--replace-token', 'Replace a different token already in the config (clients using it get 401)')
    .option('--runtime <runtime>', 'node: run `node <cli.js>`; binary: run the `xopc` executable on PATH', { default: 'node' })
    .option('--json', 'Print the result as JSON')
    .option(...CONFIG_OPTION)
    .option(...TIMEOUT_OPTION)
    .action(async (options: InstallOptions) => (await import('./service.js')).install(options));

  cli
    .command('service-start', 'Start the installed service through the service manager')
    .option('--json', 'Print the result as JSON')
    .option(...TIMEOUT_OPTION)
    .action(async (options: ServiceStartOptions) => (await import('./service.js')).serviceStart(options));

  cli
    .command('service-status', 'Show the installed service: state, pid, command line, URL')
    .option('--json', 'Print the same data as JSON')
    .option(...CONFIG_OPTION)
    .action(async (options: ServiceStatusOptions) => (await import('./service.js')).serviceStatus(options));

  cli
    .command('uninstall', 'Stop and remove the service (the config and its token are kept)')
    .option('--json', 'Print the result as JSON')
    .action(async (options: UninstallOptions) => (await import('./service.js')).uninstall(options));

  cli.help();
  cli.version(VERSION);
  return cli;
}
