// /api/v1/auth/users: superusers list accounts and change their state. Everyone else gets 403.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  AdminUserResponse,
  UserIdParams,
  UserListQuery,
  UserPageResponse,
  UserPatchBody,
  adminUserResponse,
} from './auth.schemas.js';
import { caller } from './authenticate.js';
import type { UserAdminService } from './user-admin.service.js';

const tags = ['auth'];
const security = [{ bearerAuth: [] }];

export const userAdminRoutes: FastifyPluginAsyncTypebox<{ admin: UserAdminService }> = async (
  app,
  { admin },
) => {
  app.get(
    '/users',
    {
      onRequest: app.requireSuperuser,
      schema: {
        tags,
        summary: 'List accounts (superusers only)',
        security,
        querystring: UserListQuery,
        response: { 200: UserPageResponse },
      },
    },
    async (request) => {
      const { skip, limit, search } = request.query;
      const page = await admin.list({ skip, limit, ...(search === undefined ? {} : { search }) });
      return {
        items: page.items.map(adminUserResponse),
        total: page.total,
        skip,
        limit,
        has_more: skip + page.items.length < page.total,
      };
    },
  );

  app.patch(
    '/users/:id',
    {
      onRequest: app.requireSuperuser,
      schema: {
        tags,
        summary: 'Activate, deactivate or unlock an account, or end its sessions (superusers only)',
        security,
        params: UserIdParams,
        body: UserPatchBody,
        response: { 200: AdminUserResponse },
      },
    },
    async (request) => {
      const { is_active, unlock, revoke_sessions } = request.body;
      const user = await admin.update(caller(request).user.id, request.params.id, {
        ...(is_active === undefined ? {} : { isActive: is_active }),
        unlock: unlock === true,
        revokeSessions: revoke_sessions === true,
      });
      return adminUserResponse(user);
    },
  );
};
