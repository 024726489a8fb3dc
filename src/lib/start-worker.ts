// Starting a worker thread from a module next to the caller, in the built server (.js) and from the sources (.ts).
// Node 20 does not apply the loader hooks of a worker's `--import tsx` (execArgv, or inherited) to the worker's own
// entry ("Unknown file extension .ts"), so for .ts the thread starts from a small bootstrap that registers tsx's hooks
// in the thread, then imports the entry. tsx is a devDependency: the built server never loads it.
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * A Worker running `name` (without extension) from the folder of `callerUrl` (the caller's import.meta.url), with
 * the caller's own extension: .ts under tsx and vitest, which run the sources, .js once built.
 */
export function startWorker(callerUrl: string, name: string, options: WorkerOptions): Worker {
  const source = callerUrl.endsWith('.ts');
  const url = new URL(`./${name}${source ? '.ts' : '.js'}`, callerUrl);
  if (!source) return new Worker(url, options);
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const entry = JSON.stringify(url.href);
  const bootstrap = `import(${tsx}).then(({ register }) => { register(); return import(${entry}); });`;
  return new Worker(bootstrap, { ...options, eval: true });
}
