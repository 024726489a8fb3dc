// Turns Fastify/Ajv validation errors into FastAPI's 422 items: {loc, msg, type}, so original clients can parse them.
// A 422 lists at most MAX_LISTED_ISSUES of them; when there were more, one last item of type "too_many_errors" says
// how many were left out (its `ctx.omitted`, as pydantic puts an error's figures in `ctx`), so the list keeps the
// shape clients parse.
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

export const MAX_LISTED_ISSUES = 20;

/** The item that stands for `omitted` issues left out of a 422. */
export interface OmittedIssues extends ValidationIssue {
  type: 'too_many_errors';
  ctx: { omitted: number };
}

/** The first MAX_LISTED_ISSUES of `issues`, then one item counting the rest (if any). */
export function boundIssues(issues: ValidationIssue[], where?: string): ValidationIssue[] {
  if (issues.length <= MAX_LISTED_ISSUES) return issues;
  const omitted = issues.length - MAX_LISTED_ISSUES;
  const rest: OmittedIssues = {
    loc: [where ?? issues[0]?.loc[0] ?? 'body'],
    msg: `${omitted} more ${omitted === 1 ? 'error' : 'errors'} not listed`,
    type: 'too_many_errors',
    ctx: { omitted },
  };
  return [...issues.slice(0, MAX_LISTED_ISSUES), rest];
}

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
  return boundIssues(issues, where);
}
