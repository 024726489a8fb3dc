// A full garbage collection in another Node.js process, through its inspector (started with
// --inspect=127.0.0.1:<port>): HeapProfiler.collectGarbage over the Chrome DevTools protocol. Memory figures read
// right after one compare live objects, not how much garbage happened to be waiting for the next collection.
import WebSocket from 'ws';

const TIMEOUT_MS = 30_000;

export function inspectArg(port: number): string {
  return `--inspect=127.0.0.1:${port}`;
}

export async function collectGarbage(port: number): Promise<void> {
  const response = await fetch(`http://127.0.0.1:${port}/json/list`);
  const targets = (await response.json()) as { webSocketDebuggerUrl?: string }[];
  const url = targets[0]?.webSocketDebuggerUrl;
  if (!url) throw new Error(`the inspector on port ${port} lists no target`);
  const ws = new WebSocket(url);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('HeapProfiler.collectGarbage timed out')), TIMEOUT_MS);
      ws.once('error', reject);
      ws.once('open', () => ws.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' })));
      ws.on('message', (data) => {
        const text = Buffer.isBuffer(data) ? data.toString('utf8') : '';
        const reply = JSON.parse(text) as { id?: number; error?: { message?: string } };
        if (reply.id !== 1) return;
        clearTimeout(timer);
        if (reply.error) reject(new Error(`HeapProfiler.collectGarbage: ${reply.error.message ?? text}`));
        else resolve();
      });
    });
  } finally {
    ws.terminate();
  }
}
