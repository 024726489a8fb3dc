// The adapters keep their upstream connection between calls: a chat that ends normally leaves its keep-alive
// connection for the next one (a new TCP connection per chat was the largest cost before the first token), while a
// chat cut short closes it, so the server stops generating. A bare node:http server counts the connections.
// (A for-await over undici's body destroys it when left early — before its end arrived, that closed the connection.)
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../../src/config.js';
import type { GenerationEvent, GenerationRequest } from '../../../src/modules/llm/llm.port.js';
import { createLlmProvider, type LlmProviderHandle } from '../../../src/modules/llm/provider-factory.js';

const REQUEST: GenerationRequest = { model: 'tinyllama:latest', messages: [{ role: 'user', content: 'Hi' }] };

let server: http.Server;
let connections = 0;
/** Connections the client has closed. */
let closed = 0;
let handle: LlmProviderHandle;
/** The body's end follows the final line after this pause; chats are this far apart, so its end has arrived. */
const END_DELAY_MS = 5;
const GAP_MS = 40;
/** Lines each /api/chat answer sends before its final `done` line. */
let tokenLines = 2;

function ollamaLine(value: object): string {
  return `${JSON.stringify({ model: 'tinyllama:latest', created_at: new Date().toISOString(), ...value })}\n`;
}

beforeEach(async () => {
  connections = 0;
  closed = 0;
  tokenLines = 2;
  server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      for (let i = 0; i < tokenLines; i += 1) {
        res.write(ollamaLine({ message: { role: 'assistant', content: `t${i} ` }, done: false }));
      }
      res.write(
        ollamaLine({
          message: { role: 'assistant', content: '' },
          done: true,
          prompt_eval_count: 1,
          eval_count: tokenLines,
        }),
      );
      // The body's end comes after the final line, as a separate packet (as from a real server under load).
      setTimeout(() => res.end(), END_DELAY_MS);
    });
  });
  server.on('connection', (socket) => {
    connections += 1;
    socket.on('close', () => (closed += 1));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  handle = createLlmProvider(parseConfig({ OLLAMA_URL: `http://127.0.0.1:${port}` }).llm);
});

afterEach(async () => {
  await handle.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

async function readAll(): Promise<GenerationEvent[]> {
  const events: GenerationEvent[] = [];
  for await (const event of handle.provider.generate(REQUEST)) events.push(event);
  return events;
}

describe('upstream connections (Ollama adapter)', () => {
  // (At most 2 of 10: a busy machine may still be reading one body's end when the next chat starts.)
  it('serves consecutive chats on kept-alive connections', async () => {
    for (let i = 0; i < 10; i += 1) {
      const events = await readAll();
      expect(events.at(-1)).toMatchObject({ type: 'done', usage: { completionTokens: 2 } });
      await sleep(GAP_MS);
    }
    expect(connections).toBeLessThanOrEqual(2);
  });

  it('keeps the connection when the consumer stops at the final event', async () => {
    for (let i = 0; i < 10; i += 1) {
      for await (const event of handle.provider.generate(REQUEST)) if (event.type === 'done') break;
      await sleep(GAP_MS);
    }
    expect(connections).toBeLessThanOrEqual(2);
  });

  it('closes the connection when the consumer stops before the answer is whole', async () => {
    tokenLines = 50;
    for await (const event of handle.provider.generate(REQUEST)) if (event.type === 'token') break;
    await vi.waitFor(() => expect(closed).toBe(1), { timeout: 2_000 });
  });
});
