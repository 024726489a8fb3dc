// The files section's baseline: the least a Node.js HTTP server does to store an upload, the raw request body piped
// into a file (no multipart parsing, no type detection, no hash, no database row), which it then removes. GET /health
// answers as our server does, so the bench's readiness check works alike. Run as a child process, like our server.
// Usage: PORT=<port> UPLOAD_DIR=<folder> node --import tsx bench/upload-baseline-server.ts
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { HEALTH_BODY, HEALTH_PATH } from './health-response.js';

const port = Number(process.env.PORT);
const dir = process.env.UPLOAD_DIR ?? '';
if (!Number.isInteger(port) || port <= 0 || !dir) {
  console.error('upload-baseline-server: PORT (a port number) and UPLOAD_DIR (a folder) are required');
  process.exit(2);
}
fs.mkdirSync(dir, { recursive: true });

let uploads = 0;
const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === HEALTH_PATH) {
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(HEALTH_BODY);
    return;
  }
  if (req.method === 'POST' && req.url === '/upload') {
    uploads += 1;
    const file = path.join(dir, `upload-${uploads}`);
    let size = 0;
    req.on('data', (chunk: Buffer) => (size += chunk.length));
    pipeline(req, fs.createWriteStream(file))
      .then(() => {
        fs.rmSync(file, { force: true });
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ size }));
      })
      .catch((error: unknown) => {
        fs.rmSync(file, { force: true });
        res.writeHead(500).end(String(error));
      });
    return;
  }
  res.writeHead(404, { 'content-length': 0 }).end();
});

server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
