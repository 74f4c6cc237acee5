import { accessSync, constants, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { removePidfile } from './pidfile.js';

/**
 * One coilmq per data directory: two brokers on one database would both load its queues
 * and deliver the same messages twice.
 *
 * The lock is an operating-system lock, not a file that says who holds it: `coilmq.lock` is
 * a small SQLite database held in an exclusive transaction for as long as the broker runs.
 * The kernel lets it go when the process ends, however it ends, so a crash leaves nothing
 * stale behind, and no process id can be mistaken for another (a recycled pid, pid 1 in two
 * containers). `coilmq.lock.owner` only says which process holds it, for the error message.
 */
export class DataDirLock {
  private constructor(
    private readonly db: Database.Database,
    private readonly ownerFile: string,
  ) {}

  /** Takes the lock of `dir`, or throws, naming the holder, when another process has it. */
  static acquire(dir: string): DataDirLock {
    const file = path.join(dir, 'coilmq.lock');
    const ownerFile = `${file}.owner`;
    // timeout 0: a held lock is an answer, not something to wait for.
    const db = new Database(file, { timeout: 0 });
    try {
      // SQLite opens a file it cannot write read-only, and then BEGIN EXCLUSIVE takes only a
      // shared lock, which any number of processes can hold.
      accessSync(file, constants.W_OK);
    } catch (err) {
      db.close();
      throw new Error(`cannot lock the data directory ${dir}: ${file} is not writable`, {
        cause: err,
      });
    }
    try {
      db.pragma('locking_mode = EXCLUSIVE');
      db.exec('BEGIN EXCLUSIVE');
    } catch (err) {
      db.close();
      const code = (err as { code?: string }).code;
      if (code === 'SQLITE_NOTADB') {
        throw new Error(
          `cannot lock the data directory ${dir}: ${file} is not a lock coilmq made; remove it`,
          { cause: err },
        );
      }
      if (code !== 'SQLITE_BUSY') throw err;
      let owner = '';
      try {
        const pid = readFileSync(ownerFile, 'utf8').trim();
        if (/^[1-9][0-9]*$/.test(pid)) owner = `, process ${pid}`;
      } catch {
        // no owner file: the message says less
      }
      throw new Error(
        `the data directory ${dir} is in use by another coilmq${owner} (it holds ${file})`,
        { cause: err },
      );
    }
    try {
      writeFileSync(ownerFile, `${process.pid}\n`);
    } catch {
      // only informative
    }
    return new DataDirLock(db, ownerFile);
  }

  /** Lets the lock go (the process ending does too). */
  release(): void {
    removePidfile(this.ownerFile);
    if (this.db.open) this.db.close();
  }
}
