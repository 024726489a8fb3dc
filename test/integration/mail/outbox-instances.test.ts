// The outbox as the app runs it (the mail plugin: woken after commit, polling, stopped on close) and as several
// instances run it at once on PostgreSQL: every mail delivered exactly once.
import Fastify from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config.js';
import { systemClock } from '../../../src/lib/clock.js';
import { mailPlugin } from '../../../src/modules/mail/index.js';
import metricsPlugin, { createHttpMetrics } from '../../../src/platform/metrics.js';
import type { Database } from '../../../src/platform/db/database.js';
import databasePlugin from '../../../src/platform/db/database-plugin.js';
import { transactor } from '../../../src/platform/db/transactions.js';
import { freshDatabase, type FreshDatabase } from '../../helpers/databases.js';
import { describeEachDialect, describePostgres } from '../../helpers/dialects.js';
import { startSmtpSink, type SmtpSink } from '../../helpers/smtp-sink.js';
import { buildOutbox, newMail, openMigrated } from './fixtures.js';

describeEachDialect('mail plugin', (dialect) => {
  let fresh: FreshDatabase;
  let sink: SmtpSink;
  beforeAll(async () => {
    fresh = await freshDatabase(dialect);
    sink = await startSmtpSink();
  });
  afterAll(async () => {
    await sink.close();
    await fresh.drop();
  });

  it('delivers mail enqueued in a transaction when woken after commit, and by polling, until the app closes', async () => {
    const config = parseConfig({ DATABASE_URL: fresh.url, ...sink.env(), OUTBOX_POLL_MS: '50' });
    const app = Fastify();
    await app.register(metricsPlugin, { metrics: createHttpMetrics('test', '0', 'test') });
    await app.register(databasePlugin, { config: config.db, migrate: true });
    await app.register(mailPlugin, { config: config.mail, clock: systemClock });
    await app.ready();
    try {
      const woken = newMail();
      await transactor(app.database.db)((tx) => app.mailOutbox.enqueue(woken, tx));
      app.mailOutbox.wake();
      await sink.waitFor((m) => m.subject === woken.subject);

      // Not woken: the poll finds it (as it finds mail other instances enqueued, and retries).
      const polled = newMail();
      await transactor(app.database.db)((tx) => app.mailOutbox.enqueue(polled, tx));
      await sink.waitFor((m) => m.subject === polled.subject);
      await app.mailOutbox.deliverDue();
      expect(await app.metrics.registry.getSingleMetricAsString('mail_sent_total')).toMatch(
        /^mail_sent_total 2$/m,
      );
    } finally {
      await app.close();
    }

    // Closed: the outbox no longer delivers (and the database is gone, with no unhandled rejection either way).
    app.mailOutbox.wake();
    await app.mailOutbox.deliverDue();
    expect(sink.messages).toHaveLength(2);
  });
});

describePostgres('mail outbox instances', () => {
  let fresh: FreshDatabase;
  let sink: SmtpSink;
  const databases: Database[] = [];
  beforeAll(async () => {
    fresh = await freshDatabase('postgres');
    sink = await startSmtpSink();
  });
  afterAll(async () => {
    await sink.close();
    await Promise.all(databases.map((d) => d.destroy()));
    await fresh.drop();
  });

  it('two instances over separate pools, passing at once, deliver each of 30 mails exactly once', async () => {
    const one = await openMigrated(fresh.url);
    const other = await openMigrated(fresh.url);
    databases.push(one, other);
    const first = buildOutbox(one, { clock: systemClock, env: sink.env() });
    const second = buildOutbox(other, { clock: systemClock, env: sink.env() });
    const mails = Array.from({ length: 30 }, () => newMail());
    for (const mail of mails) await first.repository.enqueue(mail, new Date());

    try {
      await Promise.all([first.outbox.deliverDue(), second.outbox.deliverDue()]);
    } finally {
      await Promise.all([first.outbox.stop(), second.outbox.stop()]);
    }

    const received = new Map<string, number>();
    for (const message of sink.messages)
      received.set(message.subject, (received.get(message.subject) ?? 0) + 1);
    expect(Object.fromEntries(received)).toEqual(Object.fromEntries(mails.map((m) => [m.subject, 1])));
    expect(await first.repository.countByStatus()).toEqual({ pending: 0, sent: 30, failed: 0 });
  });
});
