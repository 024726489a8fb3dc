// deploy/prometheus: promtool accepts the scrape configuration and the alert rules, and the rules' unit tests
// (alerts.test.yml: each alert fires on sample series that should fire it, and not before) pass. A copy of the
// rules with one threshold changed must fail those tests, so they can fail.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REQUIRE_SERVICES } from '../../helpers/services.js';

const DIR = path.resolve(import.meta.dirname, '../../../deploy/prometheus');
const installed = spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0;
if (!installed && REQUIRE_SERVICES) throw new Error('promtool is not installed (Debian package prometheus)');
if (!installed) console.warn('\n*** promtool is not installed: the Prometheus rule tests are SKIPPED. ***\n');

function promtool(args: string[], cwd = DIR) {
  const result = spawnSync('promtool', args, { cwd, encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

(installed ? describe : describe.skip)('deploy/prometheus with promtool', () => {
  it('has a valid scrape configuration and valid alert rules', () => {
    const config = promtool(['check', 'config', 'prometheus.yml']);
    expect(config.status, config.output).toBe(0);
    const rules = promtool(['check', 'rules', 'alerts.yml']);
    expect(rules.status, rules.output).toBe(0);
    expect(rules.output).toContain('10 rules found');
  });

  it('passes the unit tests of every alert', () => {
    const tests = promtool(['test', 'rules', 'alerts.test.yml']);
    expect(tests.status, tests.output).toBe(0);
    const tested = new Set(
      [...fs.readFileSync(path.join(DIR, 'alerts.test.yml'), 'utf8').matchAll(/alertname: (\w+)/g)].map(
        (m) => m[1],
      ),
    );
    const defined = [...fs.readFileSync(path.join(DIR, 'alerts.yml'), 'utf8').matchAll(/alert: (\w+)/g)].map(
      (m) => m[1],
    );
    expect(defined).toHaveLength(10);
    for (const alert of defined) expect(tested, alert).toContain(alert);
  });

  it('fails those unit tests when a rule changes (so they can fail)', () => {
    const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'sutazai-rules-'));
    try {
      const rules = fs.readFileSync(path.join(DIR, 'alerts.yml'), 'utf8');
      expect(rules).toContain('> 0.05');
      fs.writeFileSync(path.join(copy, 'alerts.yml'), rules.replace('> 0.05', '> 0.5'));
      fs.copyFileSync(path.join(DIR, 'alerts.test.yml'), path.join(copy, 'alerts.test.yml'));
      const tests = promtool(['test', 'rules', 'alerts.test.yml'], copy);
      expect(tests.status).not.toBe(0);
      expect(tests.output).toContain('SutazaiHigh5xxRatio');
    } finally {
      fs.rmSync(copy, { recursive: true, force: true });
    }
  });
});
