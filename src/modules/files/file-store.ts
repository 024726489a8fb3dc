// The files on disk: <dir>/<id> for a stored file, <dir>/.incoming/<id> while it arrives (the same filesystem, so
// that storing it is a rename). Nothing a client sends is ever part of a path: only ids this server generated.
import fs from 'node:fs/promises';
import path from 'node:path';

const INCOMING = '.incoming';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export class FileStore {
  readonly dir: string;
  readonly incomingDir: string;

  constructor(dir: string) {
    this.dir = path.resolve(dir);
    this.incomingDir = path.join(this.dir, INCOMING);
  }

  static isId(value: string): boolean {
    return UUID.test(value);
  }

  pathOf(id: string): string {
    if (!FileStore.isId(id)) throw new Error(`not a file id: ${JSON.stringify(id)}`);
    return path.join(this.dir, id);
  }

  incomingPathOf(id: string): string {
    if (!FileStore.isId(id)) throw new Error(`not a file id: ${JSON.stringify(id)}`);
    return path.join(this.incomingDir, id);
  }

  /** mkdir -p, owner-only (the mode applies to the folders this creates). */
  async prepare(): Promise<void> {
    await fs.mkdir(this.incomingDir, { recursive: true, mode: 0o700 });
  }

  /** Removes a file; one that is not there is not an error. */
  async remove(file: string): Promise<void> {
    await fs.rm(file, { force: true });
  }

  /** Temporary files not written to since `before`: uploads a crash or a lost process left behind. */
  async staleIncoming(before: Date): Promise<string[]> {
    return this.#olderThan(this.incomingDir, before, () => true);
  }

  /** Stored files (id-named) last changed before `before`, by id. */
  async storedIdsOlderThan(before: Date): Promise<string[]> {
    const files = await this.#olderThan(this.dir, before, (name) => FileStore.isId(name));
    return files.map((file) => path.basename(file));
  }

  async #olderThan(dir: string, before: Date, keep: (name: string) => boolean): Promise<string[]> {
    const entries = await fs.readdir(dir, { withFileTypes: true });
    const found: string[] = [];
    for (const entry of entries) {
      if (!entry.isFile() || !keep(entry.name)) continue;
      const file = path.join(dir, entry.name);
      const stat = await fs.stat(file).catch(() => undefined);
      if (stat && stat.mtimeMs < before.getTime()) found.push(file);
    }
    return found;
  }
}
