// An upload's type comes from its content, on both dialects: binary formats by their signature (file-type), text by
// being valid UTF-8 without NUL, its subtype by the name among text types only; executables, HTML, SVG and script are
// refused whatever their name, and a refused upload leaves neither a file nor a row.
import { gzipSync } from 'node:zlib';
import JSZip from 'jszip';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { describeEachDialect } from '../../helpers/dialects.js';
import {
  elfBytes,
  exeBytes,
  filesOnDisk,
  newCaller,
  pdfBytes,
  rowCount,
  upload,
  type Caller,
  type Uploaded,
} from './files.helpers.js';

const DOCX = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';
const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

async function officeFile(kind: 'docx' | 'xlsx'): Promise<Buffer> {
  const zip = new JSZip();
  const [part, main] =
    kind === 'docx'
      ? ['/word/document.xml', `${DOCX}.main+xml`]
      : ['/xl/workbook.xml', 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml'];
  zip.file(
    '[Content_Types].xml',
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">' +
      '<Default Extension="xml" ContentType="application/xml"/>' +
      `<Override PartName="${part}" ContentType="${main}"/></Types>`,
  );
  zip.file('_rels/.rels', '<?xml version="1.0"?><Relationships/>');
  zip.file(part.slice(1), '<?xml version="1.0"?><root/>');
  return zip.generateAsync({ type: 'nodebuffer' });
}

/** A Compound File Binary container (512-byte sectors) whose directory holds a Root Entry and `stream`. */
function cfbFile(stream: string): Buffer {
  const bytes = Buffer.alloc(512 * 3, 0);
  Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]).copy(bytes);
  bytes.writeUInt16LE(0x3e, 0x18);
  bytes.writeUInt16LE(3, 0x1a);
  bytes.writeUInt16LE(0xfffe, 0x1c);
  bytes.writeUInt16LE(9, 0x1e);
  bytes.writeUInt16LE(6, 0x20);
  bytes.writeUInt32LE(1, 0x2c); // one FAT sector
  bytes.writeUInt32LE(1, 0x30); // the directory starts at sector 1
  bytes.writeUInt32LE(4096, 0x38);
  bytes.writeUInt32LE(0xfffffffe, 0x3c);
  bytes.fill(0xff, 0x4c, 512); // DIFAT: free…
  bytes.writeUInt32LE(0, 0x4c); // …but the first FAT sector is sector 0
  // Sector 0, the FAT: sector 0 is a FAT sector, sector 1 (the directory) ends its chain.
  bytes.fill(0xff, 512, 1024);
  bytes.writeUInt32LE(0xfffffffd, 512);
  bytes.writeUInt32LE(0xfffffffe, 516);
  const entry = (at: number, name: string, type: number) => {
    bytes.write(name, at, 'utf16le');
    bytes.writeUInt16LE((name.length + 1) * 2, at + 0x40);
    bytes[at + 0x42] = type;
  };
  entry(1024, 'Root Entry', 5);
  entry(1024 + 128, stream, 2);
  return bytes;
}

function tarFile(): Buffer {
  const header = Buffer.alloc(512, 0);
  header.write('hello.txt', 0);
  header.write('0000644\0', 100);
  header.write('00000000005\0', 124);
  header.write('ustar\0', 257);
  header.write('00', 263);
  return Buffer.concat([header, Buffer.from('hello'), Buffer.alloc(1024 - 5 + 512, 0)]);
}

const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=',
  'base64',
);

describeEachDialect('file types', (dialect) => {
  let t: TestApp;
  let user: Caller;

  beforeAll(async () => {
    t = await buildTestApp({ dialect });
    user = await newCaller(t.app);
  });
  afterAll(async () => {
    await t?.close();
  });

  it.each<[string, () => Buffer | Promise<Buffer>, string]>([
    ['report.pdf', pdfBytes, 'application/pdf'],
    ['no-extension', pdfBytes, 'application/pdf'],
    ['letter.docx', () => officeFile('docx'), DOCX],
    ['sheet.xlsx', () => officeFile('xlsx'), XLSX],
    ['legacy.xls', () => cfbFile('Workbook'), 'application/vnd.ms-excel'],
    ['pixel.png', () => PNG, 'image/png'],
    ['pixel.jpg', () => PNG, 'image/png'],
    [
      'photo.jpg',
      () => Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 0x4a, 0x46, 0x49, 0x46, 0, 1]),
      'image/jpeg',
    ],
    ['anim.gif', () => Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00;', 'latin1'), 'image/gif'],
    [
      'archive.zip',
      async () => new JSZip().file('a.txt', 'a').generateAsync({ type: 'nodebuffer' }),
      'application/zip',
    ],
    ['data.gz', () => gzipSync('compressed'), 'application/gzip'],
    ['bundle.tar', tarFile, 'application/x-tar'],
    ['notes.txt', () => Buffer.from('plain text, ünïcödé ✓\n'), 'text/plain'],
    ['README', () => Buffer.from('no extension at all'), 'text/plain'],
    ['table.csv', () => Buffer.from('a,b\n1,2\n'), 'text/csv'],
    ['BMW sales.csv', () => Buffer.from('BMW,2024\nMini,2023\n'), 'text/csv'],
    [
      'doc.md',
      () => Buffer.from('# Title\n\n<p align="center">markdown may hold HTML</p>\n'),
      'text/markdown',
    ],
    ['doc.markdown', () => Buffer.from('*emphasis*'), 'text/markdown'],
    ['data.json', () => Buffer.from('{"a": [1, 2, {"b": null}]}'), 'application/json'],
    ['broken.json', () => Buffer.from('{"a": [1, 2'), 'text/plain'],
    ['json-named.txt', () => Buffer.from('{"a": 1}'), 'text/plain'],
    ['looks.csv', () => Buffer.from('{"a": 1}'), 'text/csv'],
    ['empty.txt', () => Buffer.alloc(0), 'text/plain'],
    ['report.pdf.txt', () => Buffer.from('%PDF-1.4 only ASCII, and a text name'), 'application/pdf'],
  ])('%s is stored as %s', async (name, content, type) => {
    const response = await upload(t.app, user.token, name, await content());
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json<Uploaded>().mime_type).toBe(type);
  });

  it.each<[string, () => Buffer, string]>([
    ['report.pdf', elfBytes, 'application/x-elf'],
    ['report.pdf', exeBytes, 'application/x-msdownload'],
    ['notes.txt', () => Buffer.from('<!DOCTYPE html><html><script>alert(1)</script></html>'), 'text/html'],
    ['report.pdf', () => Buffer.from('\n  <HTML><body onload="alert(1)">'), 'text/html'],
    ['table.csv', () => Buffer.from('<div>not a table</div>'), 'text/html'],
    ['doc.md', () => Buffer.from('<script>alert(1)</script>'), 'text/html'],
    ['page.html', () => Buffer.from('just words, but named .html'), 'text/html'],
    [
      'image.png',
      () => Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
      'image/svg+xml',
    ],
    [
      'drawing.txt',
      () => Buffer.from('<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>'),
      'image/svg+xml',
    ],
    ['app.js', () => Buffer.from('fetch("/api/v1/auth/me")'), 'text/javascript'],
    ['module.mjs', () => Buffer.from('export default 1'), 'text/javascript'],
    ['feed.xml', () => Buffer.from('<?xml version="1.0"?><rss/>'), 'application/xml'],
    ['old.doc', () => cfbFile('WordDocument'), 'application/x-cfb'],
    ['data.bin', () => Buffer.from([0x00, 0x01, 0x02, 0xfe, 0xff, 0x00]), 'application/octet-stream'],
    ['latin1.txt', () => Buffer.from('caf\xe9', 'latin1'), 'application/octet-stream'],
  ])('%s holding %s content is refused with 415 by its content', async (name, content, type) => {
    const before = { rows: await rowCount(t.app), disk: filesOnDisk(t.config.files.dir) };
    const response = await upload(t.app, user.token, name, content());
    expect(response.statusCode, response.body).toBe(415);
    const body = response.json<{ detail: string; code: string; media_type: string }>();
    expect(body.code).toBe('unsupported_file_type');
    expect(body.media_type).toBe(type);
    expect(body.detail).toMatch(new RegExp(`^File type ${type.replace(/[+.]/g, '\\$&')} not allowed`));
    expect(await rowCount(t.app)).toBe(before.rows);
    expect(filesOnDisk(t.config.files.dir)).toEqual(before.disk);
  });
});

describeEachDialect('file types, allow-list from FILES_ALLOWED_TYPES', (dialect) => {
  let t: TestApp;
  let user: Caller;

  beforeAll(async () => {
    t = await buildTestApp({
      dialect,
      env: { FILES_ALLOWED_TYPES: 'application/pdf,text/html,image/svg+xml' },
    });
    user = await newCaller(t.app);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('accepts only the listed types, and never HTML or SVG even when listed', async () => {
    expect((await upload(t.app, user.token, 'a.pdf', pdfBytes())).statusCode).toBe(200);
    const text = await upload(t.app, user.token, 'a.txt', 'text');
    expect(text.statusCode).toBe(415);
    expect(text.json()).toMatchObject({ media_type: 'text/plain' });
    expect(text.json<{ detail: string }>().detail).toContain('allowed: application/pdf)');
    expect((await upload(t.app, user.token, 'a.html', '<html></html>')).statusCode).toBe(415);
    expect((await upload(t.app, user.token, 'a.svg', '<svg></svg>')).statusCode).toBe(415);
  });
});
