// A reference row, not a target: Fastify with no plugin, hook or logger, answering GET /health with our body. It
// shows how much of the gap to the bare server is the framework itself and how much is our platform (security
// headers, request ids, metrics, CORS, compression, logging).
// Usage: PORT=<port> node --import tsx bench/fastify-server.ts
import Fastify from 'fastify';
import { HEALTH_BODY, HEALTH_PATH } from './health-response.js';

const port = Number(process.env.PORT);
if (!Number.isInteger(port) || port <= 0) {
  console.error(`fastify-server: PORT must be a port number (got ${JSON.stringify(process.env.PORT)})`);
  process.exit(2);
}

const app = Fastify();
app.get(HEALTH_PATH, (_request, reply) => reply.type('application/json; charset=utf-8').send(HEALTH_BODY));
await app.listen({ port, host: '127.0.0.1' });

process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
