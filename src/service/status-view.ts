import type { ServiceManager, ServiceStatus } from './types.js';

/** Everything `service-status` shows; `--json` prints this object as is. */
export interface ServiceStatusReport {
  installed: boolean;
  manager: ServiceStatus['manager'];
  definitionPath: string;
  status: ServiceStatus['state'];
  detail: string | null;
  pid: number | null;
  /** Where the pid came from: the service manager, or the gateway's lock file when the manager could not say. */
  pidSource: 'manager' | 'lock' | null;
  program: string | null;
  args: string[];
  workingDir: string | null;
  /** The XOPC_* environment the service sets (never a secret). */
  environment: Record<string, string>;
  /** The config file the service reads (its token, host and port). */
  configPath: string;
  url: string;
  health: { ok: boolean; uptime: number | null };
  /** One line when the manager could not be asked. */
  problem: string | null;
  /** Other facts worth a line, e.g. a gateway outside the service holding the lock. */
  notes: string[];
  commands: { command: string; description: string }[];
}

/** The management commands the block lists: the seed's four, then the manager's own stop/restart. */
export function serviceCommands(manager: ServiceManager): ServiceStatusReport['commands'] {
  const native = manager.nativeCommands();
  return [
    { command: 'xopc gateway service-start', description: 'start the service' },
    { command: 'xopc gateway stop', description: 'stop the process (a service manager starts it again)' },
    { command: 'xopc gateway restart', description: 'restart the process' },
    { command: 'xopc gateway uninstall', description: 'remove the service' },
    { command: native.stop, description: 'stop the service itself' },
    { command: native.logs, description: 'logs' },
  ];
}

/** A command line for display: words with spaces or quotes are double-quoted. */
export function displayArgs(args: string[]): string {
  return args.map((arg) => (/^[^\s"'\\$`]+$/.test(arg) ? arg : JSON.stringify(arg))).join(' ');
}

function section(title: string, width: number): string[] {
  return [title, '─'.repeat(width)];
}

/** The seed's service-status block. */
export function renderServiceStatus(report: ServiceStatusReport): string {
  const lines: string[] = [];
  if (report.problem) lines.push(`⚠️  ${report.problem}`, '');
  lines.push(...section('📋 Service Status', 16));
  lines.push(`Installed: ${report.installed ? 'Yes' : 'No'}`);
  lines.push(`Status: ${report.status.replace('-', ' ')}${report.detail && report.detail !== report.status ? ` (${report.detail})` : ''}`);
  lines.push(`PID: ${report.pid ?? '-'}${report.pidSource === 'lock' ? ' (from the gateway lock)' : ''}`);
  if (!report.installed) lines.push(`Not installed (${report.definitionPath}): run \`xopc gateway install\``);
  if (report.installed) {
    lines.push(`File: ${report.definitionPath}`);
    lines.push('', ...section('📝 Configuration', 16));
    lines.push(`Program: ${report.program ?? '(unreadable)'}`);
    lines.push(`Args: ${displayArgs(report.args)}`);
    lines.push(`Working Dir: ${report.workingDir ?? '-'}`);
    lines.push(`Config: ${report.configPath}`);
  }
  lines.push('', ...section('🌐 Access', 9));
  lines.push(`URL: ${report.url}`);
  lines.push(`Health: ${report.health.ok ? `answering${report.health.uptime !== null ? ` (uptime ${report.health.uptime}s)` : ''}` : 'not answering'}`);
  for (const note of report.notes) lines.push(`ℹ️  ${note}`);
  lines.push('', ...section('📝 Commands', 11));
  const width = Math.max(...report.commands.map((c) => c.command.length));
  for (const c of report.commands) lines.push(`  ${c.command.padEnd(width)}   # ${c.description}`);
  return lines.join('\n');
}
