/** How a SIGUSR1 restart is carried out (SPEC 3). */
export type RestartMode = 'supervised' | 'in-process' | 'respawn';

/**
 * Supervised when a service manager runs us (our marker, or the variables systemd and
 * launchd set): then we must never detach a child it does not know about.
 */
export function isSupervised(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.XOPC_SERVICE_MARKER || env.INVOCATION_ID || env.JOURNAL_STREAM || env.LAUNCH_JOB_LABEL);
}

export function restartMode(env: NodeJS.ProcessEnv): RestartMode {
  // Task Scheduler restarts nothing on exit and Windows has no SIGUSR1: restart in place.
  if (env.XOPC_SERVICE_MARKER === 'schtasks') return 'in-process';
  if (isSupervised(env)) return 'supervised';
  if (env.XOPC_NO_RESPAWN === '1') return 'in-process';
  return 'respawn';
}

export function restartAllowed(env: NodeJS.ProcessEnv): boolean {
  return env.XOPC_ALLOW_SIGUSR1_RESTART === '1';
}

/** Which service manager runs us, as recorded in the lock for `stop` and `status`. */
export function serviceManagerName(env: NodeJS.ProcessEnv): string | null {
  if (env.XOPC_SERVICE_MARKER) return env.XOPC_SERVICE_MARKER;
  if (env.INVOCATION_ID || env.JOURNAL_STREAM) return 'systemd';
  if (env.LAUNCH_JOB_LABEL) return 'launchd';
  return null;
}
