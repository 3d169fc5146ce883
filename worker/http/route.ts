import Router from '@koa/router';
import type Koa from 'koa';
import * as v from 'valibot';
import type { ErrorCode } from './errors.js';
import type { Routes } from './lazy-routes.js';
import { parseInput } from './validate.js';

/*
 * Adding a route: declare it with `route({...}, handler)` in its module under routes/ and
 * return it in that module's `routeGroup([...])`. That one declaration mounts it, validates
 * its input, puts it in /openapi.json (answers, error codes from the registry, example) and
 * so into the contract test (test/openapi.test.ts), which calls every documented operation;
 * the README endpoint table must list it too (the same test checks).
 */

/** Any valibot schema. */
export type AnySchema = v.GenericSchema;
/** A schema for path parameters or a query string: an object whose entries are the parameters. */
export type ParamsSchema = v.ObjectSchema<v.ObjectEntries, v.ErrorMessage<v.ObjectIssue> | undefined>;

/** The methods a route can be declared with. */
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/**
 * Who may call a route: `bearer` needs the gateway token (the auth middleware checks every
 * /api and /v1 path), `open` needs nothing, `channel` is authenticated by the channel itself.
 */
export type RouteAuth = 'bearer' | 'open' | 'channel';

/** One documented answer of a route. */
export interface ResponseDef {
  description: string;
  /** The JSON body; for another content type, what its body holds (omit when it is not JSON). */
  schema?: AnySchema;
  /** Default application/json. */
  contentType?: string;
  /** The same answer as server-sent events (`Accept: text/event-stream`): the schema of each event's data. */
  eventStream?: AnySchema;
}

/** A request header a route reads. */
export interface HeaderDef {
  name: string;
  description: string;
  schema: AnySchema;
}

/**
 * Everything known about a route before it runs: what /openapi.json says about it, and
 * what it validates. A route is declared once, with its handler, by `route()`.
 */
export interface RouteDef<B extends AnySchema | undefined = AnySchema | undefined, Q extends ParamsSchema | undefined = ParamsSchema | undefined, P extends ParamsSchema | undefined = ParamsSchema | undefined> {
  /** Unique, camelCase: the name generated clients give the call. */
  operationId: string;
  method: HttpMethod;
  /** Koa style: `/api/sessions/:key`. */
  path: string;
  summary: string;
  description?: string;
  /** Groups operations in the document (`agent`, `sessions`, `openai`, ...). */
  tag: string;
  /** Default `bearer`. */
  auth?: RouteAuth;
  params?: P;
  query?: Q;
  body?: B;
  /**
   * The body as documented, for a handler that validates it itself, after checks that must
   * come first (a channel checks its signature before it reads the body).
   */
  documentedBody?: AnySchema;
  /** The body may be left out entirely (it then validates as `{}`). */
  bodyOptional?: boolean;
  headers?: HeaderDef[];
  /** Success answers by status. */
  responses: Record<number, ResponseDef>;
  /**
   * The registry codes this route answers besides those every route of its kind can
   * (auth, body and parameter errors, INTERNAL_ERROR: added by the document).
   */
  errors: ErrorCode[];
  /** `openai` for the OpenAI-compatible API, whose clients parse OpenAI's error shape. */
  errorShape?: 'xopc' | 'openai';
  /** A request that succeeds (with the gateway's default config): shown in the document, sent by the contract test. */
  example: RequestExample;
}

/** Example request values, as a client would send them. */
export interface RequestExample {
  params?: Record<string, string>;
  query?: Record<string, string>;
  body?: unknown;
  headers?: Record<string, string>;
}

type Out<S> = S extends AnySchema ? v.InferOutput<S> : undefined;

/** What a handler gets: the request's validated parts. */
export interface RouteInput<B, Q, P> {
  body: Out<B>;
  query: Out<Q>;
  params: Out<P>;
}

/** A declared route and its handler. */
export interface Route extends RouteDef {
  handle(ctx: Koa.Context, input: RouteInput<unknown, unknown, unknown>): unknown;
}

/**
 * Declares a route: its document entry, its input schemas and its handler in one place.
 * The handler runs with the validated input; any schema failure is INVALID_REQUEST with
 * the schema's message.
 */
export function route<B extends AnySchema | undefined = undefined, Q extends ParamsSchema | undefined = undefined, P extends ParamsSchema | undefined = undefined>(
  def: RouteDef<B, Q, P>,
  handle: (ctx: Koa.Context, input: RouteInput<B, Q, P>) => unknown,
): Route {
  return { ...def, handle: handle as Route['handle'] } as Route;
}

/**
 * Mounts declared routes on one router. `operations()` hands their declarations to
 * /openapi.json, so a route is in the document exactly when it is mounted.
 */
export function routeGroup(list: Route[]): Routes {
  const router = new Router();
  for (const entry of list) {
    const method = entry.method.toLowerCase() as Lowercase<HttpMethod>;
    router[method](entry.path, async (ctx) => {
      await entry.handle(ctx, readInput(entry, ctx));
    });
  }
  return { routes: () => router.routes(), operations: async () => list };
}

function readInput(entry: Route, ctx: Koa.Context): RouteInput<unknown, unknown, unknown> {
  return {
    params: entry.params ? parseInput(entry.params, ctx.params) : undefined,
    query: entry.query ? parseInput(entry.query, ctx.query) : undefined,
    body: entry.body ? parseInput(entry.body, ctx.request.body ?? (entry.bodyOptional ? {} : undefined)) : undefined,
  } as RouteInput<unknown, unknown, unknown>;
}
