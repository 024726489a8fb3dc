// The auth module's answers to a refused request. Messages are the original's where it had one (clients match them).
import { AppError, BadRequestError, ForbiddenError, UnauthorizedError } from '../../platform/errors.js';

export const invalidCredentials = () =>
  new UnauthorizedError('Incorrect username or password', 'invalid_credentials');

/** A bad, expired, revoked or wrong-type bearer token, or one whose user is gone or deactivated. */
export const invalidToken = () => new UnauthorizedError('Could not validate credentials', 'invalid_token');

export const invalidRefreshToken = (code = 'invalid_refresh_token') =>
  new UnauthorizedError('Invalid refresh token', code);

export class AccountLockedError extends AppError {
  constructor(retryAfterSeconds: number) {
    const minutes = Math.max(1, Math.ceil(retryAfterSeconds / 60));
    super(
      `Account locked due to multiple failed login attempts. Try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`,
      { status: 403, code: 'account_locked', retryAfterSeconds },
    );
  }
}

export const inactiveUser = () => new ForbiddenError('Inactive user account', 'inactive_user');
export const emailNotVerified = () =>
  new ForbiddenError('Please verify your email first', 'email_not_verified');
export const notSuperuser = () => new ForbiddenError('Not enough permissions', 'forbidden');
export const invalidResetToken = () =>
  new BadRequestError('Invalid or expired reset token', 'invalid_reset_token');
export const invalidVerificationToken = () =>
  new BadRequestError('Invalid or expired verification token', 'invalid_verification_token');
