// What other modules may use of the mail module.
export type { OutgoingMail } from './mail.types.js';
export type { MailOutbox, MailOutboxMetrics } from './mail-outbox.js';
export { default as mailPlugin, type MailPluginOptions } from './mail.plugin.js';
