// The mail outbox against a real SMTP server on both dialects: delivery once, retries with backoff through an
// outage, giving up, no SMTP at all, rolled-back transactions, a dead server, and a sender that died mid-send.
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { ManualClock } from '../../../src/lib/clock.js';
import type { MailOutbox } from '../../../src/modules/mail/mail-outbox.js';
import type { Mailer, MailMessage } from '../../../src/modules/mail/mailer.js';
import type { Database } from '../../../src/platform/db/database.js';
import { transactor } from '../../../src/platform/db/transactions.js';
import { freshDatabase, type FreshDatabase } from '../../helpers/databases.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import { closedPort, startSmtpSink, type SmtpSink } from '../../helpers/smtp-sink.js';
import { buildOutbox, newMail, openMigrated } from './fixtures.js';

describeEachDialect('mail outbox', (dialect) => {
  let fresh: FreshDatabase;
  let database: Database;
  let sink: SmtpSink;
  let clock: ManualClock;
  const started: MailOutbox[] = [];

  beforeAll(async () => {
    fresh = await freshDatabase(dialect);
    database = await openMigrated(fresh.url);
    sink = await startSmtpSink();
  });
  afterAll(async () => {
    await sink.close();
    await database.destroy();
    await fresh.drop();
  });
  beforeEach(async () => {
    await database.db.deleteFrom('email_outbox').execute();
    sink.messages.length = 0;
    sink.refuse(false);
    clock = new ManualClock(new Date('2030-01-01T00:00:00.000Z'));
  });
  afterEach(async () => {
    await Promise.all(started.splice(0).map((outbox) => outbox.stop()));
  });

  function outboxWith(options: Omit<Parameters<typeof buildOutbox>[1], 'clock'> = {}) {
    const built = buildOutbox(database, { clock, ...options, env: { ...sink.env(), ...options.env } });
    started.push(built.outbox);
    return built;
  }
  const enqueue = (outbox: MailOutbox, mail = newMail()) =>
    transactor(database.db)((tx) => outbox.enqueue(mail, tx));

  it('delivers a mail once, with its From, To, Subject, both bodies and its headers', async () => {
    const { outbox, repository } = outboxWith();
    const mail = newMail();
    const id = await enqueue(outbox, mail);
    await outbox.deliverDue();
    await outbox.deliverDue();

    expect(sink.messages).toHaveLength(1);
    const received = sink.messages[0];
    expect(received?.to).toEqual([mail.to]);
    expect(received?.envelopeFrom).toBe('noreply@sutazai.local');
    expect(received?.from).toMatch(/^"?SutazAI Platform"? <noreply@sutazai\.local>$/);
    expect(received?.headers['reply-to']).toBe(received?.from);
    expect(received?.headers.to).toBe(mail.to);
    expect(received?.subject).toBe(mail.subject);
    expect(received?.text.trimEnd()).toBe(mail.text.trimEnd());
    expect(received?.html.trimEnd()).toBe(mail.html);
    expect(received?.headers['x-email-type']).toBe('email-verification');

    const row = await repository.findById(id);
    expect(row).toMatchObject({ status: 'sent', attempts: 0, lockedUntil: null, lastError: null });
    expect(row?.sentAt).toEqual(clock.now());
    expect(await repository.countByStatus()).toEqual({ pending: 0, sent: 1, failed: 0 });
  });

  it('keeps a refused mail pending, retries it with doubling delays, and delivers it once the server accepts', async () => {
    const { outbox, repository } = outboxWith({ env: { OUTBOX_RETRY_BASE_MS: '1000' } });
    const start = clock.now().getTime();
    sink.refuse(true);
    const id = await enqueue(outbox);

    await outbox.deliverDue();
    let row = await repository.findById(id);
    expect(row).toMatchObject({ status: 'pending', attempts: 1, lockedUntil: null });
    expect(row?.nextAttemptAt).toEqual(new Date(start + 1000));
    expect(row?.lastError).toContain('451');

    // Not due yet: nothing is tried.
    clock.advance(999);
    await outbox.deliverDue();
    expect((await repository.findById(id))?.attempts).toBe(1);

    clock.advance(1);
    await outbox.deliverDue();
    row = await repository.findById(id);
    expect(row).toMatchObject({ status: 'pending', attempts: 2 });
    expect(row?.nextAttemptAt).toEqual(new Date(start + 1000 + 2000));

    sink.refuse(false);
    clock.advance(2000);
    await outbox.deliverDue();
    await outbox.deliverDue();
    expect(sink.messages).toHaveLength(1);
    expect(await repository.findById(id)).toMatchObject({ status: 'sent', attempts: 2 });
  });

  it('marks a mail failed after OUTBOX_MAX_ATTEMPTS and logs its id and recipient, never its body', async () => {
    const outcomes: boolean[] = [];
    const { outbox, repository, lines } = outboxWith({
      env: { OUTBOX_MAX_ATTEMPTS: '3' },
      metrics: { onAttemptFailed: (final) => outcomes.push(final), onDelivered: () => outcomes.push(true) },
    });
    sink.refuse(true);
    const mail = newMail();
    const id = await enqueue(outbox, mail);
    for (let i = 0; i < 4; i += 1) {
      await outbox.deliverDue();
      clock.advance(60 * 60 * 1000);
    }

    expect(await repository.findById(id)).toMatchObject({ status: 'failed', attempts: 3, lockedUntil: null });
    expect(outcomes).toEqual([false, false, true]);
    expect(sink.messages).toHaveLength(0);
    const failure = lines.find((line) => line.level === 50);
    expect(failure).toMatchObject({ mailId: id, to: mail.to, attempts: 3 });
    const logged = JSON.stringify(lines);
    expect(logged).not.toContain('Grüße');
    expect(logged).not.toContain(mail.devLink);
  });

  it('without SMTP, keeps the mail pending and logs its link for the developer', async () => {
    const { outbox, repository, lines } = buildOutbox(database, { clock });
    started.push(outbox);
    const mail = newMail();
    const id = await enqueue(outbox, mail);
    outbox.start();
    await outbox.deliverDue();

    expect(await repository.findById(id)).toMatchObject({
      status: 'pending',
      attempts: 0,
      lockedUntil: null,
    });
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 30,
        msg: 'SMTP_HOST is unset: mail kept in the outbox',
        to: mail.to,
        subject: mail.subject,
        link: mail.devLink,
      }),
    );
    expect(JSON.stringify(lines)).not.toContain('Grüße');
    expect(sink.messages).toHaveLength(0);
  });

  it('leaves no mail behind when the transaction that wrote it rolls back', async () => {
    const { outbox, repository } = outboxWith();
    await expect(
      transactor(database.db)(async (tx) => {
        await outbox.enqueue(newMail(), tx);
        throw new Error('the change failed');
      }),
    ).rejects.toThrow('the change failed');
    await outbox.deliverDue();
    expect(await repository.countByStatus()).toEqual({ pending: 0, sent: 0, failed: 0 });
    expect(sink.messages).toHaveLength(0);
  });

  it('records a retry when nothing listens on the SMTP port, and keeps running', async () => {
    const port = await closedPort();
    const { outbox, repository } = outboxWith({ env: { SMTP_PORT: String(port), SMTP_TIMEOUT_MS: '2000' } });
    const id = await enqueue(outbox);
    await outbox.deliverDue();
    const row = await repository.findById(id);
    expect(row).toMatchObject({ status: 'pending', attempts: 1, lockedUntil: null });
    expect(row?.nextAttemptAt.getTime()).toBeGreaterThan(clock.now().getTime());
    expect(row?.lastError).toMatch(/ECONNREFUSED|connect/i);

    clock.advance(1000);
    await outbox.deliverDue();
    expect((await repository.findById(id))?.attempts).toBe(2);
  });

  it('claims at most `limit` due mails, oldest first, each once until its lease expires', async () => {
    const { outbox, repository } = outboxWith();
    const ids: number[] = [];
    for (let i = 0; i < 5; i += 1) {
      ids.push(await enqueue(outbox));
      clock.advance(1);
    }
    const later = await repository.enqueue(newMail(), new Date('2031-01-01T00:00:00.000Z'));
    const claim = async (limit: number) =>
      (await repository.claimDue(clock.now(), limit, 60_000)).map((mail) => mail.id);

    expect(await claim(1)).toEqual(ids.slice(0, 1));
    expect(await claim(3)).toEqual(ids.slice(1, 4));
    expect(await claim(3)).toEqual(ids.slice(4));
    expect(await claim(3)).toEqual([]);
    clock.advance(60_000);
    expect(await claim(10)).toEqual(ids);
    expect((await repository.findById(later))?.lockedUntil).toBeNull();
  });

  it('takes over a mail whose sender died mid-send once its lease expires, and ignores that sender later', async () => {
    const { outbox, repository } = outboxWith();
    const id = await enqueue(outbox);
    // Another instance claimed the mail and died before sending it.
    const [dead] = await repository.claimDue(clock.now(), 10, 60_000);
    expect(dead?.id).toBe(id);

    await outbox.deliverDue();
    expect(sink.messages).toHaveLength(0);

    clock.advance(60_000);
    await outbox.deliverDue();
    expect(sink.messages).toHaveLength(1);
    if (!dead) throw new Error('unreachable');
    // Back from the dead, the first sender's outcome must not reopen a delivered mail.
    expect(await repository.markRetry(dead, 1, clock.now(), 'late failure')).toBe(false);
    expect(await repository.markFailed(dead, 1, 'late failure')).toBe(false);
    expect(await repository.findById(id)).toMatchObject({ status: 'sent', lastError: null });
  });

  it('runs one delivery pass at a time however often it is woken', async () => {
    let inFlight = 0;
    let mostInFlight = 0;
    const sent: string[] = [];
    const slowMailer: Mailer = {
      send: async (mail: MailMessage) => {
        inFlight += 1;
        mostInFlight = Math.max(mostInFlight, inFlight);
        await new Promise((resolve) => setTimeout(resolve, 5));
        sent.push(mail.subject);
        inFlight -= 1;
      },
      close: () => undefined,
    };
    const { outbox } = outboxWith({ mailer: slowMailer });
    const mails = Array.from({ length: 5 }, () => newMail());
    for (const mail of mails) {
      await enqueue(outbox, mail);
      outbox.wake();
    }
    await Promise.all([outbox.deliverDue(), outbox.deliverDue(), outbox.deliverDue()]);

    expect(mostInFlight).toBe(1);
    expect(sent.sort()).toEqual(mails.map((m) => m.subject).sort());
  });
});
