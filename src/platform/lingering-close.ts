// Lingering close, as nginx does it: an answer that closes the connection while the request body is still arriving
// (a 413 above all) is followed by reading and discarding the rest of the body, within bounds, before the socket
// is closed. Node closes such a socket as soon as the answer is flushed; the kernel then answers the bytes still
// coming with a reset, and a client still sending its body (Node's fetch, browsers) reports EPIPE or ECONNRESET
// instead of the answer, which the reset may also have discarded from its receive buffer unread.
import type { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import fp from 'fastify-plugin';

export interface LingerBounds {
  /** Closed when the client has sent nothing for this long. */
  idleMs: number;
  /** Closed this long after the answer, whatever the client still sends. */
  totalMs: number;
  /** Closed once this many body bytes have been discarded. */
  maxBytes: number;
}

export const LINGER_BOUNDS: LingerBounds = {
  // nginx's lingering_timeout: a client that has stopped sending for 5 s is not finishing its body soon.
  idleMs: 5_000,
  // nginx's lingering_time: 30 s lets a 10 MB body finish at about 3 Mbit/s; a slower client gets the reset.
  totalMs: 30_000,
  // Ten times more than the largest body a client plausibly sends to a JSON route by mistake (a file pasted into
  // a field); past that, reading on only spends bandwidth. The bytes are counted and dropped, never kept.
  maxBytes: 64 * 1024 * 1024,
};

const CLOSE_TOKEN = /(?:^|\W)close(?:$|\W)/i;

/** Whether Node will close the connection after this answer (Connection: close sent, or the client asked for it). */
function answerClosesConnection(reply: FastifyReply): boolean {
  const connection = reply.getHeader('connection');
  return !reply.raw.shouldKeepAlive || (connection !== undefined && CLOSE_TOKEN.test(String(connection)));
}

export class LingeringClose {
  readonly #sockets = new Set<Socket>();
  #closing = false;

  constructor(private readonly bounds: LingerBounds = LINGER_BOUNDS) {}

  /** Sockets reading a body after their answer, now. */
  get lingering(): number {
    return this.#sockets.size;
  }

  /**
   * Call before an answer that closes the connection is sent. When its body has not fully arrived, the body is read
   * and discarded from now on, and the socket is not destroyed once the answer is flushed: its write side is ended
   * (the client sees the end of the answer) and it is closed when the body has ended or a bound is reached.
   */
  afterAnswer(req: IncomingMessage): void {
    const socket = req.socket;
    // Not a connection (an injected request): nothing to linger on.
    if (!(socket instanceof Socket)) return;
    if (this.#closing || req.complete || socket.destroyed || this.#sockets.has(socket)) return;
    const drained = this.#drain(req, socket);
    // Node ends a closing answer's connection with socket.destroySoon() once the answer is finished: "soon" becomes
    // "when the body has been drained". Only for this socket, which no other request will use.
    socket.destroySoon = () => {
      if (socket.writable) socket.end();
      void drained.then(() => Socket.prototype.destroySoon.call(socket));
    };
  }

  /** Destroys the lingering sockets, and lingers no more (the server is closing). */
  closeAll(): void {
    this.#closing = true;
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
  }

  /**
   * Reads the body to its end and drops it; resolves when it has ended. A bound reached destroys the socket (the
   * client, still sending, sees a reset). Reading starts before the answer goes out: a request nobody reads is
   * "dumped" by Node once its answer is finished, and a dumped request's bytes are dropped by the parser without a
   * 'data' event, so they could not be counted against maxBytes.
   */
  #drain(req: IncomingMessage, socket: Socket): Promise<void> {
    return new Promise((resolve) => {
      let discarded = 0;
      const finish = (close: () => void) => {
        clearTimeout(idle);
        clearTimeout(total);
        req.off('data', onData);
        req.off('end', onEnd);
        socket.off('close', onClose);
        this.#sockets.delete(socket);
        close();
        resolve();
      };
      const cutOff = () => finish(() => socket.destroy());
      const onEnd = () => finish(() => undefined);
      const onClose = () => finish(() => undefined);
      const onData = (chunk: Buffer) => {
        discarded += chunk.length;
        if (discarded > this.bounds.maxBytes) cutOff();
        else idle.refresh();
      };
      // totalMs counts from here, a moment before the answer is written.
      const idle = setTimeout(cutOff, this.bounds.idleMs);
      const total = setTimeout(cutOff, this.bounds.totalMs);

      this.#sockets.add(socket);
      // A body parser that gave up may have left the request piped into a decompressor: inflating what is thrown
      // away would cost CPU for nothing (a gzip bomb), so the request's bytes are taken from it and dropped here.
      req.unpipe();
      req.on('data', onData);
      req.once('end', onEnd);
      socket.once('close', onClose);
      req.resume();
    });
  }
}

export interface LingeringCloseOptions {
  bounds?: LingerBounds;
}

/**
 * Every 413 closes the connection (the body it refused may still be arriving: after it, the connection's bytes
 * are no longer a request boundary anyone can trust), and every answer that closes the connection before its
 * request's body has arrived lingers.
 */
const lingeringClosePlugin: FastifyPluginAsync<LingeringCloseOptions> = async (app, options) => {
  const lingering = new LingeringClose(options.bounds);
  app.addHook('onSend', (request, reply, payload, done) => {
    if (reply.statusCode === 413) void reply.header('connection', 'close');
    if (answerClosesConnection(reply)) lingering.afterAnswer(request.raw);
    done(null, payload);
  });
  // Before the server waits for its connections to end: a lingering one would hold the close up to totalMs.
  app.addHook('preClose', (done) => {
    lingering.closeAll();
    done();
  });
};

export default fp(lingeringClosePlugin, { name: 'lingering-close' });
