// The LLM of the chat benchmark, in a process of its own: the test stand-in (test/helpers/llm-stand-in.ts, the real
// Ollama wire protocol) answering every generation with the same tokens, no delay. The stand-in plays scripted replies
// in order, so this keeps its queue topped up well ahead of the requests; a request it did not expect still shows up
// in the summary. Started by bench/llm-stand-in-process.ts:
//   argv[2]  the reply's tokens, as a JSON array of strings
//   stdout   one JSON line {"url"} once listening; one JSON line, the summary, once stdin ends (then it exits)
// Stdin ending is also how it notices that the benchmark died, however it died: it never outlives it.
import { startLlmStandIn, type ScriptedReply } from '../test/helpers/llm-stand-in.js';

/** Replies queued ahead of the requests received: far more than the benchmark ever has in flight. */
const AHEAD = 4_000;
/** Top the queue up again after this many more requests. */
const REFILL_EVERY = 1_000;
/** setTimeout's largest delay: the refill waits have no deadline of their own. */
const NO_DEADLINE_MS = 2 ** 31 - 1;

export interface StandInSummary {
  requests: number;
  /** POST /api/chat requests. */
  generations: number;
  /** Requests whose connection closed before the answer was complete. */
  aborted: number;
  /** What the stand-in flagged: anything but a well-formed chat for a known model, and unknown paths. */
  unexpected: string[];
}

function readTokens(raw: string | undefined): string[] {
  const parsed: unknown = JSON.parse(raw ?? 'null');
  if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((t) => typeof t === 'string')) {
    throw new Error('argv[2] must be a JSON array of strings (the reply tokens)');
  }
  return parsed;
}

async function main(): Promise<void> {
  const reply: ScriptedReply = { tokens: readTokens(process.argv[2]) };
  const standIn = await startLlmStandIn();

  let queued = 0;
  const refill = () => {
    const wanted = standIn.requests.length + AHEAD;
    if (wanted > queued) {
      standIn.reply(...Array.from({ length: wanted - queued }, () => reply));
      queued = wanted;
    }
    void standIn.waitForRequests(standIn.requests.length + REFILL_EVERY, NO_DEADLINE_MS).then(refill);
  };
  refill();

  process.stdin.resume();
  process.stdin.once('end', () => {
    const summary: StandInSummary = {
      requests: standIn.requests.length,
      generations: standIn.requests.filter((r) => r.method === 'POST' && r.path === '/api/chat').length,
      aborted: standIn.requests.filter((r) => r.aborted).length,
      unexpected: standIn.unexpected(),
    };
    process.stdout.write(`${JSON.stringify(summary)}\n`, () => {
      void standIn.close().finally(() => process.exit(0));
    });
  });
  process.stdout.write(`${JSON.stringify({ url: standIn.url })}\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
