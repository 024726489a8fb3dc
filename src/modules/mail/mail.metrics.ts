// mail_* Prometheus counters on the app's registry, fed by the outbox's delivery callbacks.
import { Counter, type Registry } from 'prom-client';
import type { MailOutboxMetrics } from './mail-outbox.js';

export function createMailMetrics(registry: Registry): MailOutboxMetrics {
  const sent = new Counter({
    name: 'mail_sent_total',
    help: 'Mails delivered to the SMTP server.',
    registers: [registry],
  });
  const failures = new Counter({
    name: 'mail_delivery_failures_total',
    help: 'Failed delivery attempts; final="true" when the mail was given up (status failed).',
    labelNames: ['final'],
    registers: [registry],
  });
  return {
    onDelivered: () => sent.inc(),
    onAttemptFailed: (final) => failures.inc({ final: String(final) }),
  };
}
