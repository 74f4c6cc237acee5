/**
 * The messages exchanged by the SQLite store (sqlite.ts) and its writer thread
 * (sqlite-writer.js). Types only: the writer, plain JavaScript, refers to them in JSDoc.
 */

/** What the store passes as workerData. */
export interface WriterConfig {
  path: string;
  synchronous: 'FULL' | 'NORMAL';
  /** The most bytes the database file may hold (see SqliteStoreOptions.maxDatabaseBytes). */
  maxDatabaseBytes?: number;
}

/** A message to add: its body is `bodies[offset, offset + length)` of its batch. */
export interface AddRecord {
  seq: number;
  queue: string;
  id: string;
  /** The headers as a JSON array of strings. */
  headers: string;
  deliveries: number;
  offset: number;
  length: number;
}

/** A loaded row: its body is `bodies[offset, offset + length)` of its answer. */
export type LoadedRow = AddRecord;

export type ToWriter =
  | {
      type: 'batch';
      id: number;
      adds: AddRecord[];
      /** Every added body, end to end (transferred, not copied). */
      bodies: ArrayBuffer;
      removes: number[];
      /** [seq, deliveries, seq, deliveries, ...] */
      deliveries: number[];
      /** Highest seq among the adds (0 if none). */
      maxSeq: number;
    }
  | { type: 'load'; id: number; queue: string; afterSeq: number; limit: number }
  | { type: 'close' };

export interface QueueCount {
  name: string;
  count: number;
}

export type FromWriter =
  | { type: 'opened'; queues: QueueCount[]; maxSeq: number }
  | { type: 'open-failed'; message: string }
  | { type: 'committed'; id: number; micros: number }
  | { type: 'failed'; id: number; message: string; code?: string }
  | { type: 'loaded'; id: number; rows: LoadedRow[]; bodies: ArrayBuffer }
  | { type: 'load-failed'; id: number; message: string; code?: string }
  | { type: 'closed' };
