// A stand-in LLM server for tests and benchmarks: node:http on 127.0.0.1 and an ephemeral port, speaking the real wire
// protocols of Ollama (POST /api/chat as NDJSON or one JSON, GET /api/tags, POST /api/show, POST /api/embed, GET
// /api/version) and of an OpenAI-compatible server under /v1 (POST /v1/chat/completions as server-sent events ending
// in `data: [DONE]` or one JSON, GET /v1/models, GET /v1/models/{id}, POST /v1/embeddings), with the field names the
// real servers use.
//
// Each generation request (a chat, streamed or not) plays the next scripted reply, in order. A generation with no
// reply left, a reply scripted for another model, a malformed request or an unknown path is "unexpected": it is
// answered 500 (404 for a path), recorded, and assertNoUnexpected() (call it in afterEach) fails the test with the
// list. A model outside setModels() gets the real servers' unknown-model answer without using a reply. Model names
// match as Ollama matches them, on both protocols: "tinyllama" is "tinyllama:latest".
//
// Model details and embeddings answer from the model list unless an answer was scripted for them (script(), in
// order per endpoint, on both protocols): a status, a body (malformed on purpose if wanted), or a hang.
//
// Timing of a reply: firstTokenDelayMs passes before anything is sent (headers included: Ollama sends nothing until
// the model is loaded and its first token is out); tokenDelayMs passes before each later token. Scripted tokens are
// sent as they are (max_tokens / num_predict are recorded, not applied); the usage defaults to one prompt token per
// word of the messages and one completion token per scripted token. close() destroys every socket, hung ones too.
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import {
  countWords,
  embedBody,
  embedding,
  type Embedder,
  errorBody,
  isJson,
  modelBody,
  modelListBody,
  notFoundMessage,
  ollamaWire,
  openaiEmbedBody,
  openaiWire,
  sameModel,
  showBody,
  type Protocol,
} from './llm-stand-in-wire.js';

export interface ScriptedReply {
  tokens?: string[];
  tokenDelayMs?: number;
  firstTokenDelayMs?: number;
  /** Answer this status instead (with errorBody, or the protocol's usual error body). */
  status?: number;
  /** Sent instead of an answer (a string as text/plain, anything else as JSON), with `status` (default 500). */
  errorBody?: unknown;
  /** Accept, never answer. */
  hang?: boolean;
  /** Destroy the socket after n tokens (after a pause of tokenDelayMs, at least 20 ms, so that they arrive first). */
  dropAfterTokens?: number;
  promptTokens?: number;
  completionTokens?: number;
  /** Only answer for this model, else unexpected. */
  model?: string;
}

/** Answers model details (/api/show, /v1/models/{id}) or embeddings (/api/embed, /v1/embeddings). */
export type ScriptedEndpoint = 'show' | 'embed';

/** One scripted answer of a model details or embeddings request, instead of the normal one. */
export interface ScriptedAnswer {
  /** Default 200. */
  status?: number;
  /** Sent as it is (a string as text/plain, anything else as JSON); absent: the protocol's error body for `status`. */
  body?: unknown;
  /** Accept, never answer. */
  hang?: boolean;
}

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The JSON body parsed, the raw text when it is not JSON, undefined when empty. */
  body: unknown;
  /** The connection closed before we finished answering (the client left, or close() ended a hung request). */
  aborted: boolean;
}

export interface LlmStandIn {
  /** Ollama base URL (OLLAMA_URL). */
  url: string;
  /** url + '/v1' (OPENAI_BASE_URL). */
  openaiUrl: string;
  /** Every request received, in order, including unexpected ones. */
  requests: ReceivedRequest[];
  setModels(names: string[]): void;
  /** Queued (FIFO), one per generation request. */
  reply(...replies: ScriptedReply[]): void;
  /** Model lists (/api/tags, /v1/models) answer this status, or never answer ('hang'); null: normal again. */
  failModelList(status: number | 'hang' | null): void;
  /** Queued (FIFO per endpoint), one per well-formed request of that endpoint, on either protocol. */
  script(endpoint: ScriptedEndpoint, ...answers: ScriptedAnswer[]): void;
  /**
   * false: GET /v1/models/{id} answers 404 {"detail":"Not Found"} for every id, as vLLM and llama.cpp's server (which
   * have no such path) do; an adapter may try it, so it is not unexpected. true (the default): answered as OpenAI.
   */
  serveModelRetrieve(serve: boolean): void;
  unexpected(): string[];
  /** Throws listing the unexpected requests since the last call (and forgets them, so they are reported once). */
  assertNoUnexpected(): void;
  waitForRequests(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

const DROP_PAUSE_MS = 20;

export async function startLlmStandIn(
  options: { models?: string[]; embed?: Embedder } = {},
): Promise<LlmStandIn> {
  let models = options.models ?? ['tinyllama:latest'];
  const embedder = options.embed ?? embedding;
  let modelListFailure: number | 'hang' | null = null;
  let modelRetrieve = true;
  const scripted: Record<ScriptedEndpoint, ScriptedAnswer[]> = { show: [], embed: [] };
  let closed = false;
  const replies: ScriptedReply[] = [];
  const requests: ReceivedRequest[] = [];
  let unexpected: string[] = [];
  const sockets = new Set<Socket>();
  const waiters = new Set<() => void>();
  const sleepers = new Set<() => void>();

  const sleep = (ms = 0) =>
    ms <= 0
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          const wake = () => {
            clearTimeout(timer);
            sleepers.delete(wake);
            resolve();
          };
          const timer = setTimeout(wake, ms);
          sleepers.add(wake);
        });
  const gone = (res: ServerResponse) => closed || res.destroyed;
  const known = (model: string) => models.some((name) => sameModel(name, model));
  const flag = (record: ReceivedRequest, why: string) => {
    const model =
      isJson(record.body) && typeof record.body.model === 'string' ? ` (model "${record.body.model}")` : '';
    unexpected.push(`${record.method} ${record.path}${model}: ${why}`);
  };

  async function generation(protocol: Protocol, record: ReceivedRequest, res: ServerResponse): Promise<void> {
    const body = record.body;
    if (!isJson(body) || typeof body.model !== 'string' || !Array.isArray(body.messages)) {
      flag(record, 'not a chat request (model and messages are required)');
      return sendError(res, protocol, 400, 'stand-in: model and messages are required');
    }
    if (!known(body.model))
      return sendError(res, protocol, 404, notFoundMessage(protocol, body.model), 'model_not_found');
    const next = replies[0];
    if (!next || (next.model !== undefined && !sameModel(next.model, body.model))) {
      const why = next ? `the next scripted reply is for model "${next.model}"` : 'no scripted reply left';
      flag(record, why);
      return sendError(res, protocol, 500, `stand-in: unexpected request (${why})`);
    }
    replies.shift();
    if (next.hang) return;
    const tokens = next.tokens ?? [];
    const usage = {
      prompt: next.promptTokens ?? countWords(body.messages),
      completion: next.completionTokens ?? tokens.length,
    };
    await sleep(next.firstTokenDelayMs);
    if (gone(res)) return;
    if (next.status !== undefined || next.errorBody !== undefined) {
      const status = next.status ?? 500;
      if (next.errorBody === undefined)
        return sendError(res, protocol, status, `stand-in: scripted ${status}`);
      return typeof next.errorBody === 'string'
        ? send(res, status, next.errorBody, 'text/plain; charset=utf-8')
        : send(res, status, JSON.stringify(next.errorBody));
    }
    const stream = protocol === 'ollama' ? body.stream !== false : body.stream === true;
    const wire = protocol === 'ollama' ? ollamaWire(body.model, usage) : openaiWire(body, usage);
    if (!stream) {
      await sleep((next.tokenDelayMs ?? 0) * Math.max(0, tokens.length - 1));
      if (gone(res)) return;
      if (next.dropAfterTokens !== undefined) return void res.socket?.destroy();
      return send(res, 200, JSON.stringify(wire.whole(tokens.join(''))));
    }
    res.writeHead(200, { 'Content-Type': wire.contentType, 'Cache-Control': 'no-cache' });
    for (let i = 0; i <= tokens.length; i++) {
      if (i === next.dropAfterTokens) {
        res.flushHeaders();
        // The tokens already written reach the client before the connection drops, as when a server dies.
        await sleep(Math.max(next.tokenDelayMs ?? 0, DROP_PAUSE_MS));
        return void res.socket?.destroy();
      }
      if (i > 0) await sleep(next.tokenDelayMs);
      if (gone(res)) return;
      const token = tokens[i];
      if (token !== undefined) await write(res, wire.token(token, i === 0));
    }
    await write(res, wire.end());
    res.end();
  }

  function modelList(protocol: Protocol, res: ServerResponse): void {
    if (modelListFailure === 'hang') return;
    if (modelListFailure !== null)
      return sendError(res, protocol, modelListFailure, 'stand-in: model list failure');
    send(res, 200, modelListBody(protocol, models));
  }

  /** Plays the next answer scripted for `endpoint`; false when there is none. */
  function playScripted(endpoint: ScriptedEndpoint, protocol: Protocol, res: ServerResponse): boolean {
    const next = scripted[endpoint].shift();
    if (!next) return false;
    if (next.hang) return true;
    const status = next.status ?? 200;
    if (next.body === undefined) sendError(res, protocol, status, `stand-in: scripted ${status}`);
    else if (typeof next.body === 'string') send(res, status, next.body, 'text/plain; charset=utf-8');
    else send(res, status, JSON.stringify(next.body));
    return true;
  }

  function show(record: ReceivedRequest, res: ServerResponse): void {
    const body = isJson(record.body) ? record.body : {};
    const model =
      typeof body.model === 'string' ? body.model : typeof body.name === 'string' ? body.name : '';
    if (model === '') {
      flag(record, 'not a show request (model is required)');
      return send(res, 400, JSON.stringify({ error: 'model is required' }));
    }
    if (playScripted('show', 'ollama', res)) return;
    if (!known(model)) return send(res, 404, JSON.stringify({ error: `model '${model}' not found` }));
    send(res, 200, showBody(model));
  }

  function retrieveModel(record: ReceivedRequest, res: ServerResponse): void {
    if (!modelRetrieve) return send(res, 404, JSON.stringify({ detail: 'Not Found' }));
    const id = decodeURIComponent(record.path.slice('/v1/models/'.length));
    if (playScripted('show', 'openai', res)) return;
    if (!known(id)) return sendError(res, 'openai', 404, notFoundMessage('openai', id), 'model_not_found');
    send(res, 200, modelBody(id));
  }

  function embed(protocol: Protocol, record: ReceivedRequest, res: ServerResponse): void {
    const body = isJson(record.body) ? record.body : {};
    const input = typeof body.input === 'string' ? [body.input] : body.input;
    // OpenAI's default is floats; the openai client asks for base64 unless told otherwise.
    const format = body.encoding_format ?? 'float';
    if (
      typeof body.model !== 'string' ||
      !Array.isArray(input) ||
      !input.every((text): text is string => typeof text === 'string') ||
      (protocol === 'openai' && format !== 'float' && format !== 'base64')
    ) {
      flag(record, 'not an embeddings request (model, and input as a string or a list of strings)');
      return sendError(res, protocol, 400, 'stand-in: invalid embeddings request');
    }
    if (playScripted('embed', protocol, res)) return;
    if (!known(body.model)) {
      return sendError(res, protocol, 404, notFoundMessage(protocol, body.model), 'model_not_found');
    }
    send(
      res,
      200,
      protocol === 'ollama'
        ? embedBody(body.model, input, embedder)
        : openaiEmbedBody(body.model, input, format === 'base64' ? 'base64' : 'float', embedder),
    );
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    if (raw === null) return;
    const path = new URL(req.url ?? '/', 'http://stand-in').pathname;
    const record: ReceivedRequest = {
      method: req.method ?? '',
      path,
      headers: req.headers,
      body: parseBody(raw),
      aborted: false,
    };
    res.on('close', () => {
      if (!res.writableFinished) record.aborted = true;
    });
    requests.push(record);
    for (const waiter of [...waiters]) waiter();
    if (record.method === 'GET' && path.startsWith('/v1/models/') && path.length > '/v1/models/'.length) {
      return retrieveModel(record, res);
    }
    switch (`${record.method} ${path}`) {
      case 'POST /api/chat':
        return generation('ollama', record, res);
      case 'POST /v1/chat/completions':
        return generation('openai', record, res);
      case 'GET /api/tags':
        return modelList('ollama', res);
      case 'GET /v1/models':
        return modelList('openai', res);
      case 'POST /api/show':
        return show(record, res);
      case 'POST /api/embed':
        return embed('ollama', record, res);
      case 'POST /v1/embeddings':
        return embed('openai', record, res);
      case 'GET /api/version':
        return send(res, 200, JSON.stringify({ version: '0.6.0' }));
      case 'GET /':
      case 'HEAD /':
        return send(res, 200, 'Ollama is running', 'text/plain; charset=utf-8');
      default:
        flag(record, 'no such endpoint on the stand-in');
        return send(res, 404, '404 page not found', 'text/plain; charset=utf-8');
    }
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      unexpected.push(`${req.method} ${req.url}: the stand-in failed: ${String(error)}`);
      res.destroy();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    openaiUrl: `${url}/v1`,
    requests,
    setModels: (names) => void (models = [...names]),
    reply: (...scripted) => void replies.push(...scripted),
    failModelList: (status) => void (modelListFailure = status),
    script: (endpoint, ...answers) => void scripted[endpoint].push(...answers),
    serveModelRetrieve: (serve) => void (modelRetrieve = serve),
    unexpected: () => [...unexpected],
    assertNoUnexpected() {
      if (unexpected.length === 0) return;
      const list = unexpected;
      unexpected = [];
      throw new Error(`The LLM stand-in got ${list.length} unexpected request(s):\n- ${list.join('\n- ')}`);
    },
    async waitForRequests(n, timeoutMs = 5000) {
      if (requests.length >= n) return;
      await new Promise<void>((resolve, reject) => {
        const check = () => {
          if (requests.length < n) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`The LLM stand-in got ${requests.length} of ${n} requests in ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(check);
      });
    },
    async close() {
      closed = true;
      for (const wake of [...sleepers]) wake();
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await stopped;
    },
  };
}

function sendError(
  res: ServerResponse,
  protocol: Protocol,
  status: number,
  message: string,
  code?: string,
): void {
  send(res, status, errorBody(protocol, status, message, code));
}

function send(
  res: ServerResponse,
  status: number,
  body: string,
  contentType = 'application/json; charset=utf-8',
): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/** Resolves once the chunk is handed to the socket, so that a drop after it cannot overtake it. */
function write(res: ServerResponse, chunk: string): Promise<void> {
  return new Promise((resolve) => res.write(chunk, () => resolve()));
}

async function readBody(req: IncomingMessage): Promise<string | null> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of req) chunks.push(chunk as Buffer);
  } catch {
    return null;
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseBody(raw: string): unknown {
  if (raw === '') return undefined;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}
