import assert from 'node:assert/strict';
import { ConfigError, loadConfig, type ConfigInput } from '../../src/config/load.js';

/** The problems a configuration is refused with; fails the test if it is accepted. */
export function problems(input: ConfigInput): string[] {
  try {
    loadConfig(input);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}
