import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Writes this process's id to `file`. Refuses (throws) when the file names another
 * process that is still running; a stale file is replaced.
 */
export function writePidfile(file: string): void {
  let previous: string | undefined;
  try {
    previous = readFileSync(file, 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new Error(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
    }
  }
  if (previous !== undefined && /^[1-9][0-9]*$/.test(previous)) {
    const pid = Number(previous);
    if (pid !== process.pid && alive(pid)) {
      throw new Error(`${file} says coilmq is already running as process ${pid}`);
    }
  }
  try {
    writeFileSync(file, `${process.pid}\n`, { mode: 0o644 });
  } catch (err) {
    throw new Error(`cannot write ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** Removes `file` if it still holds this process's id. Never throws. */
export function removePidfile(file: string): void {
  try {
    if (readFileSync(file, 'utf8').trim() === String(process.pid)) unlinkSync(file);
  } catch {
    // gone already, or not ours
  }
}
