import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import Router from '@koa/router';
import Koa from 'koa';
import { lazyRoutes, type Routes } from '../worker/http/lazy-routes.js';

/** A Koa app with `routes` mounted and a 404 fallback, on 127.0.0.1 port 0. */
async function serve(routes: Routes): Promise<{ get(path: string): Promise<{ status: number; text: string }>; close(): Promise<void> }> {
  const app = new Koa();
  app.silent = true;
  app.use(routes.routes());
  app.use((ctx) => {
    ctx.status = 404;
    ctx.body = 'fallback';
  });
  const server = http.createServer(app.callback()).listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    async get(path) {
      const response = await fetch(`${base}${path}`);
      return { status: response.status, text: await response.text() };
    },
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

function itemsRouter(): Router {
  const router = new Router();
  router.get('/api/items', (ctx) => {
    ctx.body = 'items';
  });
  router.get('/api/items/:id', (ctx) => {
    ctx.body = `item ${ctx.params.id}`;
  });
  return router;
}

test('a request under the prefix waits for the load and is answered by the loaded routes', async () => {
  let loads = 0;
  const server = await serve(lazyRoutes(['/api/items'], async () => {
    loads++;
    return itemsRouter();
  }));
  try {
    assert.deepEqual(await server.get('/api/items'), { status: 200, text: 'items' });
    // The router compares paths case-insensitively; so does the prefix check.
    assert.deepEqual(await server.get('/API/Items/7'), { status: 200, text: 'item 7' });
    assert.deepEqual(await server.get('/api/itemsx'), { status: 404, text: 'fallback' });
    assert.equal(loads, 1);
  } finally {
    await server.close();
  }
});

test('other paths pass by without loading anything', async () => {
  let loads = 0;
  const server = await serve(lazyRoutes(['/api/items'], async () => {
    loads++;
    return itemsRouter();
  }));
  try {
    assert.deepEqual(await server.get('/health'), { status: 404, text: 'fallback' });
    assert.deepEqual(await server.get('/api/other'), { status: 404, text: 'fallback' });
    assert.equal(loads, 0);
  } finally {
    await server.close();
  }
});

test('concurrent first requests share one load', async () => {
  let loads = 0;
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const server = await serve(lazyRoutes(['/api/items'], async () => {
    loads++;
    await released;
    return itemsRouter();
  }));
  try {
    const answers = Promise.all([server.get('/api/items'), server.get('/api/items/1'), server.get('/api/items/2')]);
    release();
    assert.deepEqual((await answers).map((answer) => answer.text), ['items', 'item 1', 'item 2']);
    assert.equal(loads, 1);
  } finally {
    await server.close();
  }
});

test('preload loads before any request, once', async () => {
  let loads = 0;
  const routes = lazyRoutes(['/api/items'], async () => {
    loads++;
    return itemsRouter();
  });
  await routes.preload!();
  await routes.preload!();
  assert.equal(loads, 1);
  const server = await serve(routes);
  try {
    assert.deepEqual(await server.get('/api/items'), { status: 200, text: 'items' });
    assert.equal(loads, 1);
  } finally {
    await server.close();
  }
});

test('a failed load fails only the request that waited for it; the next one loads again', async () => {
  let loads = 0;
  const routes = lazyRoutes(['/api/items'], async () => {
    loads++;
    if (loads <= 2) throw new Error('module not found');
    return itemsRouter();
  });
  // A failed preload is left to the request that needs the routes.
  await routes.preload!();
  const server = await serve(routes);
  try {
    assert.equal((await server.get('/api/items')).status, 500);
    assert.deepEqual(await server.get('/api/items'), { status: 200, text: 'items' });
    assert.equal(loads, 3);
  } finally {
    await server.close();
  }
});
