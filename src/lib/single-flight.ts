// One run of `work` at a time: callers that arrive while it runs get that run's promise instead of starting another.

export function singleFlight<T>(work: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | undefined;
  return () =>
    (running ??= work().finally(() => {
      running = undefined;
    }));
}
