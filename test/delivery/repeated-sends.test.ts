/**
 * A producer repeating itself. Its SENDs usually differ only in their bodies, and the broker
 * then reuses what it made for the last one: the parsed head (same bytes), the message's
 * header list and its encoded common part (same headers, same body length). Seen from the
 * consumers, of every version, each MESSAGE must still be exactly what its SEND asked for:
 * its own body and content-length (B-04), the sender's headers in order after the
 * destination (SD-03), escaping per the consumer's version (E-04), a new message-id each.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { frame, setup, subscribe, type Frame, type StompVersion } from '../helpers/delivery.js';

/** SENDs from one producer: [headers beyond destination, body]. */
const SENDS: Array<[Record<string, string>, string]> = [
  [{ k: 'v', persistent: 'false' }, 'aaa'],
  [{ k: 'v', persistent: 'false' }, 'bbb'], // same head and length: everything reused
  [{ k: 'v', persistent: 'false' }, 'cccc'], // another length: a new content-length
  [{ k: 'w', persistent: 'false' }, 'dddd'], // another value
  [{ k: 'w', persistent: 'false' }, 'eeee'],
  [{ k: 'a:b', persistent: 'false' }, 'ffff'], // needs escaping in 1.1 and 1.2
  [{ k: 'a:b', persistent: 'false' }, 'gggg'],
  [{ k: 'w', persistent: 'false' }, 'hhhh'],
];

describe('repeated SENDs from one producer', () => {
  test('SD-03 B-04 E-04 consumers of every version get each message as sent', async (t) => {
    const env = await setup(t);
    const versions: StompVersion[] = ['1.0', '1.1', '1.2'];
    const consumers = await Promise.all(versions.map((v) => env.connect(v)));
    for (const [i, c] of consumers.entries()) {
      await subscribe(c, '/topic/repeat', { id: `s${i}` });
    }
    const p = await env.connect('1.2');
    // One write: the broker reads them back to back, reusing what it can.
    p.write(
      Buffer.concat(
        SENDS.map(([h, body]) =>
          frame(
            'SEND',
            [
              ['destination', '/topic/repeat'],
              // The producer speaks 1.2: a colon in a value goes escaped (E-02).
              ...Object.entries(h).map(([k, v]): [string, string] => [k, v.replace(':', '\\c')]),
            ],
            body,
          ),
        ),
      ),
    );
    for (const [i, c] of consumers.entries()) {
      const ids = new Set<string>();
      for (const [h, body] of SENDS) {
        const m: Frame = await c.next();
        assert.equal(m.command, 'MESSAGE');
        assert.equal(m.body.toString(), body, `${versions[i]}: body`);
        assert.equal(m.header('content-length'), String(body.length));
        assert.equal(m.header('destination'), '/topic/repeat');
        assert.equal(m.header('k'), h.k, `${versions[i]}: k`);
        assert.equal(m.header('subscription'), `s${i}`);
        ids.add(m.header('message-id')!);
        const names = m.entries().map(([n]) => n);
        assert.ok(
          names.indexOf('destination') < names.indexOf('k') &&
            names.indexOf('k') < names.indexOf('persistent'),
          `header order ${names.join(',')}`,
        );
      }
      assert.equal(ids.size, SENDS.length, 'a message-id per message');
    }
  });
});
