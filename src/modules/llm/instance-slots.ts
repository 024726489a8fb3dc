// LLM_MAX_CONCURRENT generations per process, LLM_QUEUE_SIZE more waiting in order, and the abort error a waiter
// whose client left is rejected with.
import { LlmBusyError } from './llm.errors.js';

export function abortError(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason : new DOMException('The operation was aborted', 'AbortError');
}

/**
 * LLM_MAX_CONCURRENT slots with LLM_QUEUE_SIZE waiters in order. Not cockatiel's bulkhead: in 3.2.1 an aborted
 * waiter keeps its place in the queue until its turn, and when its turn comes the free slot is not handed on, so
 * the waiters behind it stall while a slot stays free.
 */
export class InstanceSlots {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly capacity: number,
    private readonly queueCapacity: number,
    private readonly changed: (active: number, queued: number) => void,
  ) {}

  /** Slots in use and waiters now. */
  usage(): { active: number; queued: number } {
    return { active: this.active, queued: this.waiting.length };
  }

  /** Resolves with the function that gives the slot back (idempotent). */
  acquire(signal?: AbortSignal): Promise<() => void> {
    // A client already gone would wait for an abort event that has been and gone.
    if (signal?.aborted) return Promise.reject(abortError(signal));
    if (this.active < this.capacity) {
      this.active++;
      this.changed(this.active, this.waiting.length);
      return Promise.resolve(this.releaser());
    }
    if (this.waiting.length >= this.queueCapacity) return Promise.reject(new LlmBusyError());
    return new Promise((resolve, reject) => {
      const grant = () => {
        signal?.removeEventListener('abort', leave);
        resolve(this.releaser());
      };
      // A waiter whose client left gives its place up at once.
      const leave = () => {
        const place = this.waiting.indexOf(grant);
        if (place >= 0) this.waiting.splice(place, 1);
        this.changed(this.active, this.waiting.length);
        reject(abortError(signal));
      };
      this.waiting.push(grant);
      signal?.addEventListener('abort', leave, { once: true });
      this.changed(this.active, this.waiting.length);
    });
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      // The slot passes straight to the first waiter, so a newcomer cannot overtake the queue.
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
      this.changed(this.active, this.waiting.length);
    };
  }
}
