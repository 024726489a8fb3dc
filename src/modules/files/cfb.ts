// Legacy Excel workbooks (.xls) are Compound File Binary containers, which file-type reports only as
// application/x-cfb, the same as Word 97 documents and Windows installers (.msi). A workbook is told apart by its
// directory: a stream named "Workbook" (BIFF8) or "Book" (BIFF5). Only the header, the FAT sectors the header lists
// and the directory's sectors are read, each bounded; anything unexpected means "not a workbook".
import fs from 'node:fs/promises';

const SIGNATURE = Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]);
const HEADER_BYTES = 512;
const DIRECTORY_ENTRY_BYTES = 128;
const STREAM_OBJECT = 2;
const END_OF_CHAIN = 0xfffffffe;
/** Directory sectors followed at most: hundreds of entries, far more than a workbook's first ones. */
const MAX_DIRECTORY_SECTORS = 64;
const WORKBOOK_STREAMS = new Set(['workbook', 'book']);

export async function isExcelWorkbook(path: string): Promise<boolean> {
  const handle = await fs.open(path, 'r');
  try {
    const read = async (position: number, length: number): Promise<Buffer | undefined> => {
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, position);
      return bytesRead === length ? buffer : undefined;
    };
    const header = await read(0, HEADER_BYTES);
    if (!header?.subarray(0, 8).equals(SIGNATURE)) return false;
    const shift = header.readUInt16LE(0x1e);
    if (shift !== 9 && shift !== 12) return false;
    const sectorBytes = 1 << shift;
    const offsetOf = (sector: number) => (sector + 1) * sectorBytes;
    const perFatSector = sectorBytes / 4;

    /** The sector after `sector` in its chain (the header's first 109 FAT sectors only). */
    const next = async (sector: number): Promise<number | undefined> => {
      const fatIndex = Math.floor(sector / perFatSector);
      if (fatIndex >= 109) return undefined;
      const fatSector = header.readUInt32LE(0x4c + 4 * fatIndex);
      const entry = await read(offsetOf(fatSector) + (sector % perFatSector) * 4, 4);
      return entry?.readUInt32LE(0);
    };

    let sector: number | undefined = header.readUInt32LE(0x30);
    for (let seen = 0; seen < MAX_DIRECTORY_SECTORS && sector !== undefined; seen++) {
      if (sector === END_OF_CHAIN || sector > 0xfffffffa) return false;
      const directory = await read(offsetOf(sector), sectorBytes);
      if (!directory) return false;
      for (let at = 0; at + DIRECTORY_ENTRY_BYTES <= directory.length; at += DIRECTORY_ENTRY_BYTES) {
        const nameBytes = directory.readUInt16LE(at + 0x40);
        if (directory[at + 0x42] !== STREAM_OBJECT || nameBytes < 2 || nameBytes > 64) continue;
        const name = directory.toString('utf16le', at, at + nameBytes - 2).toLowerCase();
        if (WORKBOOK_STREAMS.has(name)) return true;
      }
      sector = await next(sector);
    }
    return false;
  } finally {
    await handle.close();
  }
}
