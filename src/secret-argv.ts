/**
 * A gateway command line without its `--token T` (or `--token=T`). What a process was
 * started with is readable by every local user (`ps`, /proc/<pid>/cmdline) and the lock
 * file keeps it for `restart --force`; neither may carry the token. A respawned
 * supervisor gets the token from the old one over IPC instead.
 */
export function withoutTokenFlag(argv: readonly string[]): { argv: string[]; hadToken: boolean } {
  const kept: string[] = [];
  let hadToken = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      kept.push(...argv.slice(i));
      break;
    }
    if (arg === '--token') {
      hadToken = true;
      i++;
      continue;
    }
    if (arg.startsWith('--token=')) {
      hadToken = true;
      continue;
    }
    kept.push(arg);
  }
  return { argv: kept, hadToken };
}
