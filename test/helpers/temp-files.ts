// Files in fresh temporary folders, for tests that need a real path (an SQLite file…); removeTempFiles() (call it in
// afterEach) removes every folder handed out since its last call.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const folders: string[] = [];

/** The path of `name` in a new empty temporary folder (the file itself is not created). */
export function tempFile(name: string): string {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'sutazai-test-'));
  folders.push(folder);
  return path.join(folder, name);
}

export function removeTempFiles(): void {
  for (const folder of folders.splice(0)) fs.rmSync(folder, { recursive: true, force: true });
}
