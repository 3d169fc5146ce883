import { maskToken, type ConfigIssue } from '../config.js';
import { fileIssues } from '../config-file.js';
import { formatIssues } from './config-read.js';
import { EXIT } from '../cli-error.js';
import { findGatewayBehindUnreadableLock } from './unreadable-lock.js';
import { gatewayUrl, probeHealth, resolveTarget, type TargetOptions } from './common.js';
import { findToken } from './find-token.js';

export interface StatusOptions extends TargetOptions {
  json?: boolean;
}

/**
 * `xopc gateway status`: running (exit 0), not running or stale lock (exit 3), or alive
 * but not answering on its port (exit 1).
 */
export async function showStatus(options: StatusOptions): Promise<number> {
  const target = resolveTarget(options);
  const { lock } = target;
  const problems = configProblems(target.configPath);
  // Whatever the state, a config file that is invalid now is said: a running gateway keeps its last valid config, a start would fail.
  const print = (json: Record<string, unknown>, text: string[]) => {
    const running = json.running === true;
    const said = problems.length === 0 ? [] : ['', `⚠️  The config file is invalid: ${formatIssues(problems)}; ${running ? 'the running gateway keeps its last valid config' : 'the gateway will not start until it is fixed'}`, `   Config: ${target.configPath} (check it with: xopc config validate)`];
    console.log(options.json ? JSON.stringify({ ...json, configValid: problems.length === 0, configProblems: problems }, null, 2) : [...text, ...said].join('\n'));
  };

  if (lock.state === 'free') {
    print({ state: 'stopped', running: false, lockPath: target.lockPath }, ['⭕ Gateway is not running', '', '   Start it with: xopc gateway']);
    return EXIT.NOT_RUNNING;
  }
  if (lock.state === 'unreadable') {
    const live = await findGatewayBehindUnreadableLock(target);
    if (!live) {
      print(
        { state: 'stale', running: false, pid: null, reason: `${lock.reason}; no gateway of this config is running`, lockPath: target.lockPath },
        [`⚠️  Gateway is not running: unreadable lock (${lock.reason}) and no gateway of this config found`, `   Lock: ${target.lockPath}`, '   The next `xopc gateway` removes it.'],
      );
      return EXIT.NOT_RUNNING;
    }
    print(
      { state: 'running', running: true, pid: live.pid, lock: 'unreadable', reason: lock.reason, found: live.how, lockPath: target.lockPath },
      [`✅ Gateway is running${live.pid ? ` (pid ${live.pid})` : ''}, but its lock file is unreadable (${lock.reason})`, `   Found because ${live.how}.`, `   Lock: ${target.lockPath}`, '   Stop it with: xopc gateway stop'],
    );
    return EXIT.OK;
  }
  if (lock.state === 'stale') {
    print(
      { state: 'stale', running: false, pid: lock.info?.pid ?? null, reason: lock.reason, lockPath: target.lockPath },
      [`⚠️  Gateway is not running: stale lock (${lock.reason})`, `   Lock: ${target.lockPath}`, '   The next `xopc gateway` takes it over.'],
    );
    return EXIT.NOT_RUNNING;
  }
  const info = lock.info;
  const host = info.host ?? '0.0.0.0';
  const port = info.port ?? 0;
  const url = gatewayUrl(host, port);
  const health = port ? await probeHealth(host, port) : null;
  let token: string | null = null;
  try {
    token = (await findToken(target)).token;
  } catch {
    /* a broken config must not hide the status */
  }
  if (!health) {
    print(
      { state: 'unresponsive', running: true, pid: info.pid, workerPid: info.workerPid ?? null, port, url },
      [`⚠️  Gateway process ${info.pid} is alive but not answering on ${url}/health`, '   Stop it with: xopc gateway stop --force'],
    );
    return EXIT.FAILURE;
  }
  print(
    { state: 'running', running: true, pid: info.pid, workerPid: info.workerPid ?? null, standbyPid: info.standbyPid ?? null, host, port, url, uptime: health.uptime, token: maskToken(token), configPath: info.configPath, restart: (info as { restart?: unknown }).restart ?? null },
    [
      '✅ Gateway is running',
      '',
      `   Port: ${port}`,
      `   PID: ${info.pid} (worker ${info.workerPid ?? '-'}${info.standbyPid ? `, standby ${info.standbyPid}` : ''})`,
      `   Uptime: ${health.uptime}s`,
      '',
      '🌐 Access:',
      `   URL: ${url}`,
      `   Token: ${maskToken(token)} (print it with: xopc gateway token)`,
      '',
      '📝 Management:',
      '   xopc gateway stop      # stop the gateway',
      '   xopc gateway restart   # restart the gateway',
    ],
  );
  return EXIT.OK;
}

/** What is wrong with the config file on disk now (the CLI checks it itself, with the gateway's schema). */
function configProblems(configPath: string): ConfigIssue[] {
  try {
    return fileIssues(configPath);
  } catch (err) {
    return [{ key: '(file)', message: (err as Error).message }];
  }
}
