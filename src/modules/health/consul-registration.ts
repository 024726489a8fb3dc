// Registration of this instance with Consul (CONSUL_URL), as the original did at start: the service with an HTTP
// check on /health/ready, so that Consul routes only to instances that can serve; deregistered at shutdown. A Consul
// that does not answer is logged and tried again (1 s doubling to 30 s), in the background: it never stops the
// server from starting or from stopping.
import os from 'node:os';
import { request, type Dispatcher } from 'undici';
import type { Config } from '../../config.js';
import { readAtMost, requestTarget } from './http-probe.js';
import { probeReason } from './probe-reason.js';
import { ProbeFailure } from './service-probe.js';

export interface ConsulService {
  id: string;
  name: string;
  address: string;
  port: number;
  tags: string[];
}

export interface ConsulRegistrationOptions {
  consulUrl: string;
  /** CONSUL_TOKEN: sent as X-Consul-Token (an ACL token). */
  token?: string | undefined;
  service: ConsulService;
  dispatcher?: Dispatcher;
  logger: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  /** Each call to Consul's agent API gives up after this long. */
  timeoutMs: number;
  /** First delay between attempts, doubled up to maxDelayMs. */
  retryDelayMs?: number;
  maxDelayMs?: number;
}

export class ConsulRegistration {
  readonly #options: ConsulRegistrationOptions;
  readonly #base: URL;
  #registered = false;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  #attempt: Promise<void> | undefined;
  /** Aborts the registration attempt in flight when stop() comes. */
  readonly #stopping = new AbortController();

  constructor(options: ConsulRegistrationOptions) {
    this.#options = options;
    this.#base = new URL(options.consulUrl.endsWith('/') ? options.consulUrl : `${options.consulUrl}/`);
  }

  get registered(): boolean {
    return this.#registered;
  }

  /** Starts registering in the background; resolves at once. */
  start(): void {
    this.#try(this.#options.retryDelayMs ?? 1_000);
  }

  /**
   * Stops trying, and deregisters when registered, within `budgetMs` at most (the shutdown's time must not go to a
   * Consul that does not answer). Failures are logged, never thrown.
   */
  async stop(budgetMs: number = this.#options.timeoutMs): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#stopping.abort();
    await this.#attempt;
    if (!this.#registered) return;
    const { id } = this.#options.service;
    try {
      await this.#put(
        `v1/agent/service/deregister/${encodeURIComponent(id)}`,
        undefined,
        AbortSignal.timeout(Math.min(budgetMs, this.#options.timeoutMs)),
      );
      this.#registered = false;
      this.#options.logger.info({ id }, 'deregistered from Consul');
    } catch (error) {
      this.#options.logger.warn({ id, reason: probeReason(error) }, 'could not deregister from Consul');
    }
  }

  #try(delayMs: number): void {
    if (this.#stopped) return;
    const { service, logger } = this.#options;
    const deadline = AbortSignal.any([AbortSignal.timeout(this.#options.timeoutMs), this.#stopping.signal]);
    this.#attempt = this.#put(
      'v1/agent/service/register',
      {
        ID: service.id,
        Name: service.name,
        Tags: service.tags,
        Address: service.address,
        Port: service.port,
        Check: {
          HTTP: `http://${hostForUrl(service.address)}:${service.port}/health/ready`,
          Interval: '30s',
          Timeout: '10s',
        },
      },
      deadline,
    ).then(
      () => {
        this.#registered = true;
        logger.info({ id: service.id }, 'registered with Consul');
      },
      (error: unknown) => {
        if (this.#stopped) return;
        logger.warn(
          { id: service.id, reason: probeReason(error), retryInMs: delayMs },
          'could not register with Consul; trying again',
        );
        this.#timer = setTimeout(
          () => this.#try(Math.min(delayMs * 2, this.#options.maxDelayMs ?? 30_000)),
          delayMs,
        );
        this.#timer.unref();
      },
    );
  }

  async #put(path: string, body: object | undefined, signal: AbortSignal): Promise<void> {
    const { url, authorization } = requestTarget(this.#base, path);
    const { statusCode, body: answer } = await request(url, {
      method: 'PUT',
      ...(this.#options.dispatcher ? { dispatcher: this.#options.dispatcher } : {}),
      signal,
      headers: {
        'content-type': 'application/json',
        ...(authorization ? { authorization } : {}),
        ...(this.#options.token ? { 'x-consul-token': this.#options.token } : {}),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    // Read to its end: an answer cut off is no confirmation.
    await readAtMost(answer, 64 * 1024);
    if (statusCode < 200 || statusCode > 299) throw new ProbeFailure(`HTTP ${statusCode}`);
  }
}

/** An IPv6 address in a URL needs brackets. */
function hostForUrl(address: string): string {
  return address.includes(':') && !address.startsWith('[') ? `[${address}]` : address;
}

/**
 * The registration of an instance listening on `port`, when CONSUL_URL is set: named `sutazai-backend` as the
 * original, at CONSUL_SERVICE_ADDRESS (else HOST when it is a specific address, else the host name), with an id
 * unique per address and port.
 */
export function consulRegistrationFor(
  config: Pick<Config, 'health' | 'server'>,
  port: number,
  logger: ConsulRegistrationOptions['logger'],
): ConsulRegistration | undefined {
  const { consulUrl, consulServiceAddress, consulToken, probeTimeoutMs } = config.health;
  if (consulUrl === undefined) return undefined;
  const host = config.server.host;
  const address = consulServiceAddress ?? (['0.0.0.0', '::', ''].includes(host) ? os.hostname() : host);
  return new ConsulRegistration({
    consulUrl,
    service: {
      id: `sutazai-backend-${address}-${port}`,
      name: 'sutazai-backend',
      address,
      port,
      tags: ['api', 'backend', 'fastify'],
    },
    token: consulToken,
    logger,
    timeoutMs: Math.max(probeTimeoutMs, 5_000),
  });
}
