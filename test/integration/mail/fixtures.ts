// What the mail outbox suites share: a migrated database, outboxes built from env-style settings (stopped after
// each test), mails with unique subjects, and a logger whose lines the test reads.
import { pino, type Logger } from 'pino';
import { parseConfig } from '../../../src/config.js';
import type { Clock } from '../../../src/lib/clock.js';
import { MailOutbox, type MailOutboxMetrics } from '../../../src/modules/mail/mail-outbox.js';
import type { OutgoingMail } from '../../../src/modules/mail/mail.types.js';
import type { Mailer } from '../../../src/modules/mail/mailer.js';
import { OutboxRepository } from '../../../src/modules/mail/outbox.repository.js';
import { SmtpMailer } from '../../../src/modules/mail/smtp-mailer.js';
import type { Database } from '../../../src/platform/db/database.js';
import { migrateOrFail, openReachableDatabase } from '../../../src/platform/db/open-database.js';

export async function openMigrated(url: string): Promise<Database> {
  const database = await openReachableDatabase(parseConfig({ DATABASE_URL: url }).db);
  await migrateOrFail(database);
  return database;
}

export interface CapturedLogger {
  logger: Logger;
  lines: Record<string, unknown>[];
}

export function captureLogger(): CapturedLogger {
  const lines: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'debug' },
    { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  return { logger, lines };
}

export interface BuiltOutbox extends CapturedLogger {
  outbox: MailOutbox;
  repository: OutboxRepository;
}

/** A MailOutbox as the plugin builds it, from env-style settings (SMTP_* unset: no mailer). */
export function buildOutbox(
  database: Database,
  options: { env?: Record<string, string>; clock: Clock; metrics?: MailOutboxMetrics; mailer?: Mailer },
): BuiltOutbox {
  const config = parseConfig({ OUTBOX_RETRY_BASE_MS: '1000', ...options.env }).mail;
  const repository = new OutboxRepository(database);
  const { logger, lines } = captureLogger();
  const outbox = new MailOutbox({
    repository,
    mailer:
      options.mailer ??
      (config.smtp && new SmtpMailer(config.smtp, { name: config.fromName, email: config.fromEmail })),
    clock: options.clock,
    logger,
    options: config.outbox,
    sendTimeoutMs: config.smtp?.timeoutMs,
    metrics: options.metrics,
  });
  return { outbox, repository, logger, lines };
}

let counter = 0;

/** A verification-like mail with a unique subject, non-ASCII text and a line long enough to be encoded. */
export function newMail(fields: Partial<OutgoingMail> = {}): OutgoingMail {
  counter += 1;
  const link = `http://localhost:3000/verify-email?token=tok${counter}-0123456789abcdef0123456789abcdef`;
  return {
    kind: 'email-verification',
    to: `user${counter}@example.com`,
    subject: `Vérifiez votre adresse n°${counter} ✓`,
    text: `Grüße, user${counter}!\n\nOpen this link, which is long enough to need a soft line break in transit:\n${link}\n`,
    html: `<p>Grüße, <b>user${counter}</b>!</p><p><a href="${link}">Verify</a></p>`,
    headers: { 'X-Email-Type': 'email-verification' },
    devLink: link,
    ...fields,
  };
}
