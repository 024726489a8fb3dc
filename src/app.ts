// buildApp(config): the table of contents of the server. Platform plugins first, in the order a request meets
// them, then each module under its prefix.
import type { DestinationStream } from 'pino';
import Fastify, { type FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Config, TrustProxy } from './config.js';
import { systemClock, type Clock } from './lib/clock.js';
import databasePlugin from './platform/db/database-plugin.js';
import errorHandler, { answerClientError, sendError } from './platform/error-handler.js';
import lingeringClose from './platform/lingering-close.js';
import htmlSafeJson from './platform/html-safe-json.js';
import cors, { corsHeadersFor } from './platform/cors.js';
import { registerBodyParsers, registerCompression, registerOpenApi } from './platform/http-plugins.js';
import { RequestLogController, createLogger, requestChildLogger } from './platform/logger.js';
import metricsPlugin, { createHttpMetrics } from './platform/metrics.js';
import notFound from './platform/not-found.js';
import rateLimitPlugin from './platform/rate-limit/rate-limit-plugin.js';
import redisPlugin from './platform/redis-plugin.js';
import requestContext, { REQUEST_ID_HEADER, requestIdFor } from './platform/request-context.js';
import securityHeaders, { applySecurityHeaders } from './platform/security-headers.js';
import shutdownGate from './platform/shutdown-gate.js';
import websocketPlugin from './platform/websocket/websocket-plugin.js';
import { schemaController } from './platform/validation.js';
import { agentsPlugin } from './modules/agents/index.js';
import { accessTokenIdentity, authPlugin } from './modules/auth/index.js';
import { chatPlugin } from './modules/chat/index.js';
import { documentsPlugin } from './modules/documents/index.js';
import { filesPlugin } from './modules/files/index.js';
import { healthPlugin } from './modules/health/index.js';
import { llmPlugin } from './modules/llm/index.js';
import { mailPlugin } from './modules/mail/index.js';
import { rootRoutes } from './modules/root/root.routes.js';
import { vectorsPlugin } from './modules/vectors/index.js';

export interface BuildOptions {
  /** Where log lines go (tests capture them); stdout by default. */
  logDestination?: DestinationStream;
  /** Run pending migrations while starting (serve does when MIGRATE_ON_START; tests always do). */
  migrate?: boolean;
  /** Where time comes from (tests move a ManualClock through lockouts and expiries). */
  clock?: Clock;
  /** False only in the benchmark, which measures the HTML-safe encoding against this same server without it. */
  htmlSafeJson?: boolean;
}

export type App = FastifyInstance;

/** Fastify takes a hop count as a function (proxy-addr's form); booleans and address lists as they are. */
function trustProxyOption(
  trust: TrustProxy,
): boolean | string[] | ((address: string, hop: number) => boolean) {
  return typeof trust === 'number' ? (_address, hop) => hop < trust : trust;
}

/** Exported for tests that need a path parameter the router refuses. */
export const MAX_PATH_PARAMETER_LENGTH = 512;

export async function buildApp(config: Config, options: BuildOptions = {}): Promise<App> {
  const logger = createLogger(config.log.level, options.logDestination);
  const corsHeaders = corsHeadersFor(config.server.corsOrigins);
  const app = Fastify({
    loggerInstance: logger,
    genReqId: requestIdFor,
    logController: new RequestLogController(logger),
    childLoggerFactory: requestChildLogger,
    bodyLimit: config.server.bodyLimit,
    // The longest path parameter a route's schema accepts (an email verification token, 512): under it, each
    // schema says what is too long (a 129-character session id is a 422), over it the router answers 414.
    routerOptions: { maxParamLength: MAX_PATH_PARAMETER_LENGTH },
    trustProxy: trustProxyOption(config.server.trustProxy),
    // platform/shutdown-gate.ts answers those 503s, in our error shape.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    schemaController,
    // Errors raised before routing (a malformed URL) skip every hook: give them the same headers and body.
    frameworkErrors: (error, request, reply) => {
      applySecurityHeaders(reply);
      void reply.headers(corsHeaders(request.headers.origin));
      void reply.header(REQUEST_ID_HEADER, request.id);
      sendError(request, reply, error);
    },
    // Requests Node's HTTP parser rejects never reach Fastify's hooks either.
    clientErrorHandler: (error, socket) => answerClientError(error, socket, logger, corsHeaders),
  }).withTypeProvider<TypeBoxTypeProvider>() as unknown as App;

  try {
    await app.register(requestContext);
    await app.register(securityHeaders);
    await app.register(shutdownGate);
    await app.register(errorHandler);
    await app.register(lingeringClose);
    if (options.htmlSafeJson !== false) await app.register(htmlSafeJson);
    await app.register(notFound);
    await app.register(cors, { origins: config.server.corsOrigins });
    await registerBodyParsers(app);
    // Before any route, so that every route (/metrics and the docs included) is compressed.
    await registerCompression(app);
    await app.register(metricsPlugin, {
      metrics: createHttpMetrics(config.app.name, config.app.version, config.app.environment),
      token: config.metrics.token,
    });
    await registerOpenApi(app, config);

    await app.register(databasePlugin, {
      config: config.db,
      migrate: options.migrate ?? config.db.migrateOnStart,
    });
    await app.register(redisPlugin, { config: config.redis, connectionName: `sutazai:${process.pid}` });
    await app.register(websocketPlugin, { config: config.websocket });

    const clock = options.clock ?? systemClock;
    await app.register(rateLimitPlugin, {
      config: config.rateLimit,
      identifyUser: accessTokenIdentity(config.auth, clock),
      clock,
      // A test's clock drives the Redis store too; in production Redis's own clock does (rate-limits.ts).
      redisClock: options.clock,
    });
    await app.register(mailPlugin, { config: config.mail, clock });

    await app.register(rootRoutes, { appName: config.app.name, version: config.app.version });
    await app.register(authPlugin, {
      auth: config.auth,
      rateLimit: config.rateLimit,
      frontendUrl: config.mail.frontendUrl,
      clock,
    });
    await app.register(llmPlugin, { config: config.llm, clock });
    await app.register(agentsPlugin, { config: config.agents, clock });
    await app.register(filesPlugin, {
      config: config.files,
      // The auth plugin has already refused to start without a secret.
      cursorSecret: config.auth.jwtSecret ?? '',
      clock,
    });
    await app.register(vectorsPlugin, { config: config.vectors });
    await app.register(documentsPlugin, { config: config.documents, clock });
    await app.register(chatPlugin, {
      chat: config.chat,
      maxTokens: config.llm.maxTokens,
      // The auth plugin has already refused to start without a secret.
      cursorSecret: config.auth.jwtSecret ?? '',
      clock,
    });
    await app.register(healthPlugin, { config, clock });
  } catch (error) {
    // What the plugins loaded so far opened (a database pool, say) must not outlive a failed start.
    await app.close().catch(() => undefined);
    throw error;
  }

  return app;
}
