// docs/configuration.md and .env.example must name every setting the config reads, README must give the two
// commands a newcomer needs, and CI must run README's test command.
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { describeSettings } from '../../src/config.js';

const readme = fs.readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const configurationDoc = fs.readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
const envExample = fs.readFileSync(new URL('../../.env.example', import.meta.url), 'utf8');
const ciRun = fs.readFileSync(new URL('../../.ci/run', import.meta.url), 'utf8');

describe('documentation', () => {
  const settings = describeSettings();

  it('has a description for every setting', () => {
    expect(settings.length).toBeGreaterThan(20);
    for (const setting of settings) expect(setting.description, setting.name).not.toBe('');
  });

  it.each(settings.map((s) => [s.name, s.default] as const))(
    'docs/configuration.md and .env.example document %s',
    (name, def) => {
      expect(configurationDoc).toMatch(new RegExp(`^\\| \`${name}\` +\\|`, 'm'));
      expect(envExample).toMatch(
        new RegExp(`^#? ?${name}=${def.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'),
      );
    },
  );

  it('CI runs exactly the test command README gives, with REQUIRE_SERVICES=1', () => {
    expect(readme).toContain('```sh\nnpm test\n```');
    expect(ciRun).toMatch(/^npm ci$/m);
    expect(ciRun).toMatch(/^REQUIRE_SERVICES=1 npm test$/m);
  });

  it('README gives the install-and-start command', () => {
    expect(readme).toContain('```sh\nnpm ci && npm start\n```');
  });
});
