#!/usr/bin/env node
import './early-signals.js';
import type { CAC } from 'cac';
import { releaseEarlySignals } from './early-signals.js';
import { ConfigError } from './config-error.js';
import { CliError, EXIT } from './cli-error.js';
import { VERSION } from './version.js';
import { joinNegativeValues } from './cli-argv.js';

/**
 * Command groups: `xopc <group> [sub] [options]`; each group is its own cac instance,
 * loaded only when named (a command's start-up time is mostly module loading).
 */
const GROUPS: Record<string, { summary: string; build: () => Promise<CAC> }> = {
  gateway: { summary: 'Run and manage the gateway (status, stop, restart, logs, token, install, ...)', build: async () => (await import('./commands/gateway.js')).buildGatewayCli() },
  cron: { summary: 'Manage cron jobs of the running gateway (list, add, rm, run, toggle)', build: async () => (await import('./commands/cron.js')).buildCronCli() },
  config: { summary: 'Read, change and check the config file (get, set, unset, validate)', build: async () => (await import('./commands/config.js')).buildConfigCli() },
  doctor: { summary: 'Check the set-up and say what is wrong and how to fix it ([--json] [--fix])', build: async () => (await import('./commands/doctor.js')).buildDoctorCli() },
};

const COMPLETION_SUMMARY = 'Print shell completion for bash or zsh (e.g. `source <(xopc completion bash)`)';

function topLevelHelp(): string {
  const rows = Object.entries(GROUPS).map(([name, group]) => `  ${name.padEnd(10)} ${group.summary}`);
  rows.push(`  ${'completion'.padEnd(10)} ${COMPLETION_SUMMARY}`);
  return [`xopc/${VERSION}`, '', 'Usage:', '  $ xopc <command> [options]', '', 'Commands:', ...rows, '', 'Run `xopc <command> --help` for the options of a command.'].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [group, ...rest] = argv;
  if (!group || group === '--help' || group === '-h') {
    console.log(topLevelHelp());
    return group ? EXIT.OK : EXIT.USAGE;
  }
  if (group === '--version' || group === '-v') {
    console.log(VERSION);
    return EXIT.OK;
  }
  if (group === 'completion') {
    releaseEarlySignals();
    return (await import('./commands/completion.js')).printCompletion(rest, GROUPS);
  }
  const entry = GROUPS[group];
  if (!entry) throw new CliError(`Unknown command "${group}". Run \`xopc --help\` for the list.`, EXIT.USAGE);
  const cli = await entry.build();
  cli.parse(['node', `xopc ${group}`, ...joinNegativeValues(cli, rest)], { run: false });
  if (cli.options.help || cli.options.version) {
    releaseEarlySignals();
    return EXIT.OK;
  }
  if (cli.matchedCommand?.name === '' && cli.args.length > 0) {
    throw new CliError(`Unknown command "xopc ${group} ${cli.args[0]}". Run \`xopc ${group} --help\`.`, EXIT.USAGE);
  }
  if (!cli.matchedCommand) throw new CliError(`Unknown command "xopc ${group} ${cli.args[0] ?? ''}". Run \`xopc ${group} --help\`.`, EXIT.USAGE);
  // Only the foreground gateway keeps the early SIGTERM/SIGINT listeners; other commands die on Ctrl+C as usual.
  if (!(group === 'gateway' && cli.matchedCommand.name === '')) releaseEarlySignals();
  const result = await cli.runMatchedCommand();
  return typeof result === 'number' ? result : EXIT.OK;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof CliError || err instanceof ConfigError) {
      console.error(`❌ ${err.message}`);
      process.exitCode = err instanceof CliError ? err.exitCode : EXIT.FAILURE;
    } else if (err instanceof Error && /^(Unknown option|Unused args|missing required args|option .* value is missing)/i.test(err.message)) {
      // cac's own usage errors
      console.error(`❌ ${err.message}`);
      process.exitCode = EXIT.USAGE;
    } else {
      console.error(`❌ Unexpected error: ${err instanceof Error ? err.message : String(err)}`);
      if (process.env.XOPC_DEBUG) console.error(err);
      process.exitCode = EXIT.FAILURE;
    }
  },
);
