import { removeHome, startGateway, type Gateway, type StartOptions } from '../../test/helpers/gateway.js';
import { startMockLlm, chatRule, completion, type MockLlm } from '../../test/helpers/mock-llm.js';
import { onCleanup } from './run.js';

/**
 * A real `xopc gateway` (supervisor + worker) in a temp home, stopped and removed when the
 * benchmark ends. Its terminal output is read and dropped (the test helper would keep it
 * all in this process, which also runs the load generator). `asService` starts it the way
 * a service manager does (XOPC_SERVICE_MARKER): logs go to the log file only, not also
 * pretty-printed to a terminal; SIGUSR1 then means "exit and be restarted".
 */
export async function benchGateway(options: StartOptions & { asService?: boolean } = {}): Promise<Gateway & { dispose(): Promise<void> }> {
  const { asService, ...start } = options;
  const gateway = await startGateway(asService ? { ...start, env: { ...start.env, XOPC_SERVICE_MARKER: 'bench' } } : start);
  for (const stream of [gateway.proc.stdout!, gateway.proc.stderr!]) {
    stream.removeAllListeners('data');
    stream.resume();
  }
  let disposed = false;
  const dispose = async () => {
    if (disposed) return;
    disposed = true;
    await gateway.stop();
    removeHome(gateway.home);
  };
  onCleanup(dispose);
  return Object.assign(gateway, { dispose });
}

/** mock-llm answering every chat completion at once with a short fixed text; stopped at the end. */
export async function benchMockLlm(reply = 'ok'): Promise<MockLlm> {
  const mock = await startMockLlm({ streaming: { chunkSize: 50, chunkIntervalMs: 0 }, rules: [chatRule('@', 200, completion(reply))] });
  onCleanup(() => mock.stop());
  return mock;
}

/** Gateway config using `mock` as the model provider, so no request leaves the machine. */
export function mockProviderConfig(mock: MockLlm, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    agents: { defaults: { model: 'mock/bench', maxRetries: 0, timeoutMs: 10_000 } },
    providers: { mock: { baseUrl: mock.baseUrl, apiKey: 'bench' } },
    ...extra,
  };
}
