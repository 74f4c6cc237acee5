/**
 * coilmq in a real browser: Debian's headless Chromium, driven by playwright-core, loads a
 * page served by this test that uses @stomp/stompjs exactly as its documentation shows
 * (`new StompJs.Client({ brokerURL: 'ws://.../ws' })`, the UMD bundle in a script tag).
 * The page connects, subscribes with a receipt (client-individual), sends text, a binary
 * body and a 1 MiB message, receives them, acknowledges each, and reports to the test.
 *
 * Chromium must be installed (/usr/bin/chromium; `.ci/run` installs it). If it cannot be
 * launched, these tests fail: they are never skipped.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';
import { startBroker, type Broker, type BrokerOptions } from '../../src/index.js';
import { makeTestPki, type TestPki } from '../helpers/certs.js';
import { needs } from '../helpers/requires.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
/** The flags the environment notes give for Chromium on these machines. */
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const STOMP_UMD = path.join(ROOT, 'node_modules', '@stomp', 'stompjs', 'bundles', 'stomp.umd.js');

/** The page: stompjs as its README shows it, plus the checks, reported on window.__result. */
function pageHtml(brokerURL: string): string {
  return `<!doctype html>
<html>
<head>
<meta charset="utf-8">
<title>coilmq in the browser</title>
<script src="/stomp.umd.js"></script>
</head>
<body>
<script>
window.__log = [];
window.__result = null;

const destination = '/queue/browser';
const binary = new Uint8Array(1024);
for (let i = 0; i < binary.length; i++) binary[i] = (i * 13 + 7) & 0xff;
binary[3] = 0;
binary[4] = 0;
let big = '';
while (big.length < 1024 * 1024) big += 'coilmq-' + big.length.toString(36) + '|';
big = big.slice(0, 1024 * 1024 - 4) + '€ok'; // 1 MiB of UTF-8, multi-byte at the end

function fail(what) {
  if (window.__result === null) window.__result = { error: what, log: window.__log.slice(-20) };
}

const client = new StompJs.Client({
  brokerURL: ${JSON.stringify(brokerURL)},
  debug: function (str) {
    window.__log.push(str.slice(0, 200));
  },
  reconnectDelay: 0,
  heartbeatIncoming: 4000,
  heartbeatOutgoing: 4000,
});

client.onConnect = function (frame) {
  const received = [];
  const acked = [];
  client.watchForReceipt('subscribed', function () {
    client.publish({ destination: destination, body: 'Hello, STOMP' });
    client.publish({
      destination: destination,
      binaryBody: binary,
      headers: { 'content-type': 'application/octet-stream' },
    });
    client.publish({ destination: destination, body: big });
  });
  client.subscribe(
    destination,
    function (message) {
      const n = received.length;
      received.push({
        body: n === 0 ? message.body : null,
        binary: n === 1 ? Array.from(message.binaryBody) : null,
        bigOk: n === 2 ? message.body === big : null,
        bigLength: n === 2 ? message.binaryBody.length : null,
        contentType: message.headers['content-type'] || null,
        ack: message.headers['ack'] || null,
        subscription: message.headers['subscription'],
      });
      client.watchForReceipt('ack-' + n, function () {
        acked.push(n);
        if (acked.length === 3) {
          const protocol = client.webSocket.protocol;
          client.deactivate().then(function () {
            window.__result = {
              version: frame.headers['version'],
              server: frame.headers['server'],
              protocol: protocol,
              received: received,
              binary: Array.from(binary),
              acked: acked,
            };
          });
        }
      });
      message.ack({ receipt: 'ack-' + n });
    },
    { ack: 'client-individual', receipt: 'subscribed' },
  );
};

client.onStompError = function (frame) {
  fail('ERROR ' + frame.headers['message']);
};
client.onWebSocketClose = function (event) {
  fail('WebSocket closed: ' + event.code);
};

client.activate();
</script>
</body>
</html>
`;
}

interface Received {
  body: string | null;
  binary: number[] | null;
  bigOk: boolean | null;
  bigLength: number | null;
  contentType: string | null;
  ack: string | null;
  subscription: string;
}

interface PageResult {
  error?: string;
  log?: string[];
  version: string;
  server: string;
  protocol: string;
  received: Received[];
  binary: number[];
  acked: number[];
}

let context: BrowserContext;
let profile: string;
let site: http.Server;
let brokerURL = '';
let pki: TestPki;

/** Serves the page (for whatever brokerURL is current) and the stompjs UMD bundle. */
function startSite(): Promise<http.Server> {
  const bundle = readFileSync(STOMP_UMD);
  const server = http.createServer((req, res) => {
    if (req.url === '/stomp.umd.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      res.end(bundle);
    } else if (req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(pageHtml(brokerURL));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function siteOrigin(): string {
  return `http://127.0.0.1:${(site.address() as net.AddressInfo).port}`;
}

/** Loads the page in a new tab and waits for its report. */
async function runPage(url: string): Promise<PageResult> {
  brokerURL = url;
  const page = await context.newPage();
  try {
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(siteOrigin() + '/');
    await page.waitForFunction(
      () => (globalThis as { __result?: unknown }).__result != null,
      null,
      {
        timeout: 30_000,
      },
    );
    const result = await page.evaluate(
      () => (globalThis as unknown as { __result: PageResult }).__result,
    );
    assert.deepEqual(errors, [], 'no page errors');
    return result;
  } finally {
    await page.close();
  }
}

function checkResult(r: PageResult): void {
  assert.equal(r.error, undefined, `${r.error}\n${(r.log ?? []).join('\n')}`);
  assert.equal(r.version, '1.2');
  assert.match(r.server, /^coilmq\//);
  assert.equal(r.protocol, 'v12.stomp', 'subprotocol chosen from what Chromium offered');
  assert.equal(r.received.length, 3);
  const [text, bin, big] = r.received as [Received, Received, Received];
  assert.equal(text.body, 'Hello, STOMP');
  assert.deepEqual(bin.binary, r.binary, 'binary body byte for byte');
  assert.equal(bin.contentType, 'application/octet-stream');
  assert.equal(big.bigOk, true, '1 MiB body intact');
  assert.equal(big.bigLength, 1024 * 1024 - 4 + 5); // '€' is 3 bytes in UTF-8
  for (const m of r.received) assert.ok(m.ack, 'client-individual MESSAGE carries ack');
  assert.deepEqual(
    [...r.acked].sort((a, b) => a - b),
    [0, 1, 2],
    'every ACK got its RECEIPT',
  );
}

async function settled(b: Broker): Promise<void> {
  for (let i = 0; i < 100 && b.stats().connections > 0; i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(b.stats().connections, 0, 'the page disconnected');
  assert.equal(b.queueDepth('/queue/browser'), 0, 'acknowledged messages are gone');
}

describe('@stomp/stompjs in headless Chromium', needs('chromium', 'openssl'), () => {
  before(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium); .ci/run does`,
      );
    }
    pki = makeTestPki();
    profile = mkdtempSync(path.join(tmpdir(), 'coilmq-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_FLAGS,
      ignoreHTTPSErrors: true, // the wss test's certificate comes from a test CA
    });
    site = await startSite();
  });

  after(async () => {
    await context?.close();
    await new Promise<void>((r) => (site ? site.close(() => r()) : r()));
    if (profile) rmSync(profile, { recursive: true, force: true });
    pki?.remove();
  });

  async function broker(options: BrokerOptions): Promise<Broker> {
    return startBroker({ port: 0, closeLinger: 100, ...options });
  }

  test('ws: connect, subscribe with receipt, text + binary + 1 MiB, ack each', async () => {
    const b = await broker({ wsPort: 0 });
    try {
      checkResult(await runPage(`ws://127.0.0.1:${b.address().wsPort}/ws`));
      await settled(b);
    } finally {
      await b.close();
    }
  });

  test('wss: the same page over TLS', async () => {
    const b = await broker({
      tls: { cert: pki.server.cert, key: pki.server.key },
      tlsPort: false,
      wssPort: 0,
    });
    try {
      checkResult(await runPage(`wss://localhost:${b.address().wssPort}/ws`));
      await settled(b);
    } finally {
      await b.close();
    }
  });

  test('allowedOrigins: the page origin is let in, a list without it keeps the page out', async () => {
    const ok = await broker({ wsPort: 0, allowedOrigins: [siteOrigin()] });
    try {
      checkResult(await runPage(`ws://127.0.0.1:${ok.address().wsPort}/ws`));
    } finally {
      await ok.close();
    }
    const closed = await broker({ wsPort: 0, allowedOrigins: ['https://elsewhere.example'] });
    try {
      const r = await runPage(`ws://127.0.0.1:${closed.address().wsPort}/ws`);
      assert.match(r.error ?? '', /^WebSocket closed/);
      assert.equal(closed.stats().connections, 0);
    } finally {
      await closed.close();
    }
  });

  test('npx coilmq unchanged but for its ports: brokerURL ws://localhost:PORT/ws, the documented URL', async () => {
    if (!existsSync(path.join(ROOT, 'dist', 'cli', 'main.js'))) {
      execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
    }
    // Free ports, so as not to collide with a broker running on the usual ones (61613,
    // 15674); that 15674 is the default is checked in test/config/settings.test.ts and the
    // --help test. Everything else (host, path; the store aside) is the default.
    const ws = http.createServer();
    await new Promise<void>((r) => ws.listen(0, '127.0.0.1', r));
    const wsPort = (ws.address() as net.AddressInfo).port;
    await new Promise<void>((r) => ws.close(() => r()));
    const child: ChildProcess = spawn(
      process.execPath,
      [
        path.join(ROOT, 'bin', 'coilmq.js'),
        ...['-p', '0', '--ws-port', String(wsPort), '--store', 'memory'],
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      let out = '';
      await new Promise<void>((resolve, reject) => {
        child.stdout!.setEncoding('utf8').on('data', (d: string) => {
          out += d;
          if (out.includes('"coilmq started"')) resolve();
        });
        child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
        child.on('exit', (code) => reject(new Error(`coilmq exited (${code}): ${out}`)));
      });
      const started = JSON.parse(out.split('\n').find((l) => l.includes('"coilmq started"'))!) as {
        wsPort?: number;
      };
      assert.equal(started.wsPort, wsPort);
      checkResult(await runPage(`ws://localhost:${wsPort}/ws`));
    } finally {
      child.kill('SIGTERM');
      await new Promise<void>((r) => (child.exitCode !== null ? r() : child.on('exit', () => r())));
    }
  });
});
