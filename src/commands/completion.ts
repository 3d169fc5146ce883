import type { CAC } from 'cac';
import { CliError, EXIT } from '../cli-error.js';
import { commandSpecs, type CommandSpec } from '../cli-argv.js';

/** A command group as the CLI entry point declares it. */
export interface GroupEntry {
  summary: string;
  build: () => Promise<CAC>;
}

/** What completion offers: per group, its commands with their flags, read from cac's own definitions. */
export async function completionSpecs(groups: Record<string, GroupEntry>): Promise<Record<string, CommandSpec[]>> {
  const specs: Record<string, CommandSpec[]> = {};
  for (const [name, group] of Object.entries(groups)) specs[name] = commandSpecs(await group.build());
  return specs;
}

/** `xopc completion bash|zsh`: prints the completion script for that shell. */
export async function printCompletion(args: string[], groups: Record<string, GroupEntry>): Promise<number> {
  const shell = args[0];
  if (shell !== 'bash' && shell !== 'zsh') {
    throw new CliError('Usage: xopc completion bash|zsh  (bash: add `source <(xopc completion bash)` to ~/.bashrc; zsh: `source <(xopc completion zsh)` in ~/.zshrc, after compinit)', EXIT.USAGE);
  }
  const specs = await completionSpecs(groups);
  process.stdout.write(shell === 'bash' ? bashScript(specs) : zshScript(specs));
  return EXIT.OK;
}

/**
 * The words to offer, by position: after `xopc`, the groups; after a group, its commands and
 * its default command's flags; after a command, that command's flags.
 */
function table(specs: Record<string, CommandSpec[]>): { groups: string[]; second: Record<string, string[]>; third: Record<string, string[]> } {
  const second: Record<string, string[]> = {};
  const third: Record<string, string[]> = {};
  for (const [group, commands] of Object.entries(specs)) {
    const fallback = commands.find((command) => command.name === '');
    second[group] = [...commands.filter((command) => command.name !== '').map((command) => command.name.split(' ')[0]!), ...(fallback?.flags ?? [])];
    for (const command of commands) third[`${group}:${command.name.split(' ')[0]}`] = command.flags;
  }
  return { groups: [...Object.keys(specs), 'completion'], second: { ...second, completion: ['bash', 'zsh'] }, third };
}

function bashScript(specs: Record<string, CommandSpec[]>): string {
  const { groups, second, third } = table(specs);
  const cases = (map: Record<string, string[]>) => Object.entries(map).map(([key, words]) => `    "${key}") words="${words.join(' ')}" ;;`).join('\n');
  return `# bash completion for xopc: source <(xopc completion bash)
_xopc() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" words=""
  local group="\${COMP_WORDS[1]}" command="\${COMP_WORDS[2]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    words="${groups.join(' ')}"
  elif [ "$COMP_CWORD" -eq 2 ]; then
    case "$group" in
${cases(second)}
    esac
  else
    case "$command" in -*) command="" ;; esac
    case "$group:$command" in
${cases(third)}
    esac
  fi
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _xopc xopc
`;
}

function zshScript(specs: Record<string, CommandSpec[]>): string {
  const { groups, second, third } = table(specs);
  const cases = (map: Record<string, string[]>) => Object.entries(map).map(([key, words]) => `      "${key}") offer=(${words.join(' ')}) ;;`).join('\n');
  return `#compdef xopc
# zsh completion for xopc: source <(xopc completion zsh), after compinit
_xopc() {
  # Not \`words\`: zsh keeps the command line in that array.
  local -a offer
  local group=\${words[2]} command=\${words[3]}
  if (( CURRENT == 2 )); then
    offer=(${groups.join(' ')})
  elif (( CURRENT == 3 )); then
    case $group in
${cases(second)}
    esac
  else
    [[ $command == -* ]] && command=''
    case "$group:$command" in
${cases(third)}
    esac
  fi
  compadd -- $offer
}
if [ "$funcstack[1]" = "_xopc" ]; then _xopc "$@"; else compdef _xopc xopc; fi
`;
}
