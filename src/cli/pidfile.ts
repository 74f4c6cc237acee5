import { closeSync, openSync, readFileSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';

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

/** The process id written in `file`, or undefined if it is missing or holds no id. */
function holderOf(file: string): number | undefined {
  try {
    const text = readFileSync(file, 'utf8').trim();
    return /^[1-9][0-9]*$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes `file` as a lock held by this process: it is created holding this process's id, with
 * O_EXCL, so that of two processes starting at once only one gets it. A file naming a
 * process that no longer runs (left by a crash or a SIGKILL), or naming this process's own id
 * (a container restarted with the same pid), is stale and taken over. Throws, naming the
 * holder, while another running process holds it. Release it with removePidfile.
 */
export function acquireLock(file: string, what: string): void {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o644);
      try {
        writeSync(fd, `${process.pid}\n`);
      } finally {
        closeSync(fd);
      }
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new Error(`cannot create the lock ${file}: ${(err as Error).message}`, {
          cause: err,
        });
      }
    }
    const holder = holderOf(file);
    if (holder !== undefined && holder !== process.pid && alive(holder)) {
      throw new Error(`${what} is in use by another coilmq, process ${holder} (lock file ${file})`);
    }
    try {
      unlinkSync(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new Error(`cannot remove the stale lock ${file}: ${(err as Error).message}`, {
          cause: err,
        });
      }
    }
  }
  throw new Error(`cannot take the lock ${file}: another process keeps taking it`);
}
