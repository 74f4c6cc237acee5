/**
 * `coilmq passwd FILE USER`: sets a user's passcode in a users file. On a terminal it asks
 * twice, without echo; otherwise it reads the first line of standard input.
 */
import { setPasscode } from '../auth/users.js';

type Input = NodeJS.ReadStream;
type Output = NodeJS.WritableStream;

/**
 * Reads lines from a terminal without echo: raw mode is on before the first prompt is shown
 * and until the last answer is read, so that nothing typed ahead is echoed. Rejects on Ctrl-C.
 */
async function promptHidden(stdin: Input, out: Output, prompts: string[]): Promise<string[]> {
  stdin.setEncoding('utf8');
  stdin.setRawMode(true);
  let pending = '';
  const answers: string[] = [];
  try {
    for (const prompt of prompts) {
      out.write(prompt);
      answers.push(
        await new Promise<string>((resolve, reject) => {
          let line = '';
          const take = (chunk: string): boolean => {
            for (let i = 0; i < chunk.length; i++) {
              const ch = chunk[i]!;
              if (ch === '\r' || ch === '\n' || (ch === '\u0004' && line === '')) {
                pending = chunk.slice(ch === '\r' && chunk[i + 1] === '\n' ? i + 2 : i + 1);
                return true;
              }
              if (ch === '\u0003') {
                reject(new Error('interrupted'));
                return true;
              }
              if (ch === '\u007f' || ch === '\b') line = Array.from(line).slice(0, -1).join('');
              else if (ch !== '\u0004') line += ch;
            }
            return false;
          };
          const onData = (chunk: string): void => {
            if (!take(chunk)) return;
            stdin.off('data', onData);
            stdin.pause();
            resolve(line);
          };
          const rest = pending;
          pending = '';
          if (take(rest)) return resolve(line);
          stdin.on('data', onData);
          stdin.resume();
        }),
      );
      out.write('\n');
    }
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
  }
  return answers;
}

/** The first line of a stream (without its line ending), read up to the first newline or the end. */
function firstLine(stdin: Input): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const done = (): void => {
      stdin.off('data', onData);
      stdin.off('end', done);
      stdin.off('error', reject);
      stdin.pause();
      const nl = text.indexOf('\n');
      const line = nl < 0 ? text : text.slice(0, nl);
      resolve(line.endsWith('\r') ? line.slice(0, -1) : line);
    };
    const onData = (chunk: string): void => {
      text += chunk;
      if (text.includes('\n')) done();
    };
    stdin.setEncoding('utf8');
    stdin.on('data', onData);
    stdin.once('end', done);
    stdin.once('error', reject);
    stdin.resume();
  });
}

export interface PasswdOptions {
  /** Comma-separated groups; absent keeps an existing user's groups. */
  groups?: string;
}

/** Runs `coilmq passwd`; returns the exit code (0 done, 1 refused or failed). */
export async function passwd(
  file: string,
  user: string,
  options: PasswdOptions = {},
  stdin: Input = process.stdin,
  stderr: Output = process.stderr,
): Promise<number> {
  const fail = (message: string): number => {
    stderr.write(`coilmq passwd: ${message}\n`);
    return 1;
  };
  let passcode: string;
  try {
    if (stdin.isTTY) {
      const [first, again] = await promptHidden(stdin, stderr, [
        `New passcode for ${user}: `,
        'Again: ',
      ]);
      if (again !== first) return fail('the passcodes do not match; nothing changed');
      passcode = first!;
    } else {
      passcode = await firstLine(stdin);
    }
  } catch (err) {
    return fail((err as Error).message);
  }
  const groups =
    options.groups === undefined
      ? undefined
      : options.groups
          .split(',')
          .map((g) => g.trim())
          .filter((g) => g !== '');
  try {
    await setPasscode(file, user, passcode, groups);
  } catch (err) {
    return fail((err as Error).message);
  }
  stderr.write(`coilmq passwd: passcode of ${user} set in ${file}\n`);
  return 0;
}
