/**
 * What a MESSAGE carries: M-01 destination, M-02 unique message-id, M-03 subscription,
 * M-04 ack for client acks, M-05/SD-03 every user header from the SEND in order, SD-06
 * reserved headers from the SEND dropped, B-04 content-length always, B-02 binary bodies
 * byte-exact, E-07 broker-made ids free of ':', '\', CR and LF. Order per the brief:
 * subscription, message-id, ack, [redelivered, x-delivery-count], destination, user
 * headers, content-length.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { messages, receipt, setup, subscribe, type StompVersion } from '../helpers/delivery.js';

const ID = /^[^:\\\r\n]+$/;

describe('M-01..M-05, SD-03 MESSAGE headers', () => {
  test('M-01 M-02 M-03 M-05 SD-03 [1.2] exact header list, user headers in SEND order', async (t) => {
    const env = await setup(t);
    const c = await env.connect('1.2');
    c.write('SUBSCRIBE\nid:s-1\ndestination:/queue/h\nreceipt:r\n\n\0');
    await c.expect('RECEIPT');
    c.write(
      'SEND\ndestination:/queue/h\ncontent-type:text/plain\nzeta:1\nalpha:2\nx-custom:hello world\npersistent:true\n\nbody\0',
    );
    const m = await c.expect('MESSAGE');
    const entries = m.entries();
    assert.equal(entries[1]![0], 'message-id');
    assert.match(entries[1]![1], ID);
    assert.deepEqual(entries, [
      ['subscription', 's-1'],
      ['message-id', entries[1]![1]],
      ['destination', '/queue/h'],
      ['content-type', 'text/plain'],
      ['zeta', '1'],
      ['alpha', '2'],
      ['x-custom', 'hello world'],
      ['persistent', 'true'],
      ['content-length', '4'],
    ]);
    assert.equal(m.body.toString(), 'body');
  });

  for (const v of ['1.0', '1.1', '1.2'] as StompVersion[]) {
    test(`M-04 [${v}] a client-ack MESSAGE carries ack right after message-id; auto carries none`, async (t) => {
      const env = await setup(t);
      const c = await env.connect(v);
      await subscribe(c, '/queue/ackhdr', { id: 'c', ack: 'client' });
      await subscribe(c, '/queue/autohdr', { id: 'a' });
      c.write('SEND\ndestination:/queue/ackhdr\nk:v\n\none\0');
      const m = await c.expect('MESSAGE');
      const names = m.entries().map(([k]) => k);
      assert.deepEqual(names, [
        'subscription',
        'message-id',
        'ack',
        'destination',
        'k',
        'content-length',
      ]);
      assert.match(m.header('ack')!, ID);
      c.write('SEND\ndestination:/queue/autohdr\n\ntwo\0');
      const a = await c.expect('MESSAGE');
      assert.equal(a.header('subscription'), 'a');
      assert.equal(a.header('ack'), undefined);
    });
  }

  test('M-03 [1.0] SUBSCRIBE without id: MESSAGE has no subscription; with id: it has', async (t) => {
    const env = await setup(t);
    const c = await env.connect('1.0');
    c.write('SUBSCRIBE\ndestination:/queue/noid\nreceipt:r1\n\n\0');
    await c.expect('RECEIPT');
    c.write('SUBSCRIBE\nid:with-id\ndestination:/queue/withid\nreceipt:r2\n\n\0');
    await c.expect('RECEIPT');
    c.write('SEND\ndestination:/queue/noid\n\nA\0SEND\ndestination:/queue/withid\n\nB\0');
    const [a, b] = await messages(c, 2);
    assert.equal(a!.body.toString(), 'A');
    assert.equal(a!.header('subscription'), undefined);
    assert.deepEqual(
      a!.entries().map(([k]) => k),
      ['message-id', 'destination', 'content-length'],
    );
    assert.equal(b!.header('subscription'), 'with-id');
  });

  test('M-01 destination equals the SEND destination for queues, topics and other names', async (t) => {
    const env = await setup(t);
    const c = await env.connect('1.2');
    const names = ['/queue/d.1', '/topic/d-2', '/foo/bar', 'plain'];
    for (const [i, d] of names.entries()) await subscribe(c, d, { id: `s${i}` });
    for (const d of names) c.write(`SEND\ndestination:${d}\n\n${d}\0`);
    const ms = await messages(c, names.length);
    for (const [i, m] of ms.entries()) {
      assert.equal(m.header('destination'), names[i]);
      assert.equal(m.header('subscription'), `s${i}`);
      assert.equal(m.body.toString(), names[i]);
    }
  });

  test('SD-03 repeated user headers are passed through, in order; the first still counts', async (t) => {
    const env = await setup(t);
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/rep', { id: 's' });
    c.write('SEND\ndestination:/queue/rep\nfoo:1\nbar:x\nfoo:2\n\n\0');
    const m = await c.expect('MESSAGE');
    assert.equal(m.header('foo'), '1');
    assert.deepEqual(
      m.entries().filter(([k]) => k === 'foo' || k === 'bar'),
      [
        ['foo', '1'],
        ['bar', 'x'],
        ['foo', '2'],
      ],
    );
  });

  test('SD-03 E-03 E-04 [1.2] escaped user header names and values arrive with the same meaning', async (t) => {
    const env = await setup(t);
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/esc', { id: 's' });
    // name "we:ird", value "a:b\c<LF>d<CR>e"
    c.write('SEND\ndestination:/queue/esc\nwe\\cird:a\\cb\\\\c\\nd\\re\n\n\0');
    const m = await c.expect('MESSAGE');
    assert.equal(m.header('we:ird'), 'a:b\\c\nd\re');
  });

  test('SD-03 user headers pass across versions (1.2 producer -> 1.0 and 1.1 consumers, 1.0 producer -> 1.2)', async (t) => {
    const env = await setup(t);
    const c10 = await env.connect('1.0');
    const c11 = await env.connect('1.1');
    const c12 = await env.connect('1.2');
    for (const c of [c10, c11, c12]) await subscribe(c, '/topic/xv', { id: 's' });
    const p12 = await env.connect('1.2');
    p12.write('SEND\ndestination:/topic/xv\nk:a\\cb\\\\c\nplain:v\n\n1\0');
    for (const c of [c10, c11, c12]) {
      const m = await c.expect('MESSAGE');
      assert.equal(m.header('k'), 'a:b\\c', 'value with colon and backslash');
      assert.equal(m.header('plain'), 'v');
    }
    const p10 = await env.connect('1.0');
    p10.write('SEND\ndestination:/topic/xv\nk:x:y\\z\n\n2\0');
    for (const c of [c10, c11, c12]) {
      const m = await c.expect('MESSAGE');
      assert.equal(m.body.toString(), '2');
      assert.equal(m.header('k'), 'x:y\\z', '1.0 values are not escaped on input (E-01)');
    }
  });
});

describe('SD-06 reserved headers on SEND are not passed through', () => {
  for (const ack of ['auto', 'client-individual'] as const) {
    test(`SD-06 message-id, subscription, ack, redelivered, x-delivery-count, receipt, content-length from SEND are dropped (${ack})`, async (t) => {
      const env = await setup(t);
      const c = await env.connect('1.2');
      await subscribe(c, '/queue/res', { id: 'real', ack });
      c.write(
        'SEND\ndestination:/queue/res\nmessage-id:fake-id\nsubscription:fake-sub\nack:fake-ack\n' +
          'redelivered:true\nx-delivery-count:7\nreceipt:rcpt-1\ncontent-length:5\nkeep:me\n\nhello\0',
      );
      const frames = [await c.next(), await c.next()];
      const r = frames.find((f) => f.command === 'RECEIPT');
      const m = frames.find((f) => f.command === 'MESSAGE');
      assert.ok(r && m, 'one RECEIPT and one MESSAGE');
      assert.equal(r.header('receipt-id'), 'rcpt-1');
      const count = (name: string) => m.entries().filter(([k]) => k === name).length;
      for (const name of ['message-id', 'subscription', 'content-length', 'destination']) {
        assert.equal(count(name), 1, `${name} appears once`);
      }
      assert.notEqual(m.header('message-id'), 'fake-id');
      assert.match(m.header('message-id')!, ID);
      assert.equal(m.header('subscription'), 'real');
      if (ack === 'auto') assert.equal(count('ack'), 0);
      else {
        assert.equal(count('ack'), 1);
        assert.notEqual(m.header('ack'), 'fake-ack');
      }
      assert.equal(count('redelivered'), 0);
      assert.equal(count('x-delivery-count'), 0);
      assert.equal(count('receipt'), 0);
      assert.equal(m.header('content-length'), '5');
      assert.equal(m.header('keep'), 'me');
      assert.equal(m.body.toString(), 'hello');
    });
  }
});

describe('B-04, B-02 content-length and binary bodies', () => {
  for (const v of ['1.0', '1.1', '1.2'] as StompVersion[]) {
    test(`B-04 [${v}] content-length is always present, also for an empty body and a SEND without one`, async (t) => {
      const env = await setup(t);
      const c = await env.connect(v);
      await subscribe(c, '/queue/cl', { id: 's' });
      c.write('SEND\ndestination:/queue/cl\n\nabc\0');
      c.write('SEND\ndestination:/queue/cl\n\n\0');
      c.write('SEND\ndestination:/queue/cl\ncontent-length:2\n\nxy\0');
      const [a, b, d] = await messages(c, 3);
      assert.equal(a!.header('content-length'), '3');
      assert.equal(a!.body.toString(), 'abc');
      assert.equal(b!.header('content-length'), '0');
      assert.equal(b!.body.length, 0);
      assert.equal(d!.header('content-length'), '2');
      assert.equal(d!.body.toString(), 'xy');
    });
  }

  test('B-02 B-04 a binary body with every byte value and NULs arrives byte-exact', async (t) => {
    const env = await setup(t);
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/bin', { id: 's' });
    const body = Buffer.alloc(1024 + 3);
    for (let i = 0; i < 1024; i++) body[i] = (i * 7) & 0xff;
    body[1024] = 0;
    body[1025] = 0;
    body[1026] = 0;
    c.write(
      Buffer.concat([
        Buffer.from(`SEND\ndestination:/queue/bin\ncontent-length:${body.length}\n\n`),
        body,
        Buffer.from('\0'),
      ]),
    );
    // A trailing frame proves the body boundary was kept.
    c.write('SEND\ndestination:/queue/bin\n\nnext\0');
    const [m, n] = await messages(c, 2);
    assert.equal(m!.header('content-length'), String(body.length));
    assert.ok(m!.body.equals(body), 'body byte-exact');
    assert.equal(n!.body.toString(), 'next');
  });

  test('B-02 a body starting and ending with NUL survives to a 1.0 consumer', async (t) => {
    const env = await setup(t);
    const c = await env.connect('1.0');
    await subscribe(c, '/topic/bin10', { id: 's' });
    const p = await env.connect('1.1');
    const body = Buffer.from([0, 1, 0, 0x0a, 0x0d, 0]);
    p.write(
      Buffer.concat([
        Buffer.from('SEND\ndestination:/topic/bin10\ncontent-length:6\n\n'),
        body,
        Buffer.from('\0'),
      ]),
    );
    const m = await c.expect('MESSAGE');
    assert.ok(m.body.equals(body));
    assert.equal(m.header('content-length'), '6');
  });
});

describe('M-02 E-07 broker-made ids', () => {
  test('M-02 E-07 message-ids are unique across queues and topics and free of : \\ CR LF; ack ids too', async (t) => {
    const env = await setup(t);
    const c = await env.connect('1.2');
    await subscribe(c, '/queue/ids', {
      id: 'q',
      ack: 'client-individual',
      headers: { 'prefetch-count': 500 },
    });
    await subscribe(c, '/topic/ids', { id: 't1', ack: 'client' });
    await subscribe(c, '/topic/ids', { id: 't2' });
    const p = await env.connect('1.2');
    for (let i = 0; i < 50; i++) {
      p.write(`SEND\ndestination:/queue/ids\n\nq${i}\0SEND\ndestination:/topic/ids\n\nt${i}\0`);
    }
    p.write('SEND\ndestination:/queue/ids\nreceipt:done\n\n\0');
    await receipt(p, 'done');
    const ms = await messages(c, 51 + 50 * 2);
    const ids = new Map<string, string[]>();
    const acks = new Set<string>();
    for (const m of ms) {
      const id = m.header('message-id')!;
      assert.match(id, ID);
      const subs = ids.get(id) ?? [];
      subs.push(m.header('subscription')!);
      ids.set(id, subs);
      const ack = m.header('ack');
      if (ack !== undefined) {
        assert.match(ack, ID);
        assert.ok(!acks.has(ack), `ack id ${ack} is unique`);
        acks.add(ack);
      }
    }
    // 51 queue messages + 50 topic messages; each topic message has one id for both subs.
    assert.equal(ids.size, 101);
    for (const subs of ids.values()) {
      assert.ok(
        (subs.length === 1 && subs[0] === 'q') ||
          (subs.length === 2 && subs.includes('t1') && subs.includes('t2')),
        `one id per message: ${subs.join(',')}`,
      );
    }
    assert.equal(acks.size, 51 + 50);
  });
});
