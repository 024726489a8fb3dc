// Builds the mail outbox from config (the SMTP mailer only when SMTP_HOST is set), exposes it as app.mailOutbox,
// delivers while the app is ready, and stops delivering before the database closes.
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../../config.js';
import type { Clock } from '../../lib/clock.js';
import { MailOutbox, type MailOutboxMetrics } from './mail-outbox.js';
import { createMailMetrics } from './mail.metrics.js';
import { OutboxRepository } from './outbox.repository.js';
import { SmtpMailer } from './smtp-mailer.js';

declare module 'fastify' {
  interface FastifyInstance {
    mailOutbox: MailOutbox;
  }
}

export interface MailPluginOptions {
  config: Config['mail'];
  clock: Clock;
  /** Delivery callbacks; by default mail_* counters on the app's registry. */
  metrics?: MailOutboxMetrics;
}

const mailPlugin: FastifyPluginAsync<MailPluginOptions> = async (app, opts) => {
  const { smtp, fromName, fromEmail, outbox: options } = opts.config;
  const mailOutbox = new MailOutbox({
    repository: new OutboxRepository(app.database),
    mailer: smtp && new SmtpMailer(smtp, { name: fromName, email: fromEmail }),
    clock: opts.clock,
    logger: app.log.child({ module: 'mail' }),
    options,
    sendTimeoutMs: smtp?.timeoutMs,
    metrics: opts.metrics ?? createMailMetrics(app.metrics.registry),
  });
  app.decorate('mailOutbox', mailOutbox);
  app.addHook('onReady', async () => mailOutbox.start());
  // onClose hooks run in reverse order of registration: this one runs before the database plugin's closes the pool.
  app.addHook('onClose', () => mailOutbox.stop());
};

export default fp(mailPlugin, { name: 'mail', dependencies: ['database', 'metrics'] });
