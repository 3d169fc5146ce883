import * as v from 'valibot';
import { VERSION } from '../../src/version.js';
import type { Routes } from '../http/lazy-routes.js';
import { loadOnce } from '../http/lazy-routes.js';
import { route, routeGroup, type Route } from '../http/route.js';

const documentSchema = v.looseObject({
  openapi: v.literal('3.1.0'),
  info: v.looseObject({ title: v.string(), version: v.string() }),
  paths: v.record(v.string(), v.looseObject({})),
});

/**
 * `GET /openapi.json`: the OpenAPI 3.1 document of every route this worker mounts,
 * built from their declarations on first request (the JSON Schema converter loads then)
 * and kept: the routes do not change while a worker runs.
 */
export function createOpenApiRouter(mounted: () => Routes[]): Routes {
  const document = loadOnce(async () => {
    const { buildOpenApiDocument } = await import('../http/openapi.js');
    const operations: Route[] = [];
    for (const routes of mounted()) operations.push(...((await routes.operations?.()) ?? []));
    return buildOpenApiDocument(operations, {
      title: 'xopc gateway',
      version: VERSION,
      description: 'The HTTP API of the xopc gateway: its own `/api/*` routes and an OpenAI-compatible `/v1/*`. Errors answer `{"error": {"code", "message"}}` (OpenAI\'s shape on /v1).',
    });
  });

  const openapi = route({
    operationId: 'getOpenApiDocument',
    method: 'GET',
    path: '/openapi.json',
    tag: 'gateway',
    summary: 'This document',
    auth: 'open',
    responses: { 200: { description: 'OpenAPI 3.1', schema: documentSchema } },
    errors: [],
    example: {},
  }, async (ctx) => {
    ctx.body = await document.get();
  });
  return routeGroup([openapi]);
}
