import type { CAC } from 'cac';
import { EXIT } from '../cli-error.js';

/** `--config`, as every command that acts on one gateway's config takes it. */
export const CONFIG_OPTION = ['--config <path>', 'Config file (default: $XOPC_CONFIG or ~/.xopc/config.json)'] as const;

/** A command group run with no command prints its help and exits with the usage code. */
export function helpWithoutCommand(cli: CAC): void {
  cli
    .command('', '(no command) show this help')
    .usage('<command> [options]')
    .action(() => {
      cli.outputHelp();
      return EXIT.USAGE;
    });
}
