// GET /openapi.json: the OpenAPI 3.1 document of thaw's HTTP API, generated from the route table
// (routes.ts) — the schemas the gateway validates requests with are the document's schemas, as
// they are (OpenAPI 3.1's Schema Object is JSON Schema 2020-12).

import { ERROR_SCHEMA, type Route } from './route.ts';
import type { Schema } from './schema.ts';

const VERSION = '0.1.0';

type Json = Record<string, unknown>;

export function openApiDocument(routes: readonly Route[]): Json {
  const paths: Record<string, Record<string, Json>> = {};
  for (const route of routes) (paths[route.path] ??= {})[route.method.toLowerCase()] = operation(route);
  return {
    openapi: '3.1.0',
    info: {
      title: 'thaw',
      version: VERSION,
      description:
        'A serverless platform for JavaScript/TypeScript functions that does not start cold. Every error is {"error": {"code", "message"}}; ' +
        'with API tokens (thaw serve --token-file) every route but the public ones needs Authorization: Bearer TOKEN (scope in x-thaw-scope).',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    components: {
      schemas: { Error: ERROR_SCHEMA },
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'an API token of scope invoke or admin' } },
    },
    paths,
  };
}

function operation(route: Route): Json {
  const example = route.example ?? {};
  const parameters: Json[] = [];
  const add = (where: 'path' | 'query' | 'header', schemas: Readonly<Record<string, Schema>> | undefined, examples: Record<string, string> | undefined) => {
    for (const [name, schema] of Object.entries(schemas ?? {})) {
      parameters.push({
        name,
        in: where,
        required: where === 'path',
        ...(schema.description ? { description: schema.description } : {}),
        schema,
        ...(examples?.[name] !== undefined ? { example: examples[name] } : {}),
      });
    }
  };
  add('path', route.params, example.params);
  add('query', route.query, example.query);
  add('header', route.headers, example.headers);
  const responses: Json = {};
  for (const [status, spec] of Object.entries(route.responses)) {
    responses[status] = { description: spec.description, content: { [spec.type ?? 'application/json']: spec.schema ? { schema: spec.schema } : {} } };
  }
  responses.default = { description: 'an error: 4xx the request was wrong (the message names the part), 5xx thaw failed', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
  return {
    operationId: operationId(route),
    summary: route.summary,
    'x-thaw-scope': route.scope,
    security: route.scope === 'public' ? [] : [{ bearer: [] }],
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(route.body ? { requestBody: requestBody(route) } : {}),
    responses,
  };
}

function requestBody(route: Route): Json {
  const body = route.body!;
  const content: Json = {};
  if (body.json) {
    content['application/json'] = {
      schema: body.json === true ? {} : body.json,
      ...(route.example?.body !== undefined ? { example: route.example.body } : {}),
    };
  }
  for (const type of body.binary ?? []) content[type] = { schema: { type: 'string', contentMediaType: type } };
  return { description: body.description, required: body.required, content };
}

/** `POST /functions/{name}/invoke` → `postFunctionsNameInvoke`. */
function operationId(route: Route): string {
  const words = route.path.split(/[^A-Za-z0-9]+/).filter(Boolean);
  const id = [route.method.toLowerCase(), ...words.map((w) => w[0]!.toUpperCase() + w.slice(1))].join('');
  return route.path === '/' ? `${id}Root` : id;
}
