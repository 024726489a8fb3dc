// Every metric the alert rules and the Grafana dashboard use is one a running server exports (its # TYPE lines,
// scraped over HTTP from a server with Redis and the probes on), so that neither watches a name that never comes.
// `up` is Prometheus' own.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { describeWithRedis } from '../../helpers/dialects.js';
import { TEST_REDIS_URL } from '../../helpers/services.js';
import { listen } from '../platform/error-routes.js';

const DEPLOY = path.resolve(import.meta.dirname, '../../../deploy');
const PROMETHEUS_OWN = new Set(['up']);
const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'offset',
  'bool',
  'inf',
  'nan',
]);

/** The metric names a PromQL expression reads: identifiers outside label matchers, groupings, ranges and strings. */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    // Numbers and durations (0.99, 1e3, offset 5m).
    .replace(/(?<![\w:])\d[\d.]*(?:[eE][+-]?\d+)?(?:ms|[smhdwy])?\b/g, ' ');
  return [...bare.matchAll(/([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?/g)]
    .filter((m) => m[2] === undefined && !KEYWORDS.has((m[1] ?? '').toLowerCase()))
    .map((m) => m[1] ?? '')
    .filter((name) => !/^\$/.test(name));
}

interface Panel {
  targets?: { expr?: string }[];
  panels?: Panel[];
}

function dashboardExprs(): string[] {
  const dashboard = JSON.parse(
    fs.readFileSync(path.join(DEPLOY, 'grafana/sutazai-dashboard.json'), 'utf8'),
  ) as {
    panels: Panel[];
    templating: { list: { query?: string }[] };
  };
  const exprs: string[] = [];
  const walk = (panels: Panel[]) => {
    for (const panel of panels) {
      for (const target of panel.targets ?? []) if (target.expr) exprs.push(target.expr);
      walk(panel.panels ?? []);
    }
  };
  walk(dashboard.panels);
  for (const variable of dashboard.templating.list) {
    const inner = /^label_values\((.*),\s*\w+\)$/.exec(variable.query ?? '')?.[1];
    if (inner) exprs.push(inner);
  }
  return exprs;
}

function ruleExprs(): string[] {
  const rules = parse(fs.readFileSync(path.join(DEPLOY, 'prometheus/alerts.yml'), 'utf8')) as {
    groups: { rules: { expr: string }[] }[];
  };
  return rules.groups.flatMap((group) => group.rules.map((rule) => rule.expr));
}

it('reads metric names out of PromQL', () => {
  expect(
    metricNames(
      'histogram_quantile(0.99, sum by (instance, le) (rate(http_request_duration_seconds_bucket{job="x", route!~"/a.*"}[5m]))) > 1 and on (instance) up offset 5m',
    ),
  ).toEqual(['http_request_duration_seconds_bucket', 'up']);
});

describeWithRedis('metric names of deploy/', () => {
  let t: TestApp;
  let exported: Set<string>;
  beforeAll(async () => {
    t = await buildTestApp({
      env: {
        REDIS_URL: TEST_REDIS_URL,
        KONG_ADMIN_URL: 'http://127.0.0.1:9',
      },
    });
    const response = await fetch(`${await listen(t.app)}/metrics`);
    expect(response.status).toBe(200);
    const text = await response.text();
    exported = new Set();
    for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      exported.add(name ?? '');
      if (type === 'histogram' || type === 'summary')
        for (const suffix of ['_bucket', '_sum', '_count']) exported.add(`${name}${suffix}`);
    }
  });
  afterAll(() => t?.close());

  it.each([
    ['the alert rules', ruleExprs],
    ['the Grafana dashboard', dashboardExprs],
  ])('%s use only metrics the server exports', (_what, exprs) => {
    const used = new Set(exprs().flatMap(metricNames));
    expect(used.size).toBeGreaterThan(5);
    const unknown = [...used].filter((name) => !exported.has(name) && !PROMETHEUS_OWN.has(name));
    expect(unknown).toEqual([]);
  });
});
