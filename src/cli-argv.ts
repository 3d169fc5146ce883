import type { CAC } from 'cac';

/** One command as cac declares it: what the CLI parses is what completion offers. */
export interface CommandSpec {
  /** '' for a group's default command. */
  name: string;
  description: string;
  /** Every option name as typed, dashes included: `-n`, `--lines`, `--help`. */
  flags: string[];
  /** The flags that take a value. */
  valueFlags: string[];
}

/** An option's names as typed: `-n, --lines <n>` -> ['-n', '--lines']. */
function typedNames(rawName: string): string[] {
  return rawName.split(',').map((part) => part.trim().split(/\s/)[0]!);
}

/** The commands of one cac instance, each with the options every command accepts (`--help`). */
export function commandSpecs(cli: CAC): CommandSpec[] {
  const global = cli.globalCommand.options;
  return cli.commands.map((command) => {
    const options = [...command.options, ...global];
    return {
      name: command.name,
      description: command.description,
      flags: [...new Set(options.flatMap((option) => typedNames(option.rawName)))],
      valueFlags: options.filter((option) => option.required !== undefined).flatMap((option) => typedNames(option.rawName)),
    };
  });
}

/**
 * `--lines -5` reads to the argument parser as two options; joined into `--lines=-5`, the
 * value reaches the option and its check says what is wrong with it ("--lines must be ...").
 * Only for options that take a value and a next word that looks like a negative number.
 */
export function joinNegativeValues(cli: CAC, args: string[]): string[] {
  // A short name becomes its long one: `-n=-5` is not read as a value.
  const longOf = new Map<string, string>();
  for (const command of [...cli.commands, cli.globalCommand]) {
    for (const option of command.options) {
      if (option.required === undefined) continue;
      const names = typedNames(option.rawName);
      const long = names.find((name) => name.startsWith('--')) ?? names[0]!;
      for (const name of names) longOf.set(name, long);
    }
  }
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const next = args[i + 1];
    const long = longOf.get(arg);
    if (long && next !== undefined && /^-\d/.test(next)) {
      out.push(`${long}=${next}`);
      i++;
    } else out.push(arg);
  }
  return out;
}
