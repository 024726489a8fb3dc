// The abort reason of work still running for a request when a graceful shutdown stops waiting for it
// (SHUTDOWN_TIMEOUT_MS reached; see platform/shutdown-gate.ts and server.ts). It answers 503 `server_shutting_down`
// (an SSE stream's last `error` event), and code that sees it knows the work was cancelled by us: a chat stores its
// partial answer with this reason, and the LLM circuit breaker counts nothing against the provider (an aborted call).
import { ServiceUnavailableError } from './errors.js';

export class ServerShuttingDownError extends ServiceUnavailableError {
  constructor() {
    super('The server is shutting down; try again', 'server_shutting_down', 1);
  }
}
