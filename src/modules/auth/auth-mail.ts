// The two mails of the auth flows, text and HTML, as the original's templates (reference §3.6): subject, link to the
// web app, and how long the link lasts.
import type { OutgoingMail } from '../mail/index.js';

/** The kinds of mail these flows send (stored with each mail; also the unit of the per-address limit). */
export type AuthMailKind = 'email-verification' | 'password-reset';

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};
const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);

function duration(minutes: number): string {
  if (minutes % 60 === 0) {
    const hours = minutes / 60;
    return `${hours} hour${hours === 1 ? '' : 's'}`;
  }
  return `${minutes} minute${minutes === 1 ? '' : 's'}`;
}

function layout(title: string, paragraphs: string[], button: { label: string; href: string }): string {
  const body = paragraphs.map((p) => `<p>${p}</p>`).join('\n    ');
  return `<!DOCTYPE html>
<html>
  <head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>
  <body style="font-family: Arial, sans-serif; line-height: 1.5; color: #222;">
    <h2>${escapeHtml(title)}</h2>
    ${body}
    <p><a href="${escapeHtml(button.href)}" style="display: inline-block; padding: 10px 20px; background: #4f46e5; color: #fff; text-decoration: none; border-radius: 4px;">${escapeHtml(button.label)}</a></p>
    <p style="font-size: 12px; color: #666;">If the button does not work, copy this link into your browser:<br>${escapeHtml(button.href)}</p>
  </body>
</html>`;
}

export function verificationMail(
  user: { email: string; username: string },
  link: string,
  validMinutes: number,
): OutgoingMail {
  const valid = duration(validMinutes);
  return {
    kind: 'email-verification' satisfies AuthMailKind,
    to: user.email,
    subject: 'Verify Your Email - SutazAI Platform',
    headers: { 'X-Email-Type': 'email-verification' },
    devLink: link,
    text: `Hello ${user.username},

Welcome to SutazAI Platform! Please verify your email address by opening this link:

${link}

This link expires in ${valid}. If you did not create an account, you can ignore this email.

SutazAI Platform`,
    html: layout(
      'Verify Your Email',
      [
        `Hello ${escapeHtml(user.username)},`,
        'Welcome to SutazAI Platform! Please verify your email address.',
        `This link expires in ${valid}. If you did not create an account, you can ignore this email.`,
      ],
      { label: 'Verify email', href: link },
    ),
  };
}

export function passwordResetMail(
  user: { email: string; username: string },
  link: string,
  validMinutes: number,
): OutgoingMail {
  const valid = duration(validMinutes);
  return {
    kind: 'password-reset' satisfies AuthMailKind,
    to: user.email,
    subject: 'Password Reset Request - SutazAI Platform',
    headers: { 'X-Email-Type': 'password-reset', 'X-Priority': '1', Importance: 'high' },
    devLink: link,
    text: `Hello ${user.username},

We received a request to reset your password. Open this link to choose a new one:

${link}

This link expires in ${valid} and works once. If you did not ask for a reset, ignore this email: your password stays as it is.

SutazAI Platform`,
    html: layout(
      'Password Reset Request',
      [
        `Hello ${escapeHtml(user.username)},`,
        'We received a request to reset your password.',
        `This link expires in ${valid} and works once. If you did not ask for a reset, ignore this email: your password stays as it is.`,
      ],
      { label: 'Reset password', href: link },
    ),
  };
}
