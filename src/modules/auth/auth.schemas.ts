// Request and response shapes of /api/v1/auth, as the original's (reference §3.2), with its loose spots closed:
// usernames are 3–32 of [A-Za-z0-9_.-] (HTML is refused, not stored escaped), client-sent privilege flags ignored.
import { Type, type Static } from 'typebox';
import { OffsetQuery } from '../../platform/pagination.js';
import type { UserRecord } from './user.repository.js';
import type { AdminUserRecord } from './user-admin.service.js';

export const USERNAME_PATTERN = '^[A-Za-z0-9_.-]{3,32}$';
/** No control characters (a newline in a name breaks mail headers and logs). */
const SINGLE_LINE_TEXT = '^[^\\u0000-\\u001f\\u007f]*$';

/**
 * No NUL character: PostgreSQL refuses one in text (the query would fail with a 500) and bcrypt would stop reading a
 * password at it.
 */
const NO_NUL = '^[^\\u0000]*$';

const Email = Type.String({ format: 'email', maxLength: 255, description: 'Stored lower-cased.' });
const Password = Type.String({ minLength: 8, maxLength: 100, pattern: NO_NUL });
const LoginName = Type.String({
  minLength: 1,
  maxLength: 255,
  pattern: NO_NUL,
  description: 'Username or email.',
});
const LoginPassword = Type.String({ minLength: 1, maxLength: 1024, pattern: NO_NUL });

export const RegisterBody = Type.Object({
  email: Email,
  username: Type.String({
    pattern: USERNAME_PATTERN,
    description: '3–32 letters, digits, "_", "." or "-".',
  }),
  password: Password,
  full_name: Type.Optional(
    Type.Union([Type.String({ maxLength: 255, pattern: SINGLE_LINE_TEXT }), Type.Null()]),
  ),
});

/** OAuth2 password flow (form-urlencoded), as FastAPI's OAuth2PasswordRequestForm. */
export const LoginForm = Type.Object({
  username: LoginName,
  password: LoginPassword,
  grant_type: Type.Optional(Type.String({ pattern: '^password$' })),
  scope: Type.Optional(Type.String()),
  client_id: Type.Optional(Type.String()),
  client_secret: Type.Optional(Type.String()),
});

export const LoginJson = Type.Object({
  username: Type.Optional(LoginName),
  email: Type.Optional(LoginName),
  password: LoginPassword,
});

export const RefreshBody = Type.Object({ refresh_token: Type.String({ minLength: 1, maxLength: 4096 }) });

export const LogoutBody = Type.Object({
  all_devices: Type.Optional(Type.Boolean({ description: 'End every session of the account.' })),
});

export const PasswordResetBody = Type.Object({ email: Email });

export const PasswordResetConfirmBody = Type.Object({
  token: Type.String({ minLength: 1, maxLength: 512 }),
  new_password: Password,
});

export const VerifyEmailParams = Type.Object({ token: Type.String({ minLength: 1, maxLength: 512 }) });

export const ResendVerificationBody = Type.Object({ email: Type.Optional(Email) });

export const TokenResponse = Type.Object({
  access_token: Type.String(),
  refresh_token: Type.String(),
  token_type: Type.Literal('bearer'),
  expires_in: Type.Integer({ description: 'Seconds until the access token expires.' }),
});

export const MessageResponse = Type.Object({ message: Type.String() });

const Timestamp = Type.String({ format: 'date-time' });
const NullableTimestamp = Type.Union([Timestamp, Type.Null()]);

export const UserResponse = Type.Object({
  id: Type.Integer(),
  email: Type.String(),
  username: Type.String(),
  full_name: Type.Union([Type.String(), Type.Null()]),
  is_active: Type.Boolean(),
  is_superuser: Type.Boolean(),
  is_verified: Type.Boolean(),
  created_at: Timestamp,
  updated_at: Timestamp,
  last_login: NullableTimestamp,
});

/** What superusers see: the account's state besides its profile. */
export const AdminUserResponse = Type.Object({
  ...UserResponse.properties,
  verified_at: NullableTimestamp,
  failed_login_attempts: Type.Integer(),
  account_locked_until: NullableTimestamp,
  password_changed_at: NullableTimestamp,
});

export const UserListQuery = Type.Object({
  ...OffsetQuery.properties,
  search: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 255,
      pattern: NO_NUL,
      description: 'Part of a username, email or full name.',
    }),
  ),
});

export const UserPageResponse = Type.Object({
  items: Type.Array(AdminUserResponse),
  total: Type.Integer(),
  skip: Type.Integer(),
  limit: Type.Integer(),
  has_more: Type.Boolean(),
});

export const UserIdParams = Type.Object({ id: Type.Integer({ minimum: 1, maximum: 2147483647 }) });

export const UserPatchBody = Type.Object(
  {
    is_active: Type.Optional(Type.Boolean()),
    unlock: Type.Optional(Type.Literal(true, { description: 'Clear the lockout and the failure count.' })),
    revoke_sessions: Type.Optional(Type.Literal(true, { description: 'End every session of the account.' })),
  },
  { minProperties: 1 },
);

const iso = (date: Date | null) => date?.toISOString() ?? null;

export function userResponse(user: UserRecord): Static<typeof UserResponse> {
  return {
    id: user.id,
    email: user.email,
    username: user.username,
    full_name: user.fullName,
    is_active: user.isActive,
    is_superuser: user.isSuperuser,
    is_verified: user.isVerified,
    created_at: user.createdAt.toISOString(),
    updated_at: user.updatedAt.toISOString(),
    last_login: iso(user.lastLogin),
  };
}

export function adminUserResponse(user: AdminUserRecord): Static<typeof AdminUserResponse> {
  return {
    ...userResponse(user),
    verified_at: iso(user.verifiedAt),
    failed_login_attempts: user.failedLoginAttempts,
    account_locked_until: iso(user.accountLockedUntil),
    password_changed_at: iso(user.passwordChangedAt),
  };
}
