import type { ChildProcess } from 'node:child_process';
import { isMessage, type HandoverMessage } from '../src/ipc.js';

/**
 * The old supervisor's side of a respawn restart: it talks to the new supervisor it
 * spawned over an IPC channel (handover-ready -> background-free -> lock-released ->
 * lock-taken), then disconnects and exits.
 */
export function sendHandover(child: ChildProcess, message: HandoverMessage): void {
  if (child.connected) child.send(message);
}

/** Resolves on the next `cmd` from the new supervisor; rejects if it fails, exits or stays silent. */
export function waitForHandover(child: ChildProcess, cmd: HandoverMessage['cmd'], timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`no "${cmd}" from the new supervisor within ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (message: unknown) => {
      if (isMessage<HandoverMessage>(message) && message.cmd === cmd) done();
      if (isMessage<HandoverMessage>(message) && message.cmd === 'handover-failed') done(new Error(message.message));
    };
    const onExit = (code: number | null) => done(new Error(`the new supervisor exited (code ${code})`));
    function done(err?: Error) {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve();
    }
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

/** Old side: answers the new supervisor's `handover-secrets-request` with the flags kept out of its argv. */
export function answerSecretsRequests(child: ChildProcess, token: string | null): void {
  child.on('message', (message: unknown) => {
    if (isMessage<HandoverMessage>(message) && message.cmd === 'handover-secrets-request') sendHandover(child, { cmd: 'handover-secrets', token });
  });
}

/** New side: asks the old supervisor for the token of its `--token` (null: it had none). */
export function requestSecrets(timeoutMs: number): Promise<{ token: string | null }> {
  return new Promise((resolve, reject) => {
    if (!process.send || !process.connected) return reject(new Error('no IPC channel to the previous supervisor'));
    const timer = setTimeout(() => done(new Error(`no "handover-secrets" from the previous supervisor within ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (message: unknown) => {
      if (isMessage<HandoverMessage>(message) && message.cmd === 'handover-secrets') done(null, message.token);
    };
    const onDisconnect = () => done(new Error('the previous supervisor went away before handing over'));
    function done(err: Error | null, token: string | null = null) {
      clearTimeout(timer);
      process.off('message', onMessage);
      process.off('disconnect', onDisconnect);
      if (err) reject(err);
      else resolve({ token });
    }
    process.on('message', onMessage);
    process.once('disconnect', onDisconnect);
    process.send({ cmd: 'handover-secrets-request' } satisfies HandoverMessage);
  });
}
