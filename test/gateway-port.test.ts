import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { alive, removeHome, startGateway, tempHome } from './helpers/gateway.js';
import { foreignListener, freePort } from './helpers/net.js';

test('a port held by another program fails with the seed message and exit 1', async () => {
  const port = await freePort();
  const holder = await foreignListener(port);
  const gw = await startGateway({ args: ['--port', String(port), '--host', '127.0.0.1'], expectExit: true });
  try {
    assert.equal((await gw.exited).code, 1);
    assert.match(gw.output(), new RegExp(`❌ Port ${port} is already in use\\. Use --force to kill existing process\\.`));
    assert.ok(alive(holder.pid), 'the other program was left alone');
  } finally {
    holder.kill('SIGKILL');
    removeHome(gw.home);
  }
});

test('--force frees a port held by another program', async () => {
  const port = await freePort();
  const holder = await foreignListener(port);
  const holderExit = new Promise((resolve) => holder.once('exit', (code, signal) => resolve(signal ?? code)));
  const gw = await startGateway({ args: ['--port', String(port), '--host', '127.0.0.1', '--force'] });
  try {
    assert.equal(await holderExit, 'SIGTERM');
    assert.equal(gw.port, port);
    assert.equal((await fetch(gw.url('/health'))).status, 200);
  } finally {
    await gw.stop();
    removeHome(gw.home);
  }
});

test('--force frees a port held by another gateway (other config)', async () => {
  const port = await freePort();
  const home = tempHome();
  const args = ['--port', String(port), '--host', '127.0.0.1'];
  const a = await startGateway({ home, configPath: join(home, 'a.json'), args });
  const b = await startGateway({ home, configPath: join(home, 'b.json'), args: [...args, '--force'] });
  try {
    const aExit = await a.exited;
    assert.ok(aExit.code === 0 || aExit.signal === 'SIGKILL', `old gateway ended: ${JSON.stringify(aExit)}`);
    assert.ok(!alive(a.lock()?.workerPid), 'old worker is gone');
    assert.equal(b.lock()!.port, port);
    assert.equal((await fetch(b.url('/health'))).status, 200);
  } finally {
    await Promise.all([a.stop(), b.stop()]);
    removeHome(home);
  }
});
