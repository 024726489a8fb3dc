// Mail of the auth flows when SMTP is down or absent: registration never fails for it, the mail waits in the
// email_outbox table (delivered once the server is back), and without SMTP_HOST the link is logged, never written
// to a file in the source tree (the original committed 152 token files).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { newUser, register } from '../../helpers/auth.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { startSmtpSink, type SmtpSink } from '../../helpers/smtp-sink.js';
import { REPO_ROOT } from '../../helpers/spawn.js';
import {
  FRONTEND_URL,
  VERIFY_SUBJECT,
  eventually,
  linkToken,
  mailEnv,
  mailsTo,
  nthMailTo,
  outboxRows,
  verifyEmail,
} from './email-flows.helpers.js';

/**
 * Files under the repository (dependencies and git's own store aside) modified at or after `sinceMs` that contain
 * `needle`. Other engineers may be editing files meanwhile, so the content decides, not the list of changed files;
 * a file that vanishes while we look is skipped.
 */
function filesHolding(needle: string, sinceMs: number, dir = REPO_ROOT): string[] {
  const found: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === '.git') continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      found.push(...filesHolding(needle, sinceMs, full));
      continue;
    }
    try {
      const stat = fs.statSync(full);
      if (!entry.isFile() || stat.mtimeMs < sinceMs || stat.size > 5_000_000) continue;
      if (fs.readFileSync(full, 'utf8').includes(needle)) found.push(full);
    } catch {
      // Removed meanwhile.
    }
  }
  return found;
}

describeEachDialect('email flows: SMTP outage', (dialect) => {
  let sink: SmtpSink;
  let t: TestApp;
  beforeAll(async () => {
    sink = await startSmtpSink();
    t = await buildTestApp({ dialect, env: mailEnv(sink) });
  });
  afterAll(async () => {
    sink?.refuse(false);
    await t?.close();
    await sink?.close();
  });

  it('registration answers 201 while the server refuses mail; the mail waits, then goes out once', async () => {
    sink.refuse(true);
    const user = await register(t.app, newUser());
    const [row] = await outboxRows(t, user.email);
    expect(row).toMatchObject({ status: 'pending', kind: 'email-verification', subject: VERIFY_SUBJECT });

    // The sender tried and was refused (the row counts the attempt and keeps the server's answer), still pending.
    const failed = await eventually(async () => {
      const [current] = await outboxRows(t, user.email);
      return current && current.attempts >= 1 ? current : undefined;
    }, 'a failed delivery attempt');
    expect(failed.status).toBe('pending');
    expect(failed.last_error).toMatch(/451/);
    expect(mailsTo(sink, user.email, VERIFY_SUBJECT)).toHaveLength(0);

    sink.refuse(false);
    const mail = await nthMailTo(sink, user.email, VERIFY_SUBJECT);
    const sent = await eventually(async () => {
      const [current] = await outboxRows(t, user.email);
      return current?.status === 'sent' ? current : undefined;
    }, 'the row to be marked sent');
    expect(sent.sent_at).not.toBeNull();
    expect((await verifyEmail(t.app, linkToken(mail, 'verify-email'))).statusCode).toBe(200);

    // Delivered exactly once, however often the sender polls afterwards.
    await t.app.mailOutbox.deliverDue();
    expect(mailsTo(sink, user.email, VERIFY_SUBJECT)).toHaveLength(1);
  });
});

describeEachDialect('email flows: no SMTP_HOST', (dialect) => {
  let t: TestApp;
  let startedMs: number;
  beforeAll(async () => {
    startedMs = Date.now();
    t = await buildTestApp({ dialect, env: mailEnv(), captureLogs: true });
  });
  afterAll(() => t?.close());

  it('registers (201), keeps the mail pending, logs the link and writes no file under the repository', async () => {
    const user = await register(t.app, newUser());
    const [row] = await outboxRows(t, user.email);
    expect(row).toMatchObject({ status: 'pending', attempts: 0, kind: 'email-verification' });

    const line = t.logs.find((l) => l.to === user.email && typeof l.link === 'string');
    expect(line, JSON.stringify(t.logs.slice(-5))).toBeDefined();
    const link = String(line?.link);
    const token = /\/verify-email\?token=([A-Za-z0-9_-]+)$/.exec(link)?.[1] ?? '';
    expect(link).toBe(`${FRONTEND_URL}/verify-email?token=${token}`);
    expect(line).toMatchObject({
      subject: VERIFY_SUBJECT,
      msg: 'SMTP_HOST is unset: mail kept in the outbox',
    });
    expect(row?.text_body).toContain(link);

    // Nothing delivers it: the row stays pending even when asked to deliver.
    await t.app.mailOutbox.deliverDue();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await outboxRows(t, user.email))[0]).toMatchObject({ status: 'pending', attempts: 0 });

    // The logged link is the way to finish the flow in development.
    expect((await verifyEmail(t.app, token)).statusCode).toBe(200);

    // No file in the source tree holds the token.
    const holders = filesHolding(token, startedMs - 1000);
    expect(holders).toEqual([]);
  });
});
