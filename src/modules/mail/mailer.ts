// The port to whatever delivers mail (SMTP in production). The outbox calls it; tests may hand it a fake.

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
  headers: Record<string, string>;
}

export interface Mailer {
  /** Resolves once the server accepted the message; rejects with the reason it did not. */
  send(mail: MailMessage): Promise<void>;
  /** Releases connections; no send may follow. */
  close(): void;
}
