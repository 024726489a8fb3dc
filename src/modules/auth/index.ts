// What other modules and the CLI may use of the auth module.
export { default as authPlugin, type AuthPluginOptions } from './auth.plugin.js';
export { accessTokenIdentity } from './access-token-identity.js';
export { bearerToken, caller, clientKey } from './authenticate.js';
export type { Authenticated } from './session.service.js';
export type { UserRecord } from './user.repository.js';
export { createSuperuserService } from './superuser.factory.js';
export type { SuperuserInput } from './superuser.service.js';
