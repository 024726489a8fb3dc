// What a module hands to the mail outbox: a whole message, rendered, so that the outbox stores exactly what is sent.

export interface OutgoingMail {
  /** What the mail is for ('email-verification', 'password-reset', …): stored with it, for queries and logs. */
  kind: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  /** Extra headers (X-Email-Type, …), sent as given. */
  headers?: Record<string, string>;
  /** Logged (with to/subject) only when no SMTP is configured, so a developer can follow the link; never stored. */
  devLink?: string;
}
