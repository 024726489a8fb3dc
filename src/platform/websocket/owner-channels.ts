// One channel per owner (a user, or an anonymous client): what one instance publishes there reaches every listener
// of that owner, on this instance and, with REDIS_URL, on every other one (Redis pub/sub). The chat publishes each
// turn's events there, so that a reply generated from an HTTP request on instance A appears on the owner's socket on
// instance B. Delivery is best effort, as pub/sub is: a listener that joins mid-turn sees the rest of it, and a
// Redis that is away loses what was published meanwhile (the stored history has it all).
import type { Redis } from 'ioredis';
import type { BaseLogger } from 'pino';
import type { RedisHandle } from '../redis.js';

export type ChannelListener = (message: string) => void;

export interface OwnerChannels {
  /** Listens to `owner`'s channel until the returned function is called. */
  subscribe(owner: string, listener: ChannelListener): () => void;
  /** Sends `message` to `owner`'s listeners; resolves with how many instances (or, in memory, listeners) got it. */
  publish(owner: string, message: string): Promise<number>;
  close(): Promise<void>;
}

/** Listeners per owner; both implementations deliver through it. */
class Listeners {
  readonly #byOwner = new Map<string, Set<ChannelListener>>();

  /** True when this is the owner's first listener. */
  add(owner: string, listener: ChannelListener): boolean {
    const set = this.#byOwner.get(owner);
    if (set) {
      set.add(listener);
      return false;
    }
    this.#byOwner.set(owner, new Set([listener]));
    return true;
  }

  /** True when that was the owner's last listener. */
  remove(owner: string, listener: ChannelListener): boolean {
    const set = this.#byOwner.get(owner);
    if (!set?.delete(listener) || set.size > 0) return false;
    this.#byOwner.delete(owner);
    return true;
  }

  owners(): string[] {
    return [...this.#byOwner.keys()];
  }

  deliver(owner: string, message: string): number {
    const set = this.#byOwner.get(owner);
    if (!set) return 0;
    // A copy: a listener may unsubscribe (its socket closed) while this runs.
    for (const listener of [...set]) listener(message);
    return set.size;
  }
}

export class MemoryOwnerChannels implements OwnerChannels {
  readonly #listeners = new Listeners();

  subscribe(owner: string, listener: ChannelListener): () => void {
    this.#listeners.add(owner, listener);
    return () => void this.#listeners.remove(owner, listener);
  }

  async publish(owner: string, message: string): Promise<number> {
    return this.#listeners.deliver(owner, message);
  }

  async close(): Promise<void> {}
}

export class RedisOwnerChannels implements OwnerChannels {
  readonly #publisher: Redis;
  readonly #subscriber: Redis;
  readonly #listeners = new Listeners();
  readonly #prefix: string;
  #warned = false;

  constructor(
    redis: RedisHandle,
    private readonly logger: Pick<BaseLogger, 'warn'>,
  ) {
    this.#publisher = redis.client;
    this.#prefix = `${redis.client.options.keyPrefix ?? ''}ws:owner:`;
    // A connection of its own (a subscribed one can do nothing else), queueing its SUBSCRIBEs while it reconnects
    // for as long as that takes (maxRetriesPerRequest null: the client's 1 would drop them after one failed retry).
    this.#subscriber = redis.client.duplicate({
      enableOfflineQueue: true,
      lazyConnect: false,
      maxRetriesPerRequest: null,
    });
    this.#subscriber.on('error', () => undefined);
    // ioredis subscribes again after a reconnection only to the channels it had subscribed; an owner whose SUBSCRIBE
    // failed meanwhile would be left out for good. Subscribing every owner with listeners again is harmless.
    this.#subscriber.on('ready', () => {
      this.#warned = false;
      const channels = this.#listeners.owners().map((owner) => this.#prefix + owner);
      if (channels.length > 0) this.#command(this.#subscriber.subscribe(...channels));
    });
    this.#subscriber.on('message', (channel: string, message: string) => {
      if (channel.startsWith(this.#prefix))
        this.#listeners.deliver(channel.slice(this.#prefix.length), message);
    });
  }

  subscribe(owner: string, listener: ChannelListener): () => void {
    if (this.#listeners.add(owner, listener)) this.#command(this.#subscriber.subscribe(this.#prefix + owner));
    return () => {
      if (this.#listeners.remove(owner, listener))
        this.#command(this.#subscriber.unsubscribe(this.#prefix + owner));
    };
  }

  async publish(owner: string, message: string): Promise<number> {
    try {
      return await this.#publisher.publish(this.#prefix + owner, message);
    } catch (error) {
      this.#warn(error);
      return 0;
    }
  }

  async close(): Promise<void> {
    this.#subscriber.disconnect();
  }

  #command(call: Promise<unknown>): void {
    call.catch((error: unknown) => this.#warn(error));
  }

  #warn(error: unknown): void {
    if (this.#warned) return;
    this.#warned = true;
    this.logger.warn(
      { err: error },
      'Redis pub/sub failed: chat events may not reach sockets of the same owner on other instances',
    );
  }
}

export function createOwnerChannels(
  redis: RedisHandle | undefined,
  logger: Pick<BaseLogger, 'warn'>,
): OwnerChannels {
  return redis ? new RedisOwnerChannels(redis, logger) : new MemoryOwnerChannels();
}
