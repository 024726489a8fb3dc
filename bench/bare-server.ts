// The baseline: the least a Node.js HTTP server can do to answer GET /health with our body. Run as its own child
// process (like our server) so that it competes with the load generator for CPU exactly as our server does.
// Usage: PORT=<port> node --import tsx bench/bare-server.ts
import http from 'node:http';
import { HEALTH_BODY, HEALTH_PATH } from './health-response.js';

const port = Number(process.env.PORT);
if (!Number.isInteger(port) || port <= 0) {
  console.error(`bare-server: PORT must be a port number (got ${JSON.stringify(process.env.PORT)})`);
  process.exit(2);
}

const body = Buffer.from(HEALTH_BODY);
const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === HEALTH_PATH) {
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length });
    res.end(body);
    return;
  }
  res.writeHead(404, { 'content-length': 0 });
  res.end();
});

server.listen(port, '127.0.0.1');

// The benchmark stops its children with SIGTERM; exit promptly, as our server does once idle.
process.on('SIGTERM', () => server.close(() => process.exit(0)));
