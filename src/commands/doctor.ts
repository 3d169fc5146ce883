import { cac, type CAC } from 'cac';
import { homedir } from 'node:os';
import { loadConfig, type LoadedConfig } from '../config.js';
import { EXIT } from '../cli-error.js';
import { CONFIG_OPTION } from './cli-options.js';
import { checkConfig, checkDisk, checkLock, checkLogs, checkNode, checkPermissions, checkPort, checkToken } from '../doctor/local-checks.js';
import { checkProviders, checkTelegram, checkWebhookReplyUrl } from '../doctor/peer-checks.js';
import { checkService } from '../doctor/service-checks.js';
import type { CheckResult, DoctorContext } from '../doctor/types.js';
import { configPath as resolveConfigPath, stateDir } from '../paths.js';
import { VERSION } from '../version.js';

interface DoctorOptions {
  config?: string;
  json?: boolean;
  fix?: boolean;
}

const ICONS: Record<CheckResult['status'], string> = { ok: '✅', warn: '⚠️ ', fail: '❌', skip: '➖' };

/** `xopc doctor [--json] [--fix]`: one line per check; exit 1 when any check fails. */
export function buildDoctorCli(): CAC {
  const cli = cac('xopc doctor');
  cli
    .command('', 'Check the gateway set-up: config, permissions, token, port, lock, providers, channels, service, disk, logs')
    .option('--json', 'Print the checks as JSON')
    .option('--fix', 'Tighten file permissions and remove a stale lock')
    .option(...CONFIG_OPTION)
    .action((options: DoctorOptions) => runDoctor(options));
  cli.help();
  cli.version(VERSION);
  return cli;
}

/** Runs every check (peers in parallel), prints them, and returns the exit code. */
export async function runDoctor(options: DoctorOptions, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const configPath = resolveConfigPath(options.config, env);
  let loaded: LoadedConfig | null = null;
  let configError: string | null = null;
  try {
    loaded = loadConfig(configPath, {}, env);
  } catch (err) {
    configError = (err as Error).message;
  }
  const ctx: DoctorContext = { configPath, stateDir: stateDir(env), loaded, configError, fix: Boolean(options.fix), env, home: homedir() };
  const [port, lock, providers, telegram, replyUrl] = await Promise.all([checkPort(ctx), checkLock(ctx), checkProviders(ctx), checkTelegram(ctx), checkWebhookReplyUrl(ctx)]);
  const checks: CheckResult[] = [
    checkNode(),
    checkConfig(ctx),
    ...checkPermissions(ctx),
    checkToken(ctx),
    port,
    lock,
    ...providers,
    ...telegram,
    replyUrl,
    ...checkService(ctx),
    checkDisk(ctx),
    checkLogs(ctx),
  ];
  const failed = checks.filter((check) => check.status === 'fail').length;
  if (options.json) {
    console.log(JSON.stringify({ ok: failed === 0, checks }, null, 2));
  } else {
    const width = Math.max(...checks.map((check) => check.id.length));
    for (const check of checks) {
      console.log(`${ICONS[check.status]} ${check.id.padEnd(width)}  ${check.message}`);
      if (check.fixed) console.log(`   ${' '.repeat(width)}  fixed: ${check.fixed}`);
      else if (check.fix && (check.status === 'fail' || check.status === 'warn')) console.log(`   ${' '.repeat(width)}  fix: ${check.fix}`);
    }
    const warned = checks.filter((check) => check.status === 'warn').length;
    console.log(`\n${failed === 0 ? '✅' : '❌'} ${checks.length} checks: ${failed} failed, ${warned} warnings`);
  }
  return failed === 0 ? EXIT.OK : EXIT.FAILURE;
}
