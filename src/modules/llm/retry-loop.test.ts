// The retry loop: which failures it tries again and how often, and a client who leaves during a backoff.
import { ConstantBackoff } from 'cockatiel';
import { describe, expect, it } from 'vitest';
import { LlmUnavailableError, LlmUpstreamError, ModelNotFoundError } from './llm.errors.js';
import { RetryLoop } from './retry-loop.js';

/** An attempt that fails with the next error given, and answers 'ok' once they are used up. */
function attempts(...errors: Error[]) {
  let calls = 0;
  const attempt = async () => {
    const error = errors[calls++];
    if (error) throw error;
    return 'ok';
  };
  return { attempt, calls: () => calls };
}

function loop(attempts: number, backoffMs = 0) {
  let retries = 0;
  const retry = new RetryLoop({
    attempts,
    baseMs: backoffMs,
    onRetry: () => retries++,
    backoff: new ConstantBackoff(backoffMs),
  });
  return { retry, retries: () => retries };
}

const unreachable = () => new LlmUnavailableError('fake');

describe('RetryLoop', () => {
  it('tries retryable failures again, up to `attempts` calls in all, and throws the last error', async () => {
    const { retry, retries } = loop(3);
    const recovering = attempts(unreachable(), new LlmUpstreamError(503, 'fake'));
    expect(await retry.run(recovering.attempt, undefined)).toBe('ok');
    expect([recovering.calls(), retries()]).toEqual([3, 2]);

    const last = new LlmUpstreamError(502, 'fake');
    const down = attempts(unreachable(), unreachable(), last, unreachable());
    await expect(retry.run(down.attempt, undefined)).rejects.toBe(last);
    expect([down.calls(), retries()]).toEqual([3, 4]);
  });

  it('never tries again an error that is not retryable, nor anything with one attempt', async () => {
    const { retry } = loop(5);
    for (const error of [
      new ModelNotFoundError('nope'),
      new LlmUpstreamError(400, 'fake'),
      new TypeError('x'),
    ]) {
      const once = attempts(error);
      await expect(retry.run(once.attempt, undefined)).rejects.toBe(error);
      expect(once.calls()).toBe(1);
    }
    const single = attempts(unreachable());
    await expect(loop(1).retry.run(single.attempt, undefined)).rejects.toBeInstanceOf(LlmUnavailableError);
    expect(single.calls()).toBe(1);
  });

  it('ends a backoff at once when the signal aborts, with its reason, and tries nothing more', async () => {
    // An hour's backoff: this test ends in time only if the abort ends the wait.
    let began = () => {};
    const waiting = new Promise<void>((resolve) => (began = resolve));
    const retry = new RetryLoop({
      attempts: 3,
      baseMs: 3_600_000,
      onRetry: () => began(),
      backoff: new ConstantBackoff(3_600_000),
    });
    const client = new AbortController();
    const down = attempts(unreachable(), unreachable());
    const running = retry.run(down.attempt, client.signal);
    await waiting;
    const reason = new Error('the client left');
    client.abort(reason);
    await expect(running).rejects.toBe(reason);
    expect(down.calls()).toBe(1);
  });

  it('does not try again an attempt that failed once the signal had aborted', async () => {
    const { retry, retries } = loop(3);
    const client = new AbortController();
    const failure = unreachable();
    const attempt = async () => {
      client.abort();
      throw failure;
    };
    await expect(retry.run(attempt, client.signal)).rejects.toBe(failure);
    expect(retries()).toBe(0);
  });
});
