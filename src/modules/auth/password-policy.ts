// The original's password rules (reference §3.5): same checks, same order, same messages, so clients that show
// them keep working. Plus bcrypt's limit: it reads only the first 72 bytes, so a longer password would be silently
// cut (the original truncated); we refuse it instead, with a message that says why.

const SPECIAL_CHARACTERS = /[!@#$%^&*(),.?":{}|<>]/;
const COMMON_PASSWORDS = new Set([
  'password',
  'password123',
  '12345678',
  'qwerty',
  'abc123',
  '123456789',
  'letmein',
  'welcome',
  'monkey',
  '1q2w3e4r',
]);
export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_LENGTH = 128;
/** bcrypt hashes the first 72 bytes of its input and ignores the rest. */
export const MAX_PASSWORD_BYTES = 72;

/** The first rule `password` breaks, as the message the client sees; undefined when it passes. */
export function passwordProblem(password: string): string | undefined {
  if (!password) return 'Password cannot be empty';
  // Characters as the original (Python's len) and the schema's minLength count them: code points, not UTF-16 units.
  const characters = [...password].length;
  if (characters < MIN_PASSWORD_LENGTH)
    return `Password must be at least ${MIN_PASSWORD_LENGTH} characters long`;
  if (characters > MAX_PASSWORD_LENGTH)
    return `Password must be no more than ${MAX_PASSWORD_LENGTH} characters long`;
  if (!/[A-Z]/.test(password)) return 'Password must contain at least one uppercase letter';
  if (!/[a-z]/.test(password)) return 'Password must contain at least one lowercase letter';
  if (!/\d/.test(password)) return 'Password must contain at least one digit';
  if (!SPECIAL_CHARACTERS.test(password)) return 'Password must contain at least one special character';
  if (COMMON_PASSWORDS.has(password.toLowerCase()))
    return 'Password is too common, please choose a stronger password';
  // bcrypt reads a C string: a NUL would end the password there. Clients never send one on purpose.
  if (password.includes('\u0000')) return 'Password must not contain a NUL character';
  if (Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES)
    return `Password must be no more than ${MAX_PASSWORD_BYTES} bytes in UTF-8 (bcrypt ignores the rest)`;
  return undefined;
}
