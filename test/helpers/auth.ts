// Factories for auth tests: users with unique names and a password that passes the policy, registered and logged in
// through the real HTTP API.
import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import type { App } from '../../src/app.js';

export const STRONG_PASSWORD = 'Str0ng!Passw0rd';

export interface TestUser {
  email: string;
  username: string;
  password: string;
}

export function newUser(overrides: Partial<TestUser> = {}): TestUser {
  const id = randomBytes(4).toString('hex');
  return { email: `user-${id}@example.com`, username: `user_${id}`, password: STRONG_PASSWORD, ...overrides };
}

export interface RegisteredUser extends TestUser {
  id: number;
}

export async function register(app: App, user: TestUser = newUser()): Promise<RegisteredUser> {
  const response = await app.inject({ method: 'POST', url: '/api/v1/auth/register', payload: user });
  expect(response.statusCode, response.body).toBe(201);
  return { ...user, id: response.json<{ id: number }>().id };
}

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  token_type: string;
  expires_in: number;
}

/** Logs in with the OAuth2 form, as the original's clients do. */
export async function login(
  app: App,
  username: string,
  password: string = STRONG_PASSWORD,
): Promise<TokenPair> {
  const response = await app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: new URLSearchParams({ username, password }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  expect(response.statusCode, response.body).toBe(200);
  return response.json<TokenPair>();
}

export async function registerAndLogin(
  app: App,
  user: TestUser = newUser(),
): Promise<{ user: RegisteredUser; tokens: TokenPair }> {
  const registered = await register(app, user);
  return { user: registered, tokens: await login(app, user.username, user.password) };
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** A superuser registered and logged in on `app` (made one by setting the flag in the database): its access token. */
export async function superuserToken(app: App): Promise<string> {
  const admin = await register(app, newUser());
  await app.database.db.updateTable('users').set({ is_superuser: true }).where('id', '=', admin.id).execute();
  return (await login(app, admin.username, admin.password)).access_token;
}
