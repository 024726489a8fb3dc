// The port every outside service's health check is behind: one call that resolves when the service answered as it
// should and rejects (with a ProbeFailure, or the client's own error) when it did not.

/** The services of the original's health map, in its order, and the database itself. */
export const SERVICE_NAMES = [
  'database',
  'redis',
  'rabbitmq',
  'neo4j',
  'chromadb',
  'qdrant',
  'faiss',
  'consul',
  'kong',
  'ollama',
] as const;

export type ServiceName = (typeof SERVICE_NAMES)[number];

export function isServiceName(name: string): name is ServiceName {
  return (SERVICE_NAMES as readonly string[]).includes(name);
}

export interface ServiceProbe {
  /** Resolves when the service answered well; `signal` aborts when the probe's time is up. */
  check(signal: AbortSignal): Promise<void>;
  /** Releases what the probe keeps open between rounds (a connection, a driver). */
  close?(): Promise<void>;
}

/** A service that answered, but not as it should: the message is the reason shown (no URL, no secret). */
export class ProbeFailure extends Error {
  override name = 'ProbeFailure';
}
