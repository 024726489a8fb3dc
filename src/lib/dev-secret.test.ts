import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MIN_SECRET_LENGTH } from '../config.js';
import { DEV_SECRET_FILE, loadOrCreateDevSecret } from './dev-secret.js';

describe('loadOrCreateDevSecret', () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'sutazai-dev-secret-'));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('generates a long secret once, in a data folder it creates, readable by the owner only', () => {
    const dataDir = path.join(root, 'nested', 'data');
    const secret = loadOrCreateDevSecret(dataDir);
    expect(secret.length).toBeGreaterThanOrEqual(MIN_SECRET_LENGTH);
    expect(secret).toMatch(/^[A-Za-z0-9_-]+$/);
    const file = path.join(dataDir, DEV_SECRET_FILE);
    expect(fs.readFileSync(file, 'utf8').trim()).toBe(secret);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  });

  it('reuses the kept secret on the next call', () => {
    const first = loadOrCreateDevSecret(root);
    expect(loadOrCreateDevSecret(root)).toBe(first);
    expect(loadOrCreateDevSecret(`${root}/`)).toBe(first);
  });

  it('generates a different secret for another data folder', () => {
    expect(loadOrCreateDevSecret(path.join(root, 'a'))).not.toBe(loadOrCreateDevSecret(path.join(root, 'b')));
  });

  it('uses a secret someone put in the file, without its surrounding whitespace', () => {
    const mine = 'a-hand-written-secret-of-enough-length-0123456789';
    fs.writeFileSync(path.join(root, DEV_SECRET_FILE), `  ${mine}\n\n`);
    expect(loadOrCreateDevSecret(root)).toBe(mine);
  });

  it.each(['', '\n', 'too-short'])(
    'refuses a kept secret too short to sign tokens (%j), naming the file',
    (content) => {
      const file = path.join(root, DEV_SECRET_FILE);
      fs.writeFileSync(file, content);
      expect(() => loadOrCreateDevSecret(root)).toThrow(
        `${file} holds a JWT secret shorter than ${MIN_SECRET_LENGTH} characters`,
      );
      expect(fs.readFileSync(file, 'utf8')).toBe(content);
    },
  );

  it('leaves nothing in the folder but the secret file', () => {
    loadOrCreateDevSecret(root);
    loadOrCreateDevSecret(root);
    expect(fs.readdirSync(root)).toEqual([DEV_SECRET_FILE]);
  });

  it('fails when the data folder cannot be created', () => {
    const notADir = path.join(root, 'file');
    fs.writeFileSync(notADir, 'x');
    expect(() => loadOrCreateDevSecret(path.join(notADir, 'data'))).toThrow(/ENOTDIR/);
  });

  it('gives every process starting together the same secret', async () => {
    const module = fileURLToPath(new URL('./dev-secret.ts', import.meta.url));
    // Each process loads the module, says "ready" and waits for "go", so that all of them race for the file.
    const script = `
      const { loadOrCreateDevSecret } = await import(${JSON.stringify(module)});
      process.stdout.write('ready\\n');
      process.stdin.once('data', () => {
        process.stdout.write(loadOrCreateDevSecret(process.argv[1]));
        process.exit(0);
      });`;
    const children = Array.from({ length: 5 }, () =>
      spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, root]),
    );
    const outputs = children.map(
      (child) =>
        new Promise<string>((resolve, reject) => {
          let out = '';
          child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
          child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
          child.once('error', reject);
          child.once('exit', (code) =>
            code === 0 ? resolve(out) : reject(new Error(`exit ${code}: ${out}`)),
          );
        }),
    );
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve) => {
            const onData = (chunk: Buffer) => {
              if (chunk.toString().includes('ready')) {
                child.stdout.off('data', onData);
                resolve();
              }
            };
            child.stdout.on('data', onData);
          }),
      ),
    );
    for (const child of children) child.stdin.write('go\n');
    const secrets = new Set((await Promise.all(outputs)).map((out) => out.replace(/^ready\n/, '')));
    expect(secrets.size).toBe(1);
    const [secret = ''] = secrets;
    expect(secret.length).toBeGreaterThanOrEqual(MIN_SECRET_LENGTH);
    expect(fs.readFileSync(path.join(root, DEV_SECRET_FILE), 'utf8').trim()).toBe(secret);
    expect(fs.readdirSync(root)).toEqual([DEV_SECRET_FILE]);
  });
});
