/**
 * Helpers for the authentication and authorization tests (test/auth/): temporary users
 * files, and CONNECTs with a login and passcode written byte for byte (E-05: the broker
 * does not unescape CONNECT headers, so what is written here is what the hook sees).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import type { Frame, StompVersion } from '../../src/protocol/index.js';
import { RawClient } from './raw-client.js';
import { expectErrorThenClose, type Harness } from './session.js';

/** A fresh temporary directory, removed when the test ends. */
export function tempDir(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coilmq-auth-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The bytes of a CONNECT frame; header values are written as given (never escaped). */
export function connectFrame(
  login: string | undefined,
  passcode: string | undefined,
  version: StompVersion = '1.2',
): string {
  let text = 'CONNECT\n';
  if (version !== '1.0') text += `accept-version:${version}\nhost:localhost\n`;
  if (login !== undefined) text += `login:${login}\n`;
  if (passcode !== undefined) text += `passcode:${passcode}\n`;
  return text + '\n\0';
}

/** Connects with these credentials, which must be accepted; returns the connected client. */
export async function login(
  h: Harness,
  user: string | undefined,
  passcode: string | undefined,
  version: StompVersion = '1.2',
): Promise<RawClient> {
  const c = await h.open();
  c.write(connectFrame(user, passcode, version));
  const f = await c.next();
  assert.equal(
    f.command,
    'CONNECTED',
    `${user ?? '(anonymous)'} refused: ${f.header('code')} ${f.header('message')}`,
  );
  c.parser.version = version;
  return c;
}

/**
 * Connects with these credentials, which must be refused: ERROR AUTH_FAILED, then close.
 * Returns the ERROR and how long after the CONNECT was written it arrived.
 */
export async function refused(
  h: Harness,
  user: string | undefined,
  passcode: string | undefined,
  version: StompVersion = '1.2',
): Promise<{ error: Frame; ms: number }> {
  const c = await h.open();
  const started = performance.now();
  c.write(connectFrame(user, passcode, version));
  const error = await c.expect('ERROR');
  const ms = performance.now() - started;
  c.frames.unshift(error);
  await expectErrorThenClose(c, 'AUTH_FAILED');
  assert.equal(
    c.frames.find((f) => f.command === 'CONNECTED'),
    undefined,
  );
  return { error, ms };
}

/** A pino-style logger that records warnings. */
export function recordingLogger(): {
  warnings: Array<{ obj: object; msg: string | undefined }>;
  warn(obj: object, msg?: string): void;
} {
  const warnings: Array<{ obj: object; msg: string | undefined }> = [];
  return { warnings, warn: (obj, msg) => warnings.push({ obj, msg }) };
}
