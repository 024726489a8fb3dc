// Request validation with Fastify's own Ajv compiler, in two flavours. Query strings, path parameters and headers
// arrive as text, so they are coerced to the schema's types ("10" → 10), as Fastify does by default. A JSON body
// already has types, and coercing them would silently accept wrong ones ({"name": 5} as the string "5", a string
// "true" as a boolean): bodies are validated without coercion, so a wrong type is a 422, as FastAPI answers.
//
// Two bounds on top of Ajv:
// - Text that is to become a number must be written in decimal. Ajv coerces with JavaScript's `+text`, which reads
//   "0x10", "0b11", " 5", "+5", "5.0" and "Infinity" (and "1e400" as Infinity), and then skips `maximum` for a
//   non-finite number: "limit=Infinity" reached the database as a 500.
// - The work spent on an invalid request is bounded. Listing every error (`allErrors`) walks the whole input and
//   builds one error per bad value: a 1 MB body of 500,000 wrong items took seconds and a 37 MB answer. Inputs of
//   up to FULL_CHECK_MAX_VALUES values (every real request) get every error, of which the 422 lists the first 20
//   (platform/validation-issues.ts); larger ones go to a validator that stops at its first error.
import { AjvCompiler } from '@fastify/ajv-compiler';
import type { FastifySchemaValidationError, FastifyServerOptions } from 'fastify';

type SchemaController = NonNullable<FastifyServerOptions['schemaController']>;
type ValidatorFactory = NonNullable<NonNullable<SchemaController['compilersFactory']>['buildValidator']>;
type RouteCompiler = ReturnType<ValidatorFactory>;
type RouteSchema = Parameters<RouteCompiler>[0] & { contentType?: string };
type Compiled = ReturnType<RouteCompiler>;

/**
 * What this file needs of an Ajv validate function, as Fastify calls it (the context lets Ajv replace a coerced
 * root value). The wrappers below keep Ajv's `schema` and `schemaEnv`, which Fastify looks for.
 */
interface Validate {
  (data: unknown, context?: unknown): boolean;
  errors?: FastifySchemaValidationError[] | null;
  schema?: unknown;
  schemaEnv?: unknown;
}

/** Inputs holding more values (array items and object members, nested ones too) are checked up to the first error. */
export const FULL_CHECK_MAX_VALUES = 1000;

const buildValidator: ValidatorFactory = (externalSchemas, ajvOptions) => {
  const base = (ajvOptions ?? {}) as { customOptions?: Record<string, unknown> };
  const compilerWith = (custom: Record<string, unknown>) =>
    AjvCompiler()(externalSchemas, { ...base, customOptions: { ...base.customOptions, ...custom } });
  const listing = {
    coercing: compilerWith({ allErrors: true }),
    strict: compilerWith({ allErrors: true, coerceTypes: false }),
  };
  // Built on the first oversized input only: most processes never need them.
  let stopping: typeof listing | undefined;
  const stoppingCompilers = () =>
    (stopping ??= {
      coercing: compilerWith({ allErrors: false }),
      strict: compilerWith({ allErrors: false, coerceTypes: false }),
    });

  return (route: RouteSchema) => {
    // A form-encoded body is text like a query string; only a body whose schema is not declared for forms (JSON)
    // is validated strictly. Routes taking forms declare them per content type (`body: { content: {...} }`).
    const flavour =
      route.httpPart === 'body' && !route.contentType?.includes('form-urlencoded') ? 'strict' : 'coercing';
    let firstError: Validate | undefined;
    const validate = bounded(
      listing[flavour](route) as Validate,
      () => (firstError ??= stoppingCompilers()[flavour](route) as Validate),
    );
    return (flavour === 'coercing' ? decimalNumbersOnly(route.schema, validate) : validate) as Compiled;
  };
};

export const schemaController: SchemaController = { compilersFactory: { buildValidator } };

/** `wrapper`, marked as `validate` is: Fastify passes the parent only to a function with Ajv's `schemaEnv`. */
function like(validate: Validate, wrapper: Validate): Validate {
  wrapper.schema = validate.schema;
  wrapper.schemaEnv = validate.schemaEnv;
  return wrapper;
}

function bounded(listing: Validate, firstError: () => Validate): Validate {
  const validate: Validate = (data, context) => {
    const chosen = holdsAtMost(data, FULL_CHECK_MAX_VALUES) ? listing : firstError();
    const valid = chosen(data, context);
    validate.errors = chosen.errors ?? null;
    return valid;
  };
  return like(listing, validate);
}

/** Whether `data` holds at most `max` values, counting every array item and object member; stops counting there. */
function holdsAtMost(data: unknown, max: number): boolean {
  const pending: unknown[] = [data];
  let counted = 0;
  while (pending.length > 0) {
    const value = pending.pop();
    counted += 1;
    if (value === null || typeof value !== 'object') continue;
    if (Array.isArray(value)) {
      if (counted + pending.length + value.length > max) return false;
      for (const item of value) pending.push(item);
      continue;
    }
    for (const key in value) {
      if (counted + pending.length >= max) return false;
      pending.push((value as Record<string, unknown>)[key]);
    }
  }
  return true;
}

type Numeric = 'integer' | 'number';

const DECIMAL: Record<Numeric, { pattern: RegExp; fits: (n: number) => boolean; message: string }> = {
  integer: {
    pattern: /^-?\d+$/,
    // Beyond 2^53 a number is no longer the integer that was written.
    fits: Number.isSafeInteger,
    message: 'must be a whole number written in decimal digits, between -(2^53-1) and 2^53-1',
  },
  number: {
    pattern: /^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?$/,
    fits: Number.isFinite,
    message: 'must be a finite number written in decimal',
  },
};

/**
 * Wraps a coercing validator so that the text of a numeric member of an object schema (a query, path or form
 * parameter) must be decimal. Ajv has no hook before its coercion, and its coerced value no longer shows what was
 * written, so the text is checked here, before Ajv runs; Ajv's own errors about other members are kept.
 */
function decimalNumbersOnly(schema: unknown, validate: Validate): Validate {
  const numeric = numericMembers(schema);
  if (numeric.size === 0) return validate;
  const checked: Validate = (data, context) => {
    const wrong: FastifySchemaValidationError[] = [];
    if (data !== null && typeof data === 'object' && !Array.isArray(data)) {
      for (const [name, kind] of numeric) {
        const value = (data as Record<string, unknown>)[name];
        const texts = Array.isArray(value) ? value : [value];
        if (texts.some((text) => typeof text === 'string' && !isDecimal(text, kind)))
          wrong.push({
            keyword: 'type',
            instancePath: `/${name.replace(/~/g, '~0').replace(/\//g, '~1')}`,
            schemaPath: `#/properties/${name}/type`,
            params: { type: kind },
            message: DECIMAL[kind].message,
          });
      }
    }
    const valid = validate(data, context);
    if (wrong.length === 0) {
      checked.errors = validate.errors ?? null;
      return valid;
    }
    const flagged = new Set(wrong.map((error) => error.instancePath));
    checked.errors = [...wrong, ...(validate.errors ?? []).filter((e) => !flagged.has(e.instancePath))];
    return false;
  };
  return like(validate, checked);
}

function isDecimal(text: string, kind: Numeric): boolean {
  const rule = DECIMAL[kind];
  return rule.pattern.test(text) && rule.fits(Number(text));
}

/** The members of an object schema that are numbers (alone or in a union with null/boolean, never with text). */
function numericMembers(schema: unknown): Map<string, Numeric> {
  const members = new Map<string, Numeric>();
  const properties = (schema as { properties?: Record<string, unknown> } | null)?.properties;
  if (!properties || typeof properties !== 'object') return members;
  for (const [name, member] of Object.entries(properties)) {
    const types = typesOf(member);
    if (types.has('string')) continue;
    if (types.has('number')) members.set(name, 'number');
    else if (types.has('integer')) members.set(name, 'integer');
  }
  return members;
}

function typesOf(schema: unknown): Set<string> {
  const types = new Set<string>();
  if (schema === null || typeof schema !== 'object') return types;
  const { type, anyOf, oneOf } = schema as { type?: unknown; anyOf?: unknown; oneOf?: unknown };
  for (const t of Array.isArray(type) ? type : [type]) if (typeof t === 'string') types.add(t);
  for (const union of [anyOf, oneOf])
    if (Array.isArray(union)) for (const member of union) for (const t of typesOf(member)) types.add(t);
  return types;
}
