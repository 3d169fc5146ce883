import { cac, type CAC } from 'cac';
import { VERSION } from '../version.js';
import { registerRun } from './run.js';
import { registerStatus } from './status.js';
import { registerStop } from './stop.js';
import { registerRestart } from './restart.js';
import { registerToken } from './token.js';
import { registerLogs } from './logs.js';
import { registerService } from './service.js';

/** `xopc gateway ...`: the foreground run (default command) and every management command. */
export function buildGatewayCli(): CAC {
  const cli = cac('xopc gateway');
  registerRun(cli);
  registerStatus(cli);
  registerStop(cli);
  registerRestart(cli);
  registerLogs(cli);
  registerToken(cli);
  registerService(cli);
  cli.help();
  cli.version(VERSION);
  return cli;
}
