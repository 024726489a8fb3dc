// Outside production, a missing JWT_SECRET_KEY is generated once and kept in the data folder (mode 0600), so
// tokens survive restarts without anyone having to invent a secret. Production never comes here (config refuses).
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { MIN_SECRET_LENGTH } from '../config.js';

export const DEV_SECRET_FILE = 'jwt-secret';

export function loadOrCreateDevSecret(dataDir: string): string {
  const file = path.join(dataDir, DEV_SECRET_FILE);
  const existing = readSecret(file);
  if (existing !== undefined) return existing;

  fs.mkdirSync(dataDir, { recursive: true });
  const secret = randomBytes(48).toString('base64url');
  // Written whole to a private temporary file, then linked into place: link() fails with EEXIST when a sibling
  // worker got there first, and the file is never seen half-written (a reader of an 'wx' file being written could
  // see it empty and sign tokens with an empty secret).
  const temporary = path.join(
    dataDir,
    `.${DEV_SECRET_FILE}.${process.pid}.${randomBytes(4).toString('hex')}`,
  );
  fs.writeFileSync(temporary, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  try {
    fs.linkSync(temporary, file);
    return secret;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const theirs = readSecret(file);
    if (theirs === undefined) throw error;
    return theirs;
  } finally {
    fs.rmSync(temporary, { force: true });
  }
}

/** The secret kept in `file`, undefined when there is none; refuses one too short to sign tokens. */
function readSecret(file: string): string | undefined {
  let content: string;
  try {
    content = fs.readFileSync(file, 'utf8').trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  if (content.length < MIN_SECRET_LENGTH) {
    throw new Error(
      `${file} holds a JWT secret shorter than ${MIN_SECRET_LENGTH} characters: delete the file to generate a new one, or set JWT_SECRET_KEY`,
    );
  }
  return content;
}
