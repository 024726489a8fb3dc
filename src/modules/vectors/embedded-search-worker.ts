// A thread of the embedded vector index (started by embedded-index.ts), with its own connection to the index's SQLite
// file and sqlite-vec, running the index's operations one at a time, off the server's event loop: a search scans
// every vector of a collection (about 75 ms for 100k × 384). The first thread of an index takes the writes too, on a
// read-write connection: its own commits keep its page cache and memory map, which another connection's commits would
// make it drop (see SCAN_MMAP_BYTES). More threads open the file read-only and only search. In WAL mode readers never
// wait for the writer, and each operation is a new transaction that sees every write committed before it.
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import * as sqliteVec from 'sqlite-vec';
import {
  SCAN_MMAP_BYTES,
  deleteMatching,
  deletePoint,
  searchPoints,
  upsertPoints,
  type IndexOperation,
  type IndexReply,
  type IndexRequest,
  type IndexThreadData,
} from './embedded-index-sql.js';

if (!parentPort) throw new Error('embedded-search-worker.ts runs as a worker thread of embedded-index.ts');
const port = parentPort;
const { file, writer } = workerData as IndexThreadData;

const db = new Database(file, { readonly: !writer, fileMustExist: true });
sqliteVec.load(db);
db.pragma(`mmap_size = ${SCAN_MMAP_BYTES}`);

function run(operation: IndexOperation): Omit<IndexReply, 'id'> {
  switch (operation.type) {
    case 'search': {
      const { collection, query, k, filter } = operation;
      return { matches: searchPoints(db, collection, query, k, filter) };
    }
    case 'upsert': {
      const mismatch = upsertPoints(db, operation.collection, operation.points);
      return mismatch ? { mismatch } : { changes: operation.points.length };
    }
    case 'delete':
      return { changes: deletePoint(db, operation.collection, operation.pointId) };
    case 'deleteWhere':
      return { changes: deleteMatching(db, operation.collection, operation.filter) };
  }
}

port.on('message', (request: IndexRequest) => {
  if (request.type === 'crash') throw new Error('index thread crashed on request (test hook)');
  if (request.type === 'close') {
    db.close();
    port.close();
    return;
  }
  let reply: IndexReply;
  try {
    reply = { id: request.id, ...run(request) } as IndexReply;
  } catch (error) {
    reply = { id: request.id, error: { message: error instanceof Error ? error.message : String(error) } };
  }
  port.postMessage(reply);
});
