/**
 * The settings table (src/settings.ts) is the one source of the library's options and of
 * the command's settings that are options: the same defaults, the same rules, the same
 * words when a value is refused.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { resolveOptions, SILENT_LOGGER } from '../../src/broker/options.js';
import { loadConfig } from '../../src/config/load.js';
import { FIELDS, kebab, settingOptions } from '../../src/config/schema.js';
import { DEFAULT_OPTIONS, SETTING_NAMES, SETTINGS, type SettingSpec } from '../../src/settings.js';
import { problems } from '../helpers/config.js';

function libraryError(options: Record<string, unknown>): string {
  try {
    resolveOptions(options);
  } catch (err) {
    assert.ok(err instanceof TypeError, String(err));
    return err.message;
  }
  assert.fail('expected a TypeError');
}

describe('the table', () => {
  test('every default is allowed by its own rule', () => {
    for (const name of SETTING_NAMES) {
      const s: SettingSpec = SETTINGS[name];
      if ('default' in s) assert.equal(s.rule.problem(s.default), undefined, name);
    }
  });

  test('the library resolves no options to the defaults of the table', () => {
    const { logger, ...resolved } = resolveOptions();
    assert.equal(logger, SILENT_LOGGER);
    assert.deepEqual(resolved, DEFAULT_OPTIONS);
  });
});

describe('the command line', () => {
  test('every setting is a setting of the command, its flag the kebab case of its name', () => {
    for (const name of SETTING_NAMES) {
      const f = FIELDS.find((x) => x.option === name);
      assert.ok(f, `${name} is not a setting of the command`);
      assert.equal(f.flag, kebab(name));
    }
  });

  test('without configuration, the command gives the library its defaults, but for its own', () => {
    const options = settingOptions(loadConfig({}).config);
    // The command serves WebSocket on 15674 by default; TLS is off without a certificate.
    const { wsPort, ...rest } = options;
    assert.equal(wsPort, 15674);
    const { tlsPort: _, ...libraryDefaults } = DEFAULT_OPTIONS;
    assert.deepEqual(rest, libraryDefaults);
  });

  test('the command maps its own meanings of listeners to the library', () => {
    const flags = new Map<string, { value: unknown; flag: string }>([
      ['listeners.wsPort', { value: '0', flag: '--ws-port' }],
      ['listeners.tls.cert', { value: 'c.pem', flag: '--tls-cert' }],
      ['listeners.tls.key', { value: 'k.pem', flag: '--tls-key' }],
      ['listeners.tls.port', { value: '0', flag: '--tls-port' }],
      ['listeners.tls.wssPort', { value: '15673', flag: '--wss-port' }],
    ]);
    const options = settingOptions(loadConfig({ flags }).config);
    assert.equal(options.wsPort, undefined);
    assert.equal(options.tlsPort, false);
    assert.equal(options.wssPort, 15673);
  });
});

describe('a refused value: the same words from the library and the command', () => {
  for (const name of SETTING_NAMES) {
    test(name, () => {
      const bad = -1.5;
      const expected = SETTINGS[name].rule.problem(bad);
      assert.ok(expected !== undefined, `${name} allows ${bad}`);
      assert.equal(libraryError({ [name]: bad }), `option ${name} must be ${expected}, got ${bad}`);
      const field = FIELDS.find((x) => x.option === name)!;
      const flag = `--${field.flag!}`;
      const p = problems({ flags: new Map([[field.path, { value: bad, flag }]]) });
      // The command's own rule for the TLS port has no `false`: it says 0 turns it off.
      const words = name === 'tlsPort' ? 'a port number (0-65535)' : expected;
      assert.ok(p.includes(`${flag}: expected ${words}, got ${bad}`), p.join('\n'));
    });
  }

  test('heart-beat intervals: the smallest must not exceed the largest', () => {
    assert.equal(
      libraryError({ heartbeatMinInterval: 5000, heartbeatMaxInterval: 1000 }),
      'option heartbeatMinInterval must not exceed option heartbeatMaxInterval (5000 > 1000)',
    );
    assert.deepEqual(
      problems({
        env: { COILMQ_HEARTBEAT_MIN_INTERVAL: '5000', COILMQ_HEARTBEAT_MAX_INTERVAL: '1000' },
      }),
      [
        'environment variable COILMQ_HEARTBEAT_MIN_INTERVAL: must not exceed ' +
          'COILMQ_HEARTBEAT_MAX_INTERVAL (5000 > 1000)',
      ],
    );
    // Only the largest given, below the default smallest: the one given is named.
    assert.equal(
      libraryError({ heartbeatMaxInterval: 500 }),
      'option heartbeatMaxInterval must be 0 or at least option heartbeatMinInterval (500 < 1000)',
    );
    assert.deepEqual(problems({ env: { COILMQ_HEARTBEAT_MAX_INTERVAL: '500' } }), [
      'environment variable COILMQ_HEARTBEAT_MAX_INTERVAL: must be 0 or at least ' +
        'COILMQ_HEARTBEAT_MIN_INTERVAL (500 < 1000)',
    ]);
    assert.doesNotThrow(() =>
      resolveOptions({ heartbeatMinInterval: 5000, heartbeatMaxInterval: 0 }),
    );
  });
});
