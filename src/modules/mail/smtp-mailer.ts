// The Mailer port over SMTP, with nodemailer: one pooled transport per process, built from the SMTP_* settings.
import nodemailer from 'nodemailer';
import type { SmtpConfig } from '../../config.js';
import type { Mailer, MailMessage } from './mailer.js';

export interface MailSender {
  name: string;
  email: string;
}

export class SmtpMailer implements Mailer {
  readonly #transport: ReturnType<typeof createPool>;
  readonly #from: { name: string; address: string };

  constructor(smtp: SmtpConfig, sender: MailSender) {
    this.#transport = createPool(smtp);
    // An address object, not a string: nodemailer quotes and encodes the name, so a comma or a non-ASCII
    // letter in FROM_NAME cannot turn the header into two addresses.
    this.#from = { name: sender.name, address: sender.email };
  }

  async send(mail: MailMessage): Promise<void> {
    await this.#transport.sendMail({
      from: this.#from,
      replyTo: this.#from,
      to: mail.to,
      subject: mail.subject,
      text: mail.text,
      html: mail.html,
      headers: mail.headers,
    });
  }

  close(): void {
    this.#transport.close();
  }
}

function createPool(smtp: SmtpConfig) {
  return nodemailer.createTransport({
    pool: true,
    // The outbox sends one mail at a time per process; one connection reused across a burst is enough.
    maxConnections: 1,
    host: smtp.host,
    port: smtp.port,
    secure: smtp.secure,
    // SMTP_STARTTLS=true must never fall back to plain text; false means do not even try (a server whose
    // certificate does not verify would otherwise fail every send).
    requireTLS: !smtp.secure && smtp.startTls,
    ignoreTLS: !smtp.secure && !smtp.startTls,
    ...(smtp.user ? { auth: { user: smtp.user, pass: smtp.password ?? '' } } : {}),
    connectionTimeout: smtp.timeoutMs,
    greetingTimeout: smtp.timeoutMs,
    socketTimeout: smtp.timeoutMs,
    // Bodies are our own strings, never paths or URLs to fetch: refuse both outright.
    disableFileAccess: true,
    disableUrlAccess: true,
  });
}
