/** The log as a person sees it on a terminal (src/cli/pretty-log.ts), unit by unit. */
// Pure formatting: nothing here listens, the port numbers are only values in log lines.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { banner, prettyLine } from '../../src/cli/pretty-log.js';

describe('prettyLine', () => {
  const time = new Date(2026, 11, 3, 18, 2, 51, 120).getTime();

  test('time of day, level, message, then the plain fields', () => {
    const line = JSON.stringify({
      level: 30,
      time,
      pid: 1,
      hostname: 'h',
      name: 'coilmq',
      host: '127.0.0.1',
      port: 40001,
      transport: 'tcp',
      msg: 'listening',
    });
    assert.equal(
      prettyLine(line),
      '18:02:51.120 INFO  listening host=127.0.0.1 port=40001 transport=tcp',
    );
  });

  test('nested objects are left out; an error shows its message; spaces are quoted', () => {
    const line = JSON.stringify({
      level: 50,
      time,
      msg: 'store read failed',
      queue: '/queue/a b',
      limits: { maxFrameSize: 1 },
      err: { type: 'Error', message: 'disk I/O error', stack: 'Error: ...' },
    });
    assert.equal(
      prettyLine(line),
      '18:02:51.120 ERROR store read failed queue="/queue/a b" err="disk I/O error"',
    );
  });

  test('control characters from a client are quoted, never written raw', () => {
    const line = JSON.stringify({
      level: 30,
      time,
      msg: 'connection closed',
      login: 'ev\u001b]0;x\u0007il',
    });
    assert.equal(
      prettyLine(line),
      '18:02:51.120 INFO  connection closed login="ev\\u001b]0;x\\u0007il"',
    );
  });

  test('a line that is not JSON is kept as it is', () => {
    assert.equal(prettyLine('plain text\n'), 'plain text');
  });
});

describe('banner', () => {
  test('every listener, where messages are kept, who may log in, and how to stop', () => {
    const text = banner({
      version: '1.2.3',
      address: { host: '127.0.0.1', port: 40001, tlsPort: 40002, wsPort: 40003, wssPort: 40004 },
      wsPath: '/ws',
      database: undefined,
      usersFile: '/etc/coilmq/users',
    });
    assert.match(text, /coilmq 1\.2\.3 is running/);
    assert.match(text, /STOMP +127\.0\.0\.1:40001 \(tcp\)/);
    assert.match(text, /STOMP over TLS +127\.0\.0\.1:40002/);
    assert.match(text, /WebSocket +ws:\/\/127\.0\.0\.1:40003\/ws/);
    assert.match(text, /Secure WebSocket +wss:\/\/127\.0\.0\.1:40004\/ws/);
    assert.match(text, /Messages +in memory only/);
    assert.match(text, /Logins +users from \/etc\/coilmq\/users/);
    assert.match(text, /Ctrl-C to stop\./);
  });
});
