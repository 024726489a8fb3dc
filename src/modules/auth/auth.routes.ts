// /api/v1/auth: the original's endpoints (reference §3.3), thin: validate, call one service method, shape the answer.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { addressKey } from '../../platform/client-address.js';
import { AppError, ValidationFailedError } from '../../platform/errors.js';
import { limitRequest } from '../../platform/rate-limit/rate-limit-headers.js';
import type { RateLimiter } from '../../platform/rate-limit/rate-limiter.js';
import { AccountService, RESET_REQUESTED_MESSAGE, VERIFICATION_RESENT_MESSAGE } from './account.service.js';
import {
  LoginForm,
  LoginJson,
  LogoutBody,
  MessageResponse,
  PasswordResetBody,
  PasswordResetConfirmBody,
  RefreshBody,
  RegisterBody,
  ResendVerificationBody,
  TokenResponse,
  UserResponse,
  VerifyEmailParams,
  userResponse,
} from './auth.schemas.js';
import { bearerToken, caller, clientKey } from './authenticate.js';
import type { SessionService } from './session.service.js';
import type { IssuedPair } from './token.service.js';

export interface AuthRoutesOptions {
  sessions: SessionService;
  accounts: AccountService;
  /** Limits the requests that send mail, per client address (the original: 5 per minute). */
  mailLimiter: RateLimiter;
  /** Limits registrations per client IP (RATE_LIMIT_REGISTER). */
  registerLimiter: RateLimiter;
  /** Limits failed logins per client IP (RATE_LIMIT_LOGIN_FAILURES). */
  loginFailureLimiter: RateLimiter;
}

/** Refusals that count as a failed login: a wrong name or password, or an attempt on a locked account. */
function isFailedLogin(error: unknown): boolean {
  return (
    error instanceof AppError && (error.code === 'invalid_credentials' || error.code === 'account_locked')
  );
}

const tags = ['auth'];
const bearer = [{ bearerAuth: [] }];

function tokenResponse(pair: IssuedPair) {
  return {
    access_token: pair.accessToken,
    refresh_token: pair.refreshToken,
    token_type: 'bearer' as const,
    expires_in: pair.expiresIn,
  };
}

/** For routes whose body is all optional: a request without one is validated as `{}`. */
const noBodyAsEmpty = async (request: FastifyRequest) => {
  request.body ??= {};
};

export const authRoutes: FastifyPluginAsyncTypebox<AuthRoutesOptions> = async (app, opts) => {
  const { sessions, accounts, mailLimiter, registerLimiter, loginFailureLimiter } = opts;

  /**
   * For the routes a logged-out user needs (a forgotten password): a valid token identifies the caller, and a stale
   * one the client still holds is ignored rather than refused, as the original did.
   */
  const identifyIfPossible = async (request: FastifyRequest) => {
    const token = bearerToken(request);
    if (token) request.auth = await sessions.authenticate(token).catch(() => null);
  };
  const limitMail = async (request: FastifyRequest, reply: FastifyReply) => {
    await limitRequest(reply, mailLimiter, clientKey(request));
  };
  // Per IP even with a token: each registration mails an address of the caller's choosing.
  const limitRegistration = async (request: FastifyRequest, reply: FastifyReply) => {
    await limitRequest(reply, registerLimiter, addressKey(request));
  };

  app.post(
    '/register',
    {
      preHandler: limitRegistration,
      schema: { tags, summary: 'Create an account', body: RegisterBody, response: { 201: UserResponse } },
    },
    async (request, reply) => {
      const { email, username, password, full_name } = request.body;
      const user = await accounts.register({ email, username, password, fullName: full_name ?? null });
      return reply.code(201).send(userResponse(user));
    },
  );

  app.post(
    '/login',
    {
      schema: {
        tags,
        summary: 'Log in (OAuth2 password form, or JSON)',
        description: '`username` may be the username or the email address.',
        body: {
          content: {
            'application/x-www-form-urlencoded': { schema: LoginForm },
            'application/json': { schema: LoginJson },
          },
        },
        response: { 200: TokenResponse },
      },
    },
    async (request, reply) => {
      const body = request.body as { username?: string; email?: string; password: string };
      const login = body.username ?? body.email;
      if (login === undefined)
        throw new ValidationFailedError([
          { loc: ['body', 'username'], msg: 'Field required', type: 'missing' },
        ]);
      // Each attempt holds a place among the failures from its address until it is known not to be one: 50 wrong
      // passwords sent at once cannot all slip under the limit.
      const address = addressKey(request);
      const attempt = await limitRequest(reply, loginFailureLimiter, address);
      let pair: IssuedPair;
      try {
        pair = await sessions.login(login, body.password);
      } catch (error) {
        if (!isFailedLogin(error)) await loginFailureLimiter.refund(address, attempt);
        throw error;
      }
      await loginFailureLimiter.refund(address, attempt);
      return tokenResponse(pair);
    },
  );

  app.post(
    '/refresh',
    {
      schema: {
        tags,
        summary: 'Exchange a refresh token for a new pair',
        body: RefreshBody,
        response: { 200: TokenResponse },
      },
    },
    async (request) => tokenResponse(await sessions.refresh(request.body.refresh_token)),
  );

  app.post(
    '/logout',
    {
      onRequest: app.authenticate,
      preValidation: noBodyAsEmpty,
      schema: {
        tags,
        summary: 'End this session (or every session)',
        security: bearer,
        body: LogoutBody,
        response: { 200: MessageResponse },
      },
    },
    async (request) => {
      await sessions.logout(caller(request), request.body.all_devices ?? false);
      return { message: 'Successfully logged out' };
    },
  );

  app.get(
    '/me',
    {
      onRequest: app.authenticate,
      schema: { tags, summary: 'The logged-in user', security: bearer, response: { 200: UserResponse } },
    },
    (request) => userResponse(caller(request).user),
  );

  app.post(
    '/password-reset',
    {
      preHandler: [identifyIfPossible, limitMail],
      schema: {
        tags,
        summary: 'Mail a password-reset link',
        description: 'Answers the same whether or not the account exists.',
        body: PasswordResetBody,
        response: { 200: MessageResponse },
      },
    },
    (request) => {
      // Only starts the work: the answer goes out before the account is even looked up (see the service).
      accounts.requestPasswordReset(request.body.email);
      return { message: RESET_REQUESTED_MESSAGE };
    },
  );

  app.post(
    '/password-reset/confirm',
    {
      schema: {
        tags,
        summary: 'Set a new password with a reset token (single use)',
        body: PasswordResetConfirmBody,
        response: { 200: MessageResponse },
      },
    },
    async (request) => {
      await accounts.confirmPasswordReset(request.body.token, request.body.new_password);
      return { message: 'Password successfully reset' };
    },
  );

  app.post(
    '/verify-email/resend',
    {
      preValidation: noBodyAsEmpty,
      preHandler: [identifyIfPossible, limitMail],
      schema: {
        tags,
        summary: 'Mail a new verification link',
        description:
          'For the logged-in user, or for `email` without a token. Answers the same whether or not it sent.',
        security: bearer,
        body: ResendVerificationBody,
        response: { 200: MessageResponse },
      },
    },
    (request) => {
      const email = request.body.email;
      if (request.auth) accounts.resendVerification({ userId: request.auth.user.id });
      else if (email !== undefined) accounts.resendVerification({ email });
      else
        throw new ValidationFailedError([{ loc: ['body', 'email'], msg: 'Field required', type: 'missing' }]);
      return { message: VERIFICATION_RESENT_MESSAGE };
    },
  );

  app.post(
    '/verify-email/:token',
    {
      schema: {
        tags,
        summary: 'Verify the email address with the mailed token (single use)',
        params: VerifyEmailParams,
        response: { 200: MessageResponse },
      },
    },
    async (request) => {
      const outcome = await accounts.verifyEmail(request.params.token);
      return { message: outcome === 'verified' ? 'Email successfully verified' : 'Email already verified' };
    },
  );
};
