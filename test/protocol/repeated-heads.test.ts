/**
 * Repeated SEND header blocks (command line, header lines, blank line). The parser
 * remembers the last SEND header block it read in one piece and takes a frame that starts
 * with the same bytes, under the same version, as already read.
 * Whatever the chunking (parseEveryWay: whole, split at every byte, byte by byte, paused),
 * every frame must come out exactly as a fresh parse would make it: F-01 framing, B-02/B-03
 * bodies, E-01..E-03 escapes per version, C-11 the version switch after CONNECT.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameParser, type Frame } from '../../src/protocol/index.js';
import { frame, parseEveryWay } from './helpers.js';

const HEADER_BLOCK = 'SEND\ndestination:/queue/a\npersistent:false\ncontent-length:3\n\n';
const HEADERS = ['destination', '/queue/a', 'persistent', 'false', 'content-length', '3'];

describe('repeated SEND header blocks', () => {
  test('B-02 identical header blocks, different bodies, then a changed header block and the first again', () => {
    const other = 'SEND\ndestination:/queue/b\npersistent:false\ncontent-length:3\n\n';
    const bytes =
      [1, 2, 3, 4, 5].map((i) => `${HEADER_BLOCK}ab${i}\0`).join('') +
      `${other}xyz\0` +
      [6, 7].map((i) => `${HEADER_BLOCK}ab${i}\0`).join('');
    const result = parseEveryWay(Buffer.from(bytes), { version: '1.2' });
    assert.equal(result.error, undefined);
    assert.deepStrictEqual(result.events, [
      ...[1, 2, 3, 4, 5].map((i) => frame('SEND', HEADERS, `ab${i}`)),
      frame(
        'SEND',
        ['destination', '/queue/b', 'persistent', 'false', 'content-length', '3'],
        'xyz',
      ),
      ...[6, 7].map((i) => frame('SEND', HEADERS, `ab${i}`)),
    ]);
  });

  test('B-03 identical header blocks without content-length: each body still ends at its own NUL', () => {
    const headerBlock = 'SEND\ndestination:/queue/a\n\n';
    const bodies = ['', 'x', 'longer body', 'y'];
    const result = parseEveryWay(Buffer.from(bodies.map((b) => `${headerBlock}${b}\0`).join('')), {
      version: '1.1',
    });
    assert.deepStrictEqual(
      result.events,
      bodies.map((b) => frame('SEND', ['destination', '/queue/a'], b)),
    );
  });

  test('header blocks that keep changing (a receipt id per frame) parse as they always did', () => {
    const n = 40;
    const bytes = Array.from(
      { length: n },
      (_, i) => `SEND\ndestination:/queue/a\nreceipt:r${i % 3}\n\n${i}\0`,
    ).join('');
    const result = parseEveryWay(Buffer.from(bytes), { version: '1.2' });
    assert.deepStrictEqual(
      result.events,
      Array.from({ length: n }, (_, i) =>
        frame('SEND', ['destination', '/queue/a', 'receipt', `r${i % 3}`], String(i)),
      ),
    );
  });

  test('a header block longer than what is remembered repeats correctly too', () => {
    const long = 'v'.repeat(2000);
    const headerBlock = `SEND\ndestination:/queue/a\nk:${long}\n\n`;
    const result = parseEveryWay(
      Buffer.from(`${headerBlock}1\0${headerBlock}2\0${headerBlock}3\0`),
      {
        version: '1.2',
      },
    );
    assert.deepStrictEqual(
      result.events,
      ['1', '2', '3'].map((b) => frame('SEND', ['destination', '/queue/a', 'k', long], b)),
    );
  });

  test('E-01 E-02 C-11 the same header block bytes read under another version are read anew', () => {
    // Literal in 1.0 (E-01); "\c" is a colon in 1.1 (E-02).
    const headerBlock = 'SEND\ndestination:/a\\cb\n\n';
    const parser = (version: '1.0' | '1.1'): { p: FrameParser; frames: Frame[] } => {
      const frames: Frame[] = [];
      const p = new FrameParser({ onFrame: (f) => frames.push(f), onHeartbeat() {} });
      p.version = version;
      return { p, frames };
    };
    const { p, frames } = parser('1.0');
    p.push(Buffer.from(`${headerBlock}1\0${headerBlock}2\0`));
    p.version = '1.1';
    p.push(Buffer.from(`${headerBlock}3\0`));
    assert.deepStrictEqual(
      frames.map((f) => [f.header('destination'), f.body.toString()]),
      [
        ['/a\\cb', '1'],
        ['/a\\cb', '2'],
        ['/a:b', '3'],
      ],
    );
  });

  test('a frame taken from a remembered header block has its own header list', () => {
    const frames: Frame[] = [];
    const p = new FrameParser({ onFrame: (f) => frames.push(f), onHeartbeat() {} });
    p.version = '1.2';
    p.push(Buffer.from(`${HEADER_BLOCK}ab1\0${HEADER_BLOCK}ab2\0`));
    frames[1]!.headers.push('x', 'y');
    frames[0]!.headers.length = 0;
    p.push(Buffer.from(`${HEADER_BLOCK}ab3\0`));
    assert.deepStrictEqual(frames[2]!.headers, HEADERS);
  });

  test('B-07 a remembered header block whose next frame lacks its NUL still fails MISSING_NUL', () => {
    const result = parseEveryWay(Buffer.from(`${HEADER_BLOCK}ab1\0${HEADER_BLOCK}ab2X`), {
      version: '1.2',
    });
    assert.equal(result.error, 'MISSING_NUL');
    assert.deepStrictEqual(result.events, [frame('SEND', HEADERS, 'ab1')]);
  });
});
