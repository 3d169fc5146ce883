/** Where the supervisor is in its life; restarts and the memory guard act only while `running`. */
export type Phase = 'starting' | 'running' | 'restarting' | 'stopping';

/**
 * What the supervisor's parts share. One object, mutated in place, so each part reads the
 * truth of the moment (a respawned supervisor gains the lock and the background services
 * while it runs).
 */
export interface SupervisorState {
  phase: Phase;
  /** This supervisor holds the gateway lock (a respawned one takes it over from the old one). */
  ownsLock: boolean;
  /** Its worker may run the background services (a respawned one waits for the old one's to stop). */
  ownsBackground: boolean;
}
