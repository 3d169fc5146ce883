import { cac, type CAC } from 'cac';
import { CONFIG_OPTION, helpWithoutCommand } from './cli-options.js';
import { VERSION } from '../version.js';
import type { GetOptions, ValidateOptions } from './config-read.js';
import type { SetOptions, UnsetOptions } from './config-write.js';

const SHOW_SECRETS_OPTION = ['--show-secrets', 'Print tokens, API keys and webhook secrets in full (default: masked)'] as const;

/**
 * `xopc config get | set | unset | validate`: reads and edits the config file the gateway
 * uses, validated with the gateway's own schema. A running gateway picks a change up by itself.
 */
export function buildConfigCli(): CAC {
  const cli = cac('xopc config');

  helpWithoutCommand(cli);

  cli
    .command('get [key]', 'Print the value at a dotted key (gateway.port, agents.list.main.model; none: the whole config), defaults filled in')
    .option('--json', 'Print the value as JSON (strings quoted)')
    .option(...SHOW_SECRETS_OPTION)
    .option(...CONFIG_OPTION)
    .action(async (key: string | undefined, options: GetOptions) => (await import('./config-read.js')).getConfigValue(key, options));

  cli
    .command('set <key> [value]', 'Set a key: the value is read as JSON when it parses (8080, true, null, ["a"], {"x":1}), else as text; validated before it is written')
    .option('--string', 'Take the value as text even when it parses as JSON (a token of digits, "true")')
    .option('--stdin', 'Read the value from standard input (keeps a secret out of the shell history and the process list)')
    .option('--json', 'Print the change as JSON')
    .option(...SHOW_SECRETS_OPTION)
    .option(...CONFIG_OPTION)
    .action(async (key: string, value: string | undefined, options: SetOptions) => (await import('./config-write.js')).setConfigValue(key, value, options));

  cli
    .command('unset <key>', 'Remove a key from the file (its default applies again); a list element by id or index')
    .option('--json', 'Print the change as JSON')
    .option(...SHOW_SECRETS_OPTION)
    .option(...CONFIG_OPTION)
    .action(async (key: string, options: UnsetOptions) => (await import('./config-write.js')).unsetConfigValue(key, options));

  cli
    .command('validate', "Check the config file against the gateway's schema: exit 0 when valid, else 1 with every problem as `key: message`")
    .option('--json', 'Print {valid, configPath, problems: [{key, message}]}')
    .option(...CONFIG_OPTION)
    .action(async (options: ValidateOptions) => (await import('./config-read.js')).validateConfigFile(options));

  cli.help();
  cli.version(VERSION);
  return cli;
}
