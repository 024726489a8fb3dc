// RabbitMQ's health: an AMQP connection opened once and kept, re-opened by amqplib's recovery when it drops (100 ms
// doubling to 5 s between attempts). A probe finds the connection up and opens and closes a channel on it: a round
// trip to the broker, not merely a socket that has not noticed it is dead.
import { connect, type RecoveringChannelModel } from 'amqplib';
import { ProbeFailure, type ServiceProbe } from './service-probe.js';

export function amqpProbe(url: string, connectTimeoutMs: number): ServiceProbe {
  let connected = false;
  let lastError: Error | undefined;
  /** Settled by the first attempt's outcome, so that the first probe waits for it instead of saying "not yet". */
  let firstAttempt: Promise<void>;
  let model: RecoveringChannelModel | undefined;
  let closed = false;

  const opened = connect(url, {
    timeout: connectTimeoutMs,
    recovery: { waitForConnect: false, initialDelay: 100, maxDelay: 5000 },
  }).then((m) => {
    model = m;
    firstAttempt = new Promise((resolve) => {
      m.once('connect', () => resolve());
      m.once('connect-failed', () => resolve());
      m.once('reconnect-scheduled', () => resolve());
      m.once('reconnect-failed', () => resolve());
    });
    m.on('connect', () => {
      connected = true;
      lastError = undefined;
    });
    m.on('disconnect', (error: Error) => {
      connected = false;
      lastError = error;
    });
    const failed = (error: Error) => {
      connected = false;
      lastError = error;
    };
    m.on('connect-failed', failed);
    m.on('reconnect-failed', failed);
    m.on('reconnect-scheduled', ({ error }: { error: Error }) => failed(error));
    // Without a listener an 'error' event would crash the process.
    m.on('error', (error: Error) => {
      lastError = error;
    });
    return m;
  });
  // A rejected connect() (a malformed URL) is reported by the probes, not as an unhandled rejection.
  opened.catch(() => undefined);

  return {
    async check(signal) {
      const m = await opened;
      if (!connected) await Promise.race([firstAttempt, abortedPromise(signal)]);
      if (!connected) throw lastError ?? new ProbeFailure('not connected');
      const channel = await m.createChannel();
      channel.on('error', () => undefined);
      await channel.close();
    },
    async close() {
      if (closed) return;
      closed = true;
      await opened.catch(() => undefined);
      await model?.close().catch(() => undefined);
    },
  };
}

function abortedPromise(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
