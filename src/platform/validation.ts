// Request validation with Fastify's own Ajv compiler, in two flavours. Query strings, path parameters and headers
// arrive as text, so they are coerced to the schema's types ("10" → 10), as Fastify does by default. A JSON body
// already has types, and coercing them would silently accept wrong ones ({"name": 5} as the string "5", a string
// "true" as a boolean): bodies are validated without coercion, so a wrong type is a 422, as FastAPI answers.
import { AjvCompiler } from '@fastify/ajv-compiler';
import type { FastifyServerOptions } from 'fastify';

type SchemaController = NonNullable<FastifyServerOptions['schemaController']>;
type ValidatorFactory = NonNullable<NonNullable<SchemaController['compilersFactory']>['buildValidator']>;

const buildValidator: ValidatorFactory = (externalSchemas, ajvOptions) => {
  const base = (ajvOptions ?? {}) as { customOptions?: Record<string, unknown> };
  const withOptions = (custom: Record<string, unknown>) =>
    AjvCompiler()(externalSchemas, {
      ...base,
      customOptions: { ...base.customOptions, allErrors: true, ...custom },
    });
  const coercing = withOptions({});
  const strict = withOptions({ coerceTypes: false });
  // A form-encoded body is text like a query string; only a body whose schema is not declared for forms (JSON)
  // is validated strictly. Routes taking forms declare them per content type (`body: { content: {...} }`).
  return (route: Parameters<typeof strict>[0] & { contentType?: string }) =>
    route.httpPart === 'body' && !route.contentType?.includes('form-urlencoded')
      ? strict(route)
      : coercing(route);
};

export const schemaController: SchemaController = { compilersFactory: { buildValidator } };
