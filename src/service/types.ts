import type { RunTool } from './exec.js';
import type { ServiceSpec } from './spec.js';

/** Which service manager runs the gateway on this platform. */
export type ManagerKind = 'systemd' | 'launchd' | 'schtasks';

/** What the managers need from the outside world; tests pass temp dirs and fake runners. */
export interface ManagerDeps {
  run: RunTool;
  env: NodeJS.ProcessEnv;
  home: string;
  username: string;
  uid: number;
}

/** The program, arguments and environment read back from the installed definition file. */
export interface InstalledDefinition {
  program: string;
  args: string[];
  workingDir: string | null;
  env: Record<string, string>;
}

/** Simple words for the seed's `Status:` line; the manager's own words go in `detail`. */
export type ServiceState = 'running' | 'starting' | 'restarting' | 'stopping' | 'stopped' | 'failed' | 'not-installed' | 'unknown';

export interface ServiceStatus {
  manager: ManagerKind;
  definitionPath: string;
  installed: boolean;
  state: ServiceState;
  /** The manager's own description, e.g. `active (running)`. */
  detail: string | null;
  pid: number | null;
  /** Set when the manager could not be asked: one line saying why and what to do. */
  problem: string | null;
  definition: InstalledDefinition | null;
}

export interface InstallResult {
  definitionPath: string;
  /** False when the file already had exactly this content. */
  changed: boolean;
  enabled: boolean;
  started: boolean;
  /** One line: why the manager could not enable or start it (the file is still written). */
  problem: string | null;
  notes: string[];
}

export interface ActionResult {
  ok: boolean;
  problem: string | null;
  notes: string[];
}

export interface UninstallResult extends ActionResult {
  removed: string[];
}

/** One platform's service manager, behind the same four operations. */
export interface ServiceManager {
  kind: ManagerKind;
  /** The unit / plist / task XML path. */
  definitionPath: string;
  /** The name to pass to the manager's own tools (unit name, label, task name). */
  serviceName: string;
  install(spec: ServiceSpec): Promise<InstallResult>;
  start(): Promise<ActionResult>;
  /**
   * Stops the service through its manager, so it stays stopped (until the next login or
   * start): a plain SIGTERM to a gateway under Restart=always / KeepAlive is restarted.
   */
  stop(): Promise<ActionResult>;
  status(): Promise<ServiceStatus>;
  uninstall(): Promise<UninstallResult>;
  /** Commands to run the manager directly, for the status block. */
  nativeCommands(): { stop: string; restart: string; logs: string };
}

/** The status of a service before its manager is asked: what the definition file says. */
export function statusFromDefinition(manager: ManagerKind, definitionPath: string, definition: InstalledDefinition | null, installed = definition !== null): ServiceStatus {
  return { manager, definitionPath, installed, state: installed ? 'unknown' : 'not-installed', detail: null, pid: null, problem: null, definition };
}
