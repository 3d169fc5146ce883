import { toJsonSchema } from '@valibot/to-json-schema';
import type * as v from 'valibot';
import { ERROR_CODES, type ErrorCode } from './errors.js';
import type { AnySchema, ParamsSchema, Route } from './route.js';

/** A JSON Schema or OpenAPI object, as plain JSON. */
type Json = Record<string, unknown>;

/** The document's `info` object. */
export interface DocumentInfo {
  title: string;
  version: string;
  description?: string;
}

/** The media-type extension that carries the schema of each server-sent event's data. */
export const EVENT_DATA_EXTENSION = 'x-event-data';

const METHODS_WITH_BODY = new Set(['POST', 'PUT', 'PATCH']);
const OPTIONAL_TYPES = new Set(['optional', 'exact_optional', 'nullish', 'undefinedable']);

/**
 * The OpenAPI 3.1 document of the declared routes: every operation with its parameters,
 * body, answers and the error codes it can answer, grouped by status. Schemas are the
 * routes' own valibot schemas converted to JSON Schema 2020-12 (what OpenAPI 3.1 uses):
 * requests as the client sends them, query parameters as they read once parsed.
 */
export function buildOpenApiDocument(routes: Route[], info: DocumentInfo): Json {
  const paths: Record<string, Record<string, Json>> = {};
  for (const entry of routes) {
    const path = entry.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    (paths[path] ??= {})[entry.method.toLowerCase()] = operation(entry);
  }
  const tags = [...new Set(routes.map((entry) => entry.tag))].map((name) => ({ name }));
  return {
    openapi: '3.1.0',
    info,
    tags,
    paths,
    components: {
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', description: 'The gateway token (`xopc gateway token`)' },
      },
    },
  };
}

function operation(entry: Route): Json {
  const parameters = [
    ...parametersOf(entry.params, 'path', entry.example.params),
    ...parametersOf(entry.query, 'query', entry.example.query),
    ...(entry.headers ?? []).map((header) => ({
      name: header.name,
      in: 'header',
      required: false,
      description: header.description,
      schema: convert(header.schema, 'input'),
      ...(entry.example.headers?.[header.name] === undefined ? {} : { example: entry.example.headers[header.name] }),
    })),
  ];
  const body = entry.body ?? entry.documentedBody;
  return {
    operationId: entry.operationId,
    summary: entry.summary,
    ...(entry.description ? { description: entry.description } : {}),
    tags: [entry.tag],
    security: (entry.auth ?? 'bearer') === 'bearer' ? [{ bearerAuth: [] }] : [],
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(body ? {
      requestBody: {
        required: !entry.bodyOptional,
        content: { 'application/json': { schema: convert(body, 'input'), ...(entry.example.body === undefined ? {} : { example: entry.example.body }) } },
      },
    } : {}),
    responses: { ...successResponses(entry), ...errorResponses(entry) },
  };
}

function parametersOf(schema: ParamsSchema | undefined, where: 'path' | 'query', examples: Record<string, string> | undefined): Json[] {
  if (!schema) return [];
  return Object.entries(schema.entries).map(([name, entry]) => {
    const description = describe(entry);
    return {
      name,
      in: where,
      required: where === 'path' || !OPTIONAL_TYPES.has(entry.type),
      ...(description ? { description } : {}),
      // Path and query values arrive as text; a parameter documents what it must read as.
      schema: parameterSchema(convert(entry as AnySchema, 'output')),
      ...(examples?.[name] === undefined ? {} : { example: examples[name] }),
    };
  });
}

function successResponses(entry: Route): Record<string, Json> {
  const responses: Record<string, Json> = {};
  for (const [status, answer] of Object.entries(entry.responses)) {
    const content: Record<string, Json> = {};
    if (answer.schema) content[answer.contentType ?? 'application/json'] = { schema: convert(answer.schema, 'output') };
    // A body in another format (the Prometheus text): its media type, as a string.
    else if (answer.contentType) content[answer.contentType] = { schema: { type: 'string' } };
    if (answer.eventStream) {
      content['text/event-stream'] = {
        schema: { type: 'string', description: 'Server-sent events; each event\'s `data` is JSON as in ' + EVENT_DATA_EXTENSION },
        [EVENT_DATA_EXTENSION]: convert(answer.eventStream, 'output'),
      };
    }
    responses[status] = { description: answer.description, ...(Object.keys(content).length > 0 ? { content } : {}) };
  }
  return responses;
}

/** The codes a route can answer: its own, and those every route of its kind can. */
export function errorCodesOf(entry: Route): ErrorCode[] {
  const codes = new Set<ErrorCode>(entry.errors);
  const auth = entry.auth ?? 'bearer';
  if (auth === 'bearer') codes.add('UNAUTHORIZED');
  // The failed-auth lockout covers every /api and /v1 path, channel webhooks included.
  if (auth !== 'open') codes.add('RATE_LIMITED');
  if (METHODS_WITH_BODY.has(entry.method)) {
    codes.add('INVALID_REQUEST');
    codes.add('PAYLOAD_TOO_LARGE');
  }
  if (entry.params || entry.query || entry.body || entry.headers?.length) codes.add('INVALID_REQUEST');
  codes.add('INTERNAL_ERROR');
  return [...codes];
}

function errorResponses(entry: Route): Record<string, Json> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of errorCodesOf(entry)) {
    const { status } = ERROR_CODES[code];
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const responses: Record<string, Json> = {};
  for (const [status, codes] of [...byStatus].sort(([a], [b]) => a - b)) {
    responses[String(status)] = {
      description: codes.map((code) => `${code}: ${ERROR_CODES[code].meaning}`).join('; '),
      ...(codes.some((code) => code === 'RATE_LIMITED' || code === 'BUSY')
        ? { headers: { 'Retry-After': { description: 'seconds to wait', schema: { type: 'integer' } } } }
        : {}),
      content: { 'application/json': { schema: entry.errorShape === 'openai' ? openAiErrorSchema(codes) : errorSchema(codes) } },
    };
  }
  return responses;
}

function errorSchema(codes: ErrorCode[]): Json {
  return {
    type: 'object',
    required: ['error'],
    properties: {
      error: {
        type: 'object',
        required: ['code', 'message'],
        properties: { code: { enum: codes }, message: { type: 'string' } },
      },
    },
  };
}

/** OpenAI's error shape, which the OpenAI SDKs parse; `code` is the registry's code. */
function openAiErrorSchema(codes: ErrorCode[]): Json {
  return {
    type: 'object',
    required: ['error'],
    properties: {
      error: {
        type: 'object',
        required: ['message', 'type', 'param', 'code'],
        properties: {
          message: { type: 'string' },
          type: { type: 'string' },
          param: { type: ['string', 'null'] },
          code: { enum: codes },
        },
      },
    },
  };
}

function convert(schema: AnySchema, typeMode: 'input' | 'output'): Json {
  // errorMode "ignore": checks JSON Schema cannot say (a custom check) are left out of the
  // document; the route still applies them.
  const { $schema: _dialect, ...json } = toJsonSchema(schema, { target: 'draft-2020-12', typeMode, errorMode: 'ignore' }) as Json;
  return json;
}

/** A default written as the text a client would send (`"50"`) reads, in the document, as the parsed value. */
function parameterSchema(json: Json): Json {
  if ((json.type === 'integer' || json.type === 'number') && typeof json.default === 'string') return { ...json, default: Number(json.default) };
  return json;
}

function describe(schema: v.GenericSchema): string | undefined {
  const pipe = (schema as { pipe?: Array<{ type: string; description?: string }>; wrapped?: v.GenericSchema }).pipe;
  const own = pipe?.find((item) => item.type === 'description')?.description;
  const wrapped = (schema as { wrapped?: v.GenericSchema }).wrapped;
  return own ?? (wrapped ? describe(wrapped) : undefined);
}
