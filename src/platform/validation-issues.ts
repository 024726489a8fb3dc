// Turns Fastify/Ajv validation errors into FastAPI's 422 items: {loc, msg, type}, so original clients can parse them.
import type { FastifySchemaValidationError } from 'fastify';
import type { ValidationIssue } from './errors.js';

const LOCATION: Record<string, string> = {
  body: 'body',
  querystring: 'query',
  params: 'path',
  headers: 'header',
};

const TYPE_BY_KEYWORD: Record<string, (params: Record<string, unknown>) => string> = {
  required: () => 'missing',
  type: (p) => `${String(p.type)}_type`,
  minLength: () => 'string_too_short',
  maxLength: () => 'string_too_long',
  pattern: () => 'string_pattern_mismatch',
  format: () => 'value_error',
  minimum: () => 'greater_than_equal',
  exclusiveMinimum: () => 'greater_than',
  maximum: () => 'less_than_equal',
  exclusiveMaximum: () => 'less_than',
  minItems: () => 'too_short',
  maxItems: () => 'too_long',
  enum: () => 'enum',
  const: () => 'literal_error',
  anyOf: () => 'union_error',
  additionalProperties: () => 'extra_forbidden',
};

function pointerToLoc(pointer: string): (string | number)[] {
  if (!pointer) return [];
  return pointer
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((part) => (/^\d+$/.test(part) ? Number(part) : part));
}

export function toValidationIssues(
  errors: FastifySchemaValidationError[],
  context: string | undefined,
): ValidationIssue[] {
  const where = LOCATION[context ?? 'body'] ?? context ?? 'body';
  const issues: ValidationIssue[] = [];
  const seen = new Set<string>();
  for (const error of errors) {
    const params = error.params;
    const loc: (string | number)[] = [where, ...pointerToLoc(error.instancePath)];
    let msg = error.message ?? 'Invalid value';
    if (error.keyword === 'required' && typeof params.missingProperty === 'string') {
      loc.push(params.missingProperty);
      msg = 'Field required';
    } else if (error.keyword === 'additionalProperties' && typeof params.additionalProperty === 'string') {
      loc.push(params.additionalProperty);
      msg = 'Extra inputs are not permitted';
    }
    const type = TYPE_BY_KEYWORD[error.keyword]?.(params) ?? error.keyword;
    const key = `${loc.join('\u0000')}|${type}`;
    if (seen.has(key)) continue;
    seen.add(key);
    issues.push({ loc, msg, type });
  }
  return issues;
}
