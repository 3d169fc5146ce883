import { spawn } from 'node:child_process';
import { CliError, EXIT } from '../cli-error.js';
import { gatewayUrl, loadTargetConfig, resolveTarget, type TargetOptions } from './common.js';

export interface DashboardOptions extends TargetOptions {
  /** cac turns `--no-open` into `open: false`. */
  open?: boolean;
}

/**
 * `xopc gateway dashboard`: prints the control page's URL with the token in its
 * fragment (`/#token=...`; a browser never sends the fragment to the server, so it
 * reaches no request log), and opens it where a desktop is present.
 */
export function openDashboard(options: DashboardOptions, env: NodeJS.ProcessEnv = process.env): number {
  const target = resolveTarget(options);
  if (target.lock.state !== 'held') {
    console.error('⭕ Gateway is not running. Start it with: xopc gateway');
    return EXIT.NOT_RUNNING;
  }
  const token = loadTargetConfig(target).config.gateway.auth.token;
  if (!token) throw new CliError('No token configured: set gateway.auth.token or XOPC_GATEWAY_TOKEN.');
  const info = target.lock.info;
  const url = `${gatewayUrl(info.host ?? '0.0.0.0', info.port ?? 0)}/#token=${encodeURIComponent(token)}`;
  console.log('🌐 Control page (signs you in; keep this URL private, it holds the token):');
  console.log(`   ${url}`);
  if (options.open !== false) {
    const opener = desktopOpener(url, env);
    if (opener) {
      // Best effort: a missing opener or a browser that fails to start is not our error.
      const child = spawn(opener.command, opener.args, { detached: true, stdio: 'ignore', windowsVerbatimArguments: process.platform === 'win32' });
      child.on('error', () => undefined);
      child.unref();
      console.log('   (opened in your browser)');
    }
  }
  return EXIT.OK;
}

/** The command that opens a URL in the desktop's browser, or null without a desktop. */
export function desktopOpener(url: string, env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform): { command: string; args: string[] } | null {
  if (platform === 'darwin') return { command: 'open', args: [url] };
  if (platform === 'win32') return { command: 'cmd', args: ['/c', 'start', '""', url] };
  if (env.DISPLAY || env.WAYLAND_DISPLAY) return { command: 'xdg-open', args: [url] };
  return null;
}
