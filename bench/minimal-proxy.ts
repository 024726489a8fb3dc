// The chat benchmark's floor: the least a Node.js proxy can do to turn a chat request into a streamed answer from the
// LLM stand-in — read the JSON body, call upstream through undici (as our server does), relay each NDJSON token as an
// SSE event. No validation, no database, no limits, no sanitization, no metrics. Its added time to first token is
// what the machine charges for the extra process and its two extra socket hops; our server's is compared with it.
// Started as a server under test (bench/servers-under-test.ts): PORT and LLM_URL from the environment, GET /health
// for readiness.
import http from 'node:http';
import { StringDecoder } from 'node:string_decoder';
import { Agent, request } from 'undici';

const upstream = `${process.env.LLM_URL ?? ''}/api/chat`;
const agent = new Agent({ keepAliveTimeout: 4_000 });
let ids = 0;

const server = http.createServer((req, res) => {
  if (req.method === 'GET') {
    res.writeHead(req.url === '/health' ? 200 : 404).end();
    return;
  }
  let raw = '';
  req.setEncoding('utf8');
  req.on('data', (chunk: string) => (raw += chunk));
  req.on('end', () => {
    void relay(raw, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(502).end(String(error));
      else res.destroy();
    });
  });
});

async function relay(raw: string, res: http.ServerResponse): Promise<void> {
  const { message } = JSON.parse(raw) as { message: string };
  const sessionId = `s${(ids += 1)}`;
  const body = JSON.stringify({
    model: 'tinyllama:latest',
    messages: [
      { role: 'system', content: 'You are a helpful assistant.' },
      { role: 'user', content: message },
    ],
    stream: true,
    options: { temperature: 0.7 },
  });
  const answer = await request(upstream, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    dispatcher: agent,
  });
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
  res.write(`event: start\ndata: ${JSON.stringify({ session_id: sessionId })}\n\n`);
  const decoder = new StringDecoder('utf8');
  let buffer = '';
  for await (const chunk of answer.body) {
    buffer += decoder.write(chunk as Buffer);
    let newline = buffer.indexOf('\n');
    while (newline >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      newline = buffer.indexOf('\n');
      if (!line.trim()) continue;
      const event = JSON.parse(line) as {
        message?: { content?: string };
        done?: boolean;
        eval_count?: number;
      };
      if (event.message?.content)
        res.write(`event: token\ndata: ${JSON.stringify({ content: event.message.content })}\n\n`);
      if (event.done) {
        res.end(
          `event: end\ndata: ${JSON.stringify({ message_id: ids, usage: { completion_tokens: event.eval_count } })}\n\n`,
        );
        return;
      }
    }
  }
  res.end();
}

server.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
