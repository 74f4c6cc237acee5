/**
 * What the SQLite store (sqlite.ts) and its writer thread (sqlite-writer.js) both use at
 * run time. Plain JavaScript, so that the writer can import it without a TypeScript
 * loader, from src/ as from dist/.
 */

/** The read of `load`, on whichever thread serves it: rows of one queue after a seq. */
export const LOAD_SQL =
  'SELECT seq, queue, id, headers, body, deliveries FROM messages' +
  ' WHERE queue = ? AND seq > ? ORDER BY seq LIMIT ?';

/**
 * "message (SQLITE_CODE)", the way both threads describe a SQLite error.
 * @param {unknown} err
 * @returns {{ message: string; code?: string }}
 */
export function describeError(err) {
  if (err instanceof Error) {
    const code = /** @type {{ code?: unknown }} */ (err).code;
    return typeof code === 'string'
      ? { message: `${err.message} (${code})`, code }
      : { message: err.message };
  }
  return { message: String(err) };
}
