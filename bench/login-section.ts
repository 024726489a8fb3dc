// The login section of `npm run bench`: how close our server's logins/s come to what bcrypt alone allows on this
// machine. A login is one bcrypt.compare on libuv's thread pool plus a few SQLite queries and two JWT signatures,
// so the ceiling is bcrypt.compare itself, at the same cost, pool size and concurrency, measured by a child process
// in the same rounds (interleaved, the first of the two alternating) so that machine drift hits both alike.
import type { BenchSettings } from './bench-settings.js';
import { renderLoginSection } from './login-report.js';
import { measureCeiling, type CeilingShape } from './measure-ceiling.js';
import type { Measurement } from './measure-load.js';
import { measureLogins, registerAccount, type BenchAccount } from './measure-login.js';
import type { RunningServer, ServerSpec } from './server-process.js';
import { loginServerSpec } from './servers-under-test.js';

export const LOGIN_TARGET_RATIO = 0.9;

/** Passes the password policy (src/modules/auth/password-policy.ts); the ceiling compares the same password. */
const ACCOUNT: BenchAccount = {
  email: 'bench-login@example.com',
  username: 'bench_login',
  password: 'Bench-login-Passw0rd!',
};

function describe(m: Measurement): string {
  return `${m.requestsPerSecond.toFixed(1)}/s, p50 ${Math.round(m.p50Ms)} ms, p99 ${Math.round(m.p99Ms)} ms (${m.requests} in the window)`;
}

/** Runs the section and returns its Markdown; `start` starts a server the caller stops (and reaps on failure). */
export async function runLoginSection(
  settings: BenchSettings,
  workDir: string,
  start: (spec: ServerSpec) => Promise<RunningServer>,
): Promise<string> {
  const seconds = settings.loginDurationSeconds;
  const shape: CeilingShape = {
    bcryptRounds: settings.bcryptRounds,
    threadPoolSize: settings.threadPoolSize,
    concurrency: settings.loginConnections,
    seconds,
    password: ACCOUNT.password,
  };
  const server = await start(loginServerSpec(workDir, settings));
  await registerAccount(server.url, ACCOUNT);

  const logins = async (duration: number) => {
    const m = await measureLogins(server.url, ACCOUNT, settings.loginConnections, duration);
    if (server.exited())
      throw new Error(`${server.name} exited during the measurement (log: ${server.logFile})`);
    return m;
  };
  console.error(`warming up ${server.name} for ${settings.warmupSeconds} s…`);
  await logins(settings.warmupSeconds);

  const ceiling: Measurement[] = [];
  const measured: Measurement[] = [];
  const steps = [
    { label: 'bcrypt.compare ceiling', run: () => measureCeiling(shape), into: ceiling },
    { label: server.name, run: () => logins(seconds), into: measured },
  ];
  for (let round = 1; round <= settings.rounds; round += 1) {
    for (const step of round % 2 === 1 ? steps : [...steps].reverse()) {
      const m = await step.run();
      step.into.push(m);
      console.error(`login round ${round}/${settings.rounds}  ${step.label}: ${describe(m)}`);
    }
  }

  return renderLoginSection({
    ceiling,
    logins: measured,
    serverName: server.name,
    targetRatio: LOGIN_TARGET_RATIO,
    bcryptRounds: settings.bcryptRounds,
    threadPoolSize: settings.threadPoolSize,
    connections: settings.loginConnections,
    durationSeconds: seconds,
    warmupSeconds: settings.warmupSeconds,
  });
}
