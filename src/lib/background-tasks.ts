// Work a request starts and does not wait for: it begins after the answer has gone out, its failure is logged (never
// an unhandled rejection), and the app's close waits for what is still running, so nothing is cut off by a shutdown.

/** The part of a pino logger this uses. */
export interface TaskLogger {
  error(details: object, message: string): void;
}

export class BackgroundTasks {
  readonly #running = new Set<Promise<void>>();

  constructor(private readonly logger: TaskLogger) {}

  /**
   * Runs `work` on a later turn of the event loop: the request that asked for it has answered by then (its reply is
   * written within the current turn), so nothing the work does can change the answer or when it goes out.
   */
  run(name: string, work: () => Promise<void>): void {
    const task = new Promise<void>((resolve) => setImmediate(resolve))
      .then(work)
      .catch((error: unknown) => this.logger.error({ err: error, task: name }, `${name} failed`))
      .finally(() => this.#running.delete(task));
    this.#running.add(task);
  }

  /** Resolves when every task started so far, and any they started meanwhile, has ended. Never rejects. */
  async settled(): Promise<void> {
    while (this.#running.size > 0) await Promise.all(this.#running);
  }
}
