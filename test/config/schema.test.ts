/**
 * The configuration module (src/config/) as a library: the example file, the names of
 * settings in the file, the environment and the flags, precedence, and the messages.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config/load.js';
import {
  DEFAULTS,
  envName,
  FIELD_BY_PATH,
  FIELDS,
  kebab,
  KNOWN_KEYS,
} from '../../src/config/schema.js';
import { DEFAULT_OPTIONS, SETTING_NAMES, SETTINGS, type SettingSpec } from '../../src/settings.js';
import { problems } from '../helpers/config.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const EXAMPLE = path.join(ROOT, 'coilmq.example.yaml');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coilmq-config-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

let n = 0;
function yaml(text: string): string {
  const p = path.join(dir, `c${++n}.yaml`);
  fs.writeFileSync(p, text);
  return p;
}

/** The example with its commented-out settings (`#key: value`) turned on. */
function uncommented(): string {
  return fs.readFileSync(EXAMPLE, 'utf8').replace(/^(\s*)#(?! \S|$)/gm, '$1');
}

function leafPaths(v: unknown, prefix = ''): string[] {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return [prefix];
  return Object.entries(v).flatMap(([k, x]) => leafPaths(x, prefix === '' ? k : `${prefix}.${k}`));
}

describe('coilmq.example.yaml', () => {
  test('validates, and its values are the defaults', () => {
    const example = loadConfig({ configFlag: EXAMPLE });
    assert.equal(example.file, EXAMPLE);
    assert.deepEqual(example.config, loadConfig({}).config);
  });

  test('with every commented-out setting turned on, validates and covers every setting', () => {
    const file = yaml(uncommented());
    const { config } = loadConfig({ configFlag: file });
    const given = new Set(leafPaths(config).map((p) => p.replace(/\.\d+.*$/, '')));
    for (const f of FIELDS) assert.ok(given.has(f.path), `${f.path} is not in the example`);
    // Every key of every access rule appears too.
    const ruleKeys = new Set(config.acl.flatMap((r) => Object.keys(r)));
    for (const k of KNOWN_KEYS.get('acl.*')!) assert.ok(ruleKeys.has(k), `acl rule key ${k}`);
    assert.ok(config.listeners.tls !== undefined);
    assert.equal(config.auth.usersFile, '/etc/coilmq/users');
  });

  test('with store.kind memory, the SQLite settings it keeps are ignored and noted', () => {
    const file = yaml('store:\n  kind: memory\n  dataDir: x\n  synchronous: normal\n');
    const loaded = loadConfig({ configFlag: file });
    assert.equal(loaded.config.store.kind, 'memory');
    assert.equal(loaded.notes.length, 2);
    assert.match(loaded.notes[0]!, /store\.dataDir: ignored, the store is memory/);
    assert.match(loaded.notes[1]!, /store\.synchronous: ignored, the store is memory/);
    const example = loadConfig({
      configFlag: EXAMPLE,
      flags: new Map([['store.kind', { value: 'memory', flag: '--store' }]]),
    });
    assert.ok(
      example.notes.some((n) => /dataDir: ignored, the store is memory \(--store\)/.test(n)),
    );
    assert.deepEqual(loadConfig({ configFlag: EXAMPLE }).notes, [], 'nothing to note with sqlite');
  });

  test('documents every flag it names', () => {
    const text = fs.readFileSync(EXAMPLE, 'utf8');
    for (const f of FIELDS) {
      if (f.flag !== undefined) assert.ok(text.includes(`--${f.flag}`), `--${f.flag}`);
    }
  });
});

describe('names: one per setting, the same in the file, the flags, the environment', () => {
  test('every limit of src/settings.ts is a setting under its own name', () => {
    const limits = SETTING_NAMES.filter((k) => (SETTINGS[k] as SettingSpec).section === 'limits');
    assert.ok(limits.length >= 18, 'every limit, flow control and heart-beat setting');
    for (const key of limits) {
      const f = FIELD_BY_PATH.get(`limits.${key}`);
      assert.ok(f, key);
      assert.equal(f.flag, kebab(key));
      assert.equal(
        (DEFAULTS.limits as Record<string, number>)[key],
        (DEFAULT_OPTIONS as Record<string, unknown>)[key],
      );
    }
  });

  test('environment variables: COILMQ_ and the flag in upper snake case', () => {
    assert.equal(envName('port'), 'COILMQ_PORT');
    assert.equal(envName('max-frame-size'), 'COILMQ_MAX_FRAME_SIZE');
    assert.equal(envName('data-dir'), 'COILMQ_DATA_DIR');
    const c = loadConfig({
      env: {
        COILMQ_PORT: '1234',
        COILMQ_MAX_FRAME_SIZE: '4096',
        COILMQ_DATA_DIR: '/var/lib/coilmq',
        COILMQ_ANONYMOUS: 'yes',
        COILMQ_ALLOWED_ORIGINS: 'https://a.example, https://b.example',
        COILMQ_SYNC: 'NORMAL',
        COILMQ_HEARTBEAT_GRACE: '2.5',
        COILMQ_HOST: '', // empty is unset
        PATH: '/bin',
      },
    }).config;
    assert.equal(c.listeners.port, 1234);
    assert.equal(c.limits.maxFrameSize, 4096);
    assert.equal(c.store.dataDir, '/var/lib/coilmq');
    assert.equal(c.auth.anonymous, true);
    assert.deepEqual(c.listeners.allowedOrigins, ['https://a.example', 'https://b.example']);
    assert.equal(c.store.synchronous, 'normal');
    assert.equal(c.limits.heartbeatGrace, 2.5);
    assert.equal(c.listeners.host, '127.0.0.1');
  });

  test('flags (given by dotted key) win over the environment, which wins over the file', () => {
    const file = yaml('listeners:\n  port: 1111\n  host: 0.0.0.0\nlimits:\n  maxHeaders: 7\n');
    const env = { COILMQ_PORT: '2222', COILMQ_MAX_HEADERS: '8' };
    const flags = new Map([['listeners.port', { value: '3333', flag: '-p' }]]);
    const all = loadConfig({ configFlag: file, env, flags });
    assert.equal(all.config.listeners.port, 3333);
    assert.equal(all.config.limits.maxHeaders, 8);
    assert.equal(all.config.listeners.host, '0.0.0.0');
    assert.deepEqual(all.origin('listeners.port'), { kind: 'flag', flag: '-p' });
    assert.deepEqual(all.origin('limits.maxHeaders'), { kind: 'env', name: 'COILMQ_MAX_HEADERS' });
    assert.deepEqual(all.origin('listeners.host'), { kind: 'file', file });
    assert.deepEqual(all.origin('listeners.wsPath'), { kind: 'default' });
    assert.equal(loadConfig({ configFlag: file, env }).config.listeners.port, 2222);
    assert.equal(loadConfig({ configFlag: file }).config.listeners.port, 1111);
  });

  test('COILMQ_CONFIG names the file when -c does not', () => {
    const a = yaml('listeners:\n  port: 1000\n');
    const b = yaml('listeners:\n  port: 2000\n');
    assert.equal(loadConfig({ env: { COILMQ_CONFIG: a } }).config.listeners.port, 1000);
    assert.equal(
      loadConfig({ configFlag: b, env: { COILMQ_CONFIG: a } }).config.listeners.port,
      2000,
    );
  });

  test('an empty file, and sections left empty, are the defaults', () => {
    assert.deepEqual(loadConfig({ configFlag: yaml('') }).config, loadConfig({}).config);
    assert.deepEqual(
      loadConfig({ configFlag: yaml('listeners:\n  # nothing yet\nauth:\n') }).config,
      loadConfig({}).config,
    );
  });
});

describe('messages name the source, the key and what is expected', () => {
  const cases: Array<[string, string, RegExp]> = [
    [
      'bad port',
      'listeners:\n  port: 70000\n',
      /:2:3: listeners\.port: expected a port number \(0-65535\), got 70000/,
    ],
    [
      'port as text',
      'listeners:\n  port: "abc"\n',
      /listeners\.port: expected a port number .*got "abc"/,
    ],
    [
      'unknown top-level key',
      'listners:\n  port: 1\n',
      /:1:1: unknown key listners \(did you mean listeners\?\)/,
    ],
    [
      'unknown nested key',
      'store:\n  kind: sqlite\n  path: x\n',
      /:3:3: unknown key store\.path \(expected one of: kind, dataDir, synchronous, batchWindowMs\)/,
    ],
    [
      'bad enum',
      'store:\n  kind: postgres\n',
      /store\.kind: expected one of sqlite, memory, got "postgres"/,
    ],
    [
      'negative limit',
      'limits:\n  maxFrameSize: -1\n',
      /limits\.maxFrameSize: expected a positive integer, got -1/,
    ],
    [
      'fractional limit',
      'limits:\n  maxHeaders: 1.5\n',
      /limits\.maxHeaders: expected a positive integer, got 1\.5/,
    ],
    [
      'grace below 1',
      'limits:\n  heartbeatGrace: 0.5\n',
      /limits\.heartbeatGrace: expected a number of at least 1, got 0\.5/,
    ],
    [
      'min above max',
      'limits:\n  heartbeatMinInterval: 5000\n  heartbeatMaxInterval: 1000\n',
      /limits\.heartbeatMinInterval: must not exceed limits\.heartbeatMaxInterval/,
    ],
    [
      'bool as text',
      'auth:\n  anonymous: "maybe"\n',
      /auth\.anonymous: expected true or false, got "maybe"/,
    ],
    ['section not a mapping', 'listeners: 5\n', /listeners: expected a mapping of settings, got 5/],
    [
      'ws path',
      'listeners:\n  wsPath: ws\n',
      /listeners\.wsPath: expected a path starting with '\/'/,
    ],
    [
      'cert without key',
      'listeners:\n  tls:\n    cert: a.pem\n',
      /:3:5: listeners\.tls\.cert: needs listeners\.tls\.key too/,
    ],
    [
      'tls port without cert',
      'listeners:\n  tls:\n    port: 1\n',
      /listeners\.tls\.port: needs listeners\.tls\.cert and listeners\.tls\.key/,
    ],
    [
      'client certs without ca',
      'listeners:\n  tls:\n    cert: a\n    key: b\n    requireClientCert: true\n',
      /listeners\.tls\.requireClientCert: needs listeners\.tls\.ca/,
    ],
    [
      'log level',
      'logging:\n  level: loud\n',
      /logging\.level: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"/,
    ],
    ['acl not a list', 'acl:\n  users: [a]\n', /acl: expected a list of access rules/],
    [
      'acl right',
      'acl:\n  - users: [a]\n    destinations: [/q]\n    allow: [delete]\n',
      /:4:13: acl\[0\]\.allow\[0\]: expected one of read, write, got "delete"/,
    ],
    [
      'acl rule without users',
      'acl:\n  - destinations: [/q]\n    allow: [read]\n',
      /acl\[0\]: a rule needs users or groups/,
    ],
    [
      'acl unknown key',
      'acl:\n  - users: [a]\n    destinations: [/q]\n    allow: [read]\n    deny: [write]\n',
      /unknown key acl\[0\]\.deny \(expected one of: users, groups, destinations, allow\)/,
    ],
    [
      'acl pattern',
      'acl:\n  - users: [a]\n    destinations: [/queue/***]\n    allow: [read]\n',
      /acl\[0\]\.destinations\[0\]: expected a destination pattern/,
    ],
    [
      'acl no rights',
      'acl:\n  - users: [a]\n    destinations: [/q]\n    allow: []\n',
      /acl\[0\]\.allow: expected at least one right/,
    ],
    ['not YAML', 'listeners:\n  port: [1\n', /not valid YAML/],
    [
      'duplicate key',
      'listeners:\n  port: 1\n  port: 2\n',
      /:3:3: not valid YAML: Map keys must be unique/,
    ],
    ['top level not a mapping', '- a\n- b\n', /expected a mapping of settings at the top level/],
  ];
  for (const [name, text, expected] of cases) {
    test(`file: ${name}`, () => {
      const file = yaml(text);
      const p = problems({ configFlag: file });
      assert.ok(
        p.some((x) => expected.test(x) && x.startsWith(file)),
        p.join('\n'),
      );
    });
  }

  test('every problem is reported at once', () => {
    const p = problems({
      configFlag: yaml('listeners:\n  port: -1\n  bogus: 1\nlimits:\n  maxHeaders: 0\n'),
      env: { COILMQ_MAX_FRAME_SIZE: 'big', COILMQ_NO_SUCH: '1' },
    });
    assert.equal(p.length, 5, p.join('\n'));
  });

  test('environment: the variable is named', () => {
    assert.deepEqual(problems({ env: { COILMQ_PORT: 'abc' } }), [
      'environment variable COILMQ_PORT: expected a port number (0-65535), got "abc"',
    ]);
    assert.deepEqual(problems({ env: { COILMQ_MAX_FRAME_SIZ: '1' } }), [
      'environment variable COILMQ_MAX_FRAME_SIZ: unknown setting (did you mean COILMQ_MAX_FRAME_SIZE?)',
    ]);
    assert.deepEqual(problems({ env: { COILMQ_TLS_PORT: '5' } }), [
      'environment variable COILMQ_TLS_PORT: needs COILMQ_TLS_CERT and COILMQ_TLS_KEY',
    ]);
  });

  test('flags: the flag is named, and other keys are named as flags', () => {
    const flags = new Map([
      ['listeners.port', { value: '70000', flag: '--port' }],
      ['listeners.tls.cert', { value: 'x.pem', flag: '--tls-cert' }],
    ]);
    assert.deepEqual(problems({ flags }), [
      '--port: expected a port number (0-65535), got 70000',
      '--tls-cert: needs --tls-key too',
    ]);
  });

  test('a missing configuration file is an error, not the defaults', () => {
    const missing = path.join(dir, 'missing.yaml');
    assert.deepEqual(problems({ configFlag: missing }), [
      `--config ${missing}: cannot read the configuration file: no such file`,
    ]);
    assert.match(problems({ env: { COILMQ_CONFIG: missing } })[0]!, /COILMQ_CONFIG.*no such file/);
  });
});
