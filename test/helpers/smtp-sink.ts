// A real SMTP server for tests (smtp-server on 127.0.0.1, plain text, no auth required) that keeps every message it
// accepts, decoded enough to check what the app sent, and that can be told to refuse mail as a server in an outage.
// The MIME decoding is minimal on purpose: headers with RFC 2047 words, single-part or multipart bodies, and the
// 7bit / quoted-printable / base64 encodings nodemailer writes. mailparser is not a dependency of this project.
import net from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  /** The From header, decoded. */
  from: string;
  /** Envelope sender (MAIL FROM). */
  envelopeFrom: string;
  /** Envelope recipients (RCPT TO). */
  to: string[];
  subject: string;
  /** The text/plain part, decoded, with CRLF line ends turned into LF. */
  text: string;
  /** The text/html part, likewise. */
  html: string;
  /** Top-level headers by lower-case name, values decoded (the first, if a header repeats). */
  headers: Record<string, string>;
  raw: string;
}

export interface SmtpSink {
  port: number;
  messages: ReceivedMail[];
  /** While on, MAIL FROM is answered 451 (a temporary failure), as a server in an outage answers. */
  refuse(on: boolean): void;
  /** The first message (received or to come) matching `predicate`; rejects after `timeoutMs`. */
  waitFor(predicate?: (mail: ReceivedMail) => boolean, timeoutMs?: number): Promise<ReceivedMail>;
  /** SMTP_* settings pointing the app at this server. */
  env(): Record<string, string>;
  close(): Promise<void>;
}

export async function startSmtpSink(): Promise<SmtpSink> {
  const messages: ReceivedMail[] = [];
  const listeners = new Set<() => void>();
  let refusing = false;

  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    disableReverseLookup: true,
    logger: false,
    // Clients the test forgot to close must not hold up close() for the default 30 s.
    closeTimeout: 1000,
    onMailFrom(_address, _session, callback) {
      if (!refusing) return callback();
      const error = new Error('Service temporarily unavailable, try again later') as Error & {
        responseCode: number;
      };
      error.responseCode = 451;
      callback(error);
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const { mailFrom, rcptTo } = session.envelope;
        const raw = Buffer.concat(chunks).toString('utf8');
        messages.push(
          parseMessage(
            raw,
            mailFrom ? mailFrom.address : '',
            rcptTo.map((r) => r.address),
          ),
        );
        for (const listener of listeners) listener();
        callback();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.server.address() as net.AddressInfo).port;

  return {
    port,
    messages,
    refuse: (on) => {
      refusing = on;
    },
    waitFor: (predicate = () => true, timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const found = messages.find(predicate);
          if (!found) return;
          done();
          resolve(found);
        };
        const timer = setTimeout(() => {
          done();
          const subjects = messages.map((m) => m.subject);
          reject(new Error(`no matching mail within ${timeoutMs} ms; received: ${JSON.stringify(subjects)}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      }),
    env: () => ({
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String(port),
      SMTP_STARTTLS: 'false',
      SMTP_SECURE: 'false',
    }),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** A port on 127.0.0.1 where nothing listens (it was free a moment ago): connections to it are refused. */
export async function closedPort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

export function parseMessage(raw: string, envelopeFrom: string, to: string[]): ReceivedMail {
  const { headers, body } = splitEntity(raw);
  const parts = { text: '', html: '' };
  collectParts(headers, body, parts);
  return {
    from: headers.from ?? '',
    envelopeFrom,
    to,
    subject: headers.subject ?? '',
    text: parts.text,
    html: parts.html,
    headers,
    raw,
  };
}

function splitEntity(entity: string): { headers: Record<string, string>; body: string } {
  const end = entity.indexOf('\r\n\r\n');
  const head = end === -1 ? entity : entity.slice(0, end);
  const body = end === -1 ? '' : entity.slice(end + 4);
  const headers: Record<string, string> = {};
  // Unfolding: a line break followed by white space continues the header.
  for (const line of head.replace(/\r\n(?=[ \t])/g, '').split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    headers[name] ??= decodeWords(line.slice(colon + 1).trim());
  }
  return { headers, body };
}

function collectParts(
  headers: Record<string, string>,
  body: string,
  into: { text: string; html: string },
): void {
  const type = (headers['content-type'] ?? 'text/plain').toLowerCase();
  if (type.startsWith('multipart/')) {
    const boundary = /boundary="?([^";]+)"?/i.exec(headers['content-type'] ?? '')?.[1];
    if (!boundary) throw new Error(`multipart without a boundary: ${headers['content-type']}`);
    // The line break before a delimiter belongs to the delimiter; the first section is the preamble.
    const sections = `\r\n${body}`.split(`\r\n--${boundary}`).slice(1);
    for (const section of sections) {
      if (section.startsWith('--')) break;
      const part = splitEntity(section.slice(section.indexOf('\r\n') + 2));
      collectParts(part.headers, part.body, into);
    }
    return;
  }
  const decoded = decodeBody(body, headers['content-transfer-encoding'] ?? '7bit').replace(/\r\n/g, '\n');
  if (type.startsWith('text/html')) into.html ||= decoded;
  else if (type.startsWith('text/plain')) into.text ||= decoded;
}

function decodeBody(body: string, encoding: string): string {
  switch (encoding.toLowerCase()) {
    case 'base64':
      return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
    case 'quoted-printable':
      return qpBytes(body.replace(/=\r\n/g, '')).toString('utf8');
    default:
      return body;
  }
}

/** Bytes of quoted-printable text: =XX is a byte, anything else stands for itself. */
function qpBytes(text: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i += 1) {
    const hex = text.slice(i + 1, i + 3);
    if (text[i] === '=' && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(text.charAt(i), 'utf8'));
    }
  }
  return Buffer.from(bytes);
}

const ENCODED_WORD = /=\?([^?]+)\?([QqBb])\?([^?]*)\?=/g;

/**
 * RFC 2047: "=?UTF-8?Q?...?=" and "=?UTF-8?B?...?=" words. White space between two words is not text, and a
 * character may be split across words, so a run of adjacent words is decoded as one byte sequence.
 */
function decodeWords(value: string): string {
  const joined = value.replace(/(\?=)\s+(?==\?[^?]+\?[QqBb]\?)/g, '$1');
  return joined.replace(/(?:=\?[^?]+\?[QqBb]\?[^?]*\?=)+/g, (run) =>
    Buffer.concat(
      [...run.matchAll(ENCODED_WORD)].map(([, , encoding, text = '']) =>
        encoding?.toUpperCase() === 'B' ? Buffer.from(text, 'base64') : qpBytes(text.replace(/_/g, ' ')),
      ),
    ).toString('utf8'),
  );
}
