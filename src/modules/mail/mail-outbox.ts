// The mail outbox: a mail is a row written in the transaction of the change that sends it, so that it exists exactly
// when the change does; a loop in every instance then delivers due rows, retrying with exponential backoff, so an
// SMTP outage delays mail instead of failing the request that sent it.
import type { BaseLogger } from 'pino';
import type { Config } from '../../config.js';
import type { Clock } from '../../lib/clock.js';
import type { Tx } from '../../platform/db/transactions.js';
import type { OutgoingMail } from './mail.types.js';
import type { Mailer } from './mailer.js';
import type { ClaimedMail, OutboxRepository } from './outbox.repository.js';

const MAX_RETRY_DELAY_MS = 60 * 60 * 1000;
const MIN_LEASE_MS = 60_000;
/** How long stop() waits for a delivery in flight before closing the mailer under it. */
const STOP_WAIT_MS = 10_000;
/** last_error keeps the SMTP reply, which is short; a long one is cut. */
const MAX_ERROR_LENGTH = 1000;

/** Delay before the next try after `attempts` failed ones: base, 2×base, 4×base, …, at most one hour. */
export function retryDelayMs(attempts: number, baseMs: number): number {
  return Math.min(baseMs * 2 ** Math.max(0, attempts - 1), MAX_RETRY_DELAY_MS);
}

/** Hooks for the prom-client counters, which belong to the composition root. */
export interface MailOutboxMetrics {
  onDelivered?: () => void;
  /** `final`: the mail will not be tried again (status 'failed'). */
  onAttemptFailed?: (final: boolean) => void;
}

/** The part of a pino logger the outbox uses (Fastify's app.log or a pino Logger). */
export type MailOutboxLogger = Pick<BaseLogger, 'debug' | 'info' | 'warn' | 'error'>;

export interface MailOutboxDeps {
  repository: OutboxRepository;
  /** Undefined without SMTP_HOST: mail then stays pending in the outbox and enqueue() logs its link. */
  mailer: Mailer | undefined;
  clock: Clock;
  logger: MailOutboxLogger;
  options: Config['mail']['outbox'];
  /** SMTP_TIMEOUT_MS, the bound of each step of a send: sizes the lease a sender holds on the mail it sends. */
  sendTimeoutMs?: number;
  metrics?: MailOutboxMetrics;
}

export class MailOutbox {
  readonly #deps: MailOutboxDeps;
  readonly #leaseMs: number;
  #timer: NodeJS.Timeout | undefined;
  /** The delivery loop in flight, if any: at most one per process. */
  #running: Promise<void> | undefined;
  /** A wake arrived since the running pass began: run another when it ends (the new mail may have been missed). */
  #wanted = false;
  #stopping = false;

  constructor(deps: MailOutboxDeps) {
    this.#deps = deps;
    // A send may take the timeout to connect, again for the greeting and again for each reply. The lease must
    // outlast a slow but live send, or another instance would take the mail over and send it a second time.
    this.#leaseMs = Math.max(MIN_LEASE_MS, 3 * (deps.sendTimeoutMs ?? 0));
  }

  /** Writes the mail in the caller's transaction `tx`; call wake() once that transaction has committed. */
  async enqueue(mail: OutgoingMail, tx: Tx): Promise<number> {
    const id = await this.#deps.repository.enqueue(mail, this.#deps.clock.now(), tx);
    if (!this.#deps.mailer) {
      // Development without SMTP: the link is the only way to finish the flow, so it is logged (and only then).
      this.#deps.logger.info(
        { mailId: id, to: mail.to, subject: mail.subject, link: mail.devLink },
        'SMTP_HOST is unset: mail kept in the outbox',
      );
    }
    return id;
  }

  /** Delivers due mail soon. Wakes coalesce: one loop per process, which runs once more if woken meanwhile. */
  wake(): void {
    if (!this.#deps.mailer || this.#stopping) return;
    this.#wanted = true;
    this.#running ??= this.#drain();
  }

  /** Delivers what is due now (joining the loop in flight) and resolves when done; never rejects. */
  async deliverDue(): Promise<void> {
    this.wake();
    await this.#running;
  }

  /** Polls for due mail every OUTBOX_POLL_MS (retries, and mail other instances enqueued), from now. */
  start(): void {
    if (!this.#deps.mailer) {
      this.#deps.logger.info(
        'SMTP_HOST is unset: outgoing mail stays in the outbox table and its links are logged',
      );
      return;
    }
    if (this.#timer || this.#stopping) return;
    this.#timer = setInterval(() => this.wake(), this.#deps.options.pollMs);
    // The poll alone must not keep a process alive that has nothing else to do.
    this.#timer.unref();
    this.wake();
  }

  /** Stops polling, lets a delivery in flight finish (for a bounded time), then closes the mailer. */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    const inFlight = this.#running;
    if (inFlight) {
      let timeout: NodeJS.Timeout | undefined;
      const finished = await Promise.race([
        inFlight.then(() => true),
        new Promise<false>((resolve) => {
          timeout = setTimeout(() => resolve(false), STOP_WAIT_MS);
        }),
      ]);
      clearTimeout(timeout);
      if (!finished)
        this.#deps.logger.warn(
          'a mail delivery was still in flight at shutdown; the mail is tried again later',
        );
    }
    this.#deps.mailer?.close();
  }

  async #drain(): Promise<void> {
    try {
      // Let the other wakes of this tick (several mails of one request) join this pass.
      await new Promise((resolve) => setImmediate(resolve));
      while (this.#wanted && !this.#stopping) {
        this.#wanted = false;
        await this.#pass();
      }
    } catch (error) {
      // The database is unreachable, most likely: the next poll tries again. Never an unhandled rejection.
      this.#deps.logger.error({ err: error }, 'mail delivery pass failed; retrying at the next poll');
    } finally {
      this.#running = undefined;
    }
  }

  /**
   * Claims and sends due mail one at a time until none is due: each lease then covers a single send, however many
   * mails are waiting, and instances passing at once share the work row by row.
   */
  async #pass(): Promise<void> {
    const { repository, clock, mailer } = this.#deps;
    if (!mailer) return;
    while (!this.#stopping) {
      const claimed = await repository.claimDue(clock.now(), 1, this.#leaseMs);
      if (claimed.length === 0) return;
      for (const mail of claimed) if (!(await this.#deliver(mailer, mail))) return;
    }
  }

  /** Sends one claimed mail and records the outcome; false when the pass should end (the database failed). */
  async #deliver(mailer: Mailer, mail: ClaimedMail): Promise<boolean> {
    const { repository, clock, logger, metrics } = this.#deps;
    try {
      await mailer.send({
        to: mail.to,
        subject: mail.subject,
        text: mail.text,
        html: mail.html,
        headers: mail.headers,
      });
    } catch (error) {
      await this.#recordFailure(mail, error);
      return true;
    }
    metrics?.onDelivered?.();
    try {
      await repository.markSent(mail.id, clock.now());
    } catch (error) {
      // The one way a mail goes out twice: the server took it, the table does not know, and the mail is sent again
      // when its lease expires. No outbox can avoid it (the send and the write are not one transaction); say so.
      logger.error(
        { err: error, mailId: mail.id, kind: mail.kind },
        'mail sent but not marked sent; it will be sent again when its lease expires',
      );
      return false;
    }
    logger.debug({ mailId: mail.id, kind: mail.kind }, 'mail sent');
    return true;
  }

  async #recordFailure(mail: ClaimedMail, error: unknown): Promise<void> {
    const { repository, clock, logger, options, metrics } = this.#deps;
    const attempts = mail.attempts + 1;
    const reason = describeError(error);
    const final = attempts >= options.maxAttempts;
    const retryAt = new Date(clock.now().getTime() + retryDelayMs(attempts, options.retryBaseMs));
    const recorded = final
      ? await repository.markFailed(mail, attempts, reason)
      : await repository.markRetry(mail, attempts, retryAt, reason);
    if (!recorded) {
      logger.warn(
        { mailId: mail.id, kind: mail.kind, reason },
        'mail delivery failed after its lease expired',
      );
      return;
    }
    metrics?.onAttemptFailed?.(final);
    if (final) {
      logger.error(
        { mailId: mail.id, kind: mail.kind, to: mail.to, attempts, reason },
        'mail delivery failed for good; kept in the outbox as failed',
      );
    } else {
      logger.warn(
        { mailId: mail.id, kind: mail.kind, attempts, retryAt, reason },
        'mail delivery failed; will retry',
      );
    }
  }
}

function describeError(error: unknown): string {
  const text = error instanceof Error ? error.message || error.name : String(error);
  return text.length > MAX_ERROR_LENGTH ? `${text.slice(0, MAX_ERROR_LENGTH)}…` : text;
}
