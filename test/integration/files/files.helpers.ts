// Shared by the files suites: a user with a token, and the routes called through app.inject.
import fs from 'node:fs';
import path from 'node:path';
import type { App } from '../../../src/app.js';
import { bearer, registerAndLogin } from '../../helpers/auth.js';
import { fileBody, multipartBody, type MultipartBody, type Part } from '../../helpers/multipart.js';

export interface Uploaded {
  file_id: string;
  id: string;
  filename: string;
  original_filename: string;
  size: number;
  mime_type: string;
  sha256: string;
  upload_time: string;
  message: string;
  index_status: string | null;
}

export interface ListedFile {
  file_id: string;
  filename: string;
  size: number;
  upload_time: string;
  mime_type: string;
  sha256: string;
  index_status: string | null;
  index_error: string | null;
  index_progress: number;
  index_chunks: number | null;
}

export interface FileListBody {
  files: ListedFile[];
  count: number;
  total_size: number;
  total: number;
  skip: number;
  limit: number;
  has_more: boolean;
  page: number;
  total_pages: number;
  next_cursor: string | null;
}

export interface Caller {
  id: number;
  token: string;
}

export async function newCaller(app: App): Promise<Caller> {
  const { user, tokens } = await registerAndLogin(app);
  return { id: user.id, token: tokens.access_token };
}

export function postBody(app: App, token: string | undefined, body: MultipartBody) {
  return app.inject({
    method: 'POST',
    url: '/api/v1/files/upload',
    headers: { ...(token === undefined ? {} : bearer(token)), 'content-type': body.contentType },
    payload: body.body,
  });
}

export function upload(app: App, token: string, filename: string, content: Buffer | string) {
  return postBody(app, token, fileBody(filename, content));
}

export function uploadParts(app: App, token: string, parts: Part[]) {
  return postBody(app, token, multipartBody(parts));
}

/** Uploads and expects a 200: the answer's body. */
export async function uploaded(app: App, token: string, filename: string, content: Buffer | string) {
  const response = await upload(app, token, filename, content);
  if (response.statusCode !== 200)
    throw new Error(`upload of ${filename}: ${response.statusCode} ${response.body}`);
  return response.json<Uploaded>();
}

export function get(app: App, token: string | undefined, url: string, headers: Record<string, string> = {}) {
  return app.inject({
    method: 'GET',
    url,
    headers: { ...(token === undefined ? {} : bearer(token)), ...headers },
  });
}

export function remove(app: App, token: string, ref: string) {
  return app.inject({
    method: 'DELETE',
    url: `/api/v1/files/delete/${encodeURIComponent(ref)}`,
    headers: bearer(token),
  });
}

export async function list(app: App, token: string, query = ''): Promise<FileListBody> {
  const response = await get(app, token, `/api/v1/files/list${query}`);
  if (response.statusCode !== 200) throw new Error(`list: ${response.statusCode} ${response.body}`);
  return response.json<FileListBody>();
}

/** Every entry of the files folder, `.incoming/` ones as `.incoming/<name>`. */
export function filesOnDisk(dir: string): string[] {
  const incoming = path.join(dir, '.incoming');
  return [
    ...fs.readdirSync(dir).filter((name) => name !== '.incoming'),
    ...(fs.existsSync(incoming) ? fs.readdirSync(incoming).map((name) => `.incoming/${name}`) : []),
  ].sort();
}

export async function rowCount(app: App): Promise<number> {
  const row = await app.database.db
    .selectFrom('files')
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The first bytes of a 64-bit ELF executable (the rest does not matter to detection). */
export function elfBytes(): Buffer {
  const bytes = Buffer.alloc(256);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]).copy(bytes);
  bytes.writeUInt16LE(2, 16); // ET_EXEC
  bytes.writeUInt16LE(0x3e, 18); // x86-64
  return bytes;
}

/** A DOS/Windows executable: MZ, and a PE header where e_lfanew points. */
export function exeBytes(): Buffer {
  const bytes = Buffer.alloc(512);
  bytes.write('MZ', 0, 'latin1');
  bytes.writeUInt32LE(0x80, 0x3c);
  bytes.write('PE\0\0', 0x80, 'latin1');
  return bytes;
}

/** A small PDF (file-type knows it by its header; the binary comment line makes it non-text). */
export function pdfBytes(): Buffer {
  return Buffer.concat([
    Buffer.from('%PDF-1.4\n%\u00e2\u00e3\u00cf\u00d3\n', 'latin1'),
    Buffer.from('1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n'),
  ]);
}

/** Polls `check` until it holds, or fails after `ms`. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  what: string,
  ms = 10_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`still not true after ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** files_uploads_total{outcome} so far. */
export async function uploadsCounted(app: App, outcome: string): Promise<number> {
  const metric = app.metrics.registry.getSingleMetric('files_uploads_total');
  const values = metric ? (await metric.get()).values : [];
  return values
    .filter((value) => value.labels.outcome === outcome)
    .reduce((sum, value) => sum + value.value, 0);
}
