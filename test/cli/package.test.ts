/**
 * The package as npm would publish it: `npm pack`, installed into a temporary prefix as the
 * README's "Installing for production" says (production dependencies only), then started:
 * it serves STOMP with its SQLite store and stops cleanly.
 *
 * better-sqlite3 is native. So as not to compile it again here (over a minute on two cores),
 * the install skips install scripts and takes the binary this clone already built: the
 * package's npm-shrinkwrap.json pins the same version as this clone's.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { watch } from '../helpers/coilmq-process.js';
import { RawClient } from '../helpers/raw-client.js';
import { ensureBuilt, ROOT } from './helpers.js';

const NPM = 'npm';

function version(dir: string): string {
  const p = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as {
    version: string;
  };
  return p.version;
}

describe('the packed package', () => {
  let work: string;
  let installed: string;
  let prefix: string;
  let pinned: boolean;

  before(async () => {
    await ensureBuilt();
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'coilmq-package-'));
    // --ignore-scripts: dist/ is built (ensureBuilt), and `prepare` would rebuild it under the
    // other test files that are running from it.
    const out = execFileSync(
      NPM,
      ['pack', '--ignore-scripts', '--json', '--pack-destination', work],
      { cwd: ROOT, encoding: 'utf8' },
    );
    const tarball = path.join(work, (JSON.parse(out) as Array<{ filename: string }>)[0]!.filename);
    prefix = path.join(work, 'opt');
    execFileSync(
      NPM,
      [
        'install',
        '--global',
        '--prefix',
        prefix,
        '--ignore-scripts',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        tarball,
      ],
      { cwd: work, stdio: ['ignore', 'ignore', 'inherit'] },
    );
    installed = path.join(prefix, 'lib', 'node_modules', 'coilmq');
    const ours = path.join(ROOT, 'node_modules', 'better-sqlite3');
    const theirs = path.join(installed, 'node_modules', 'better-sqlite3');
    pinned = version(ours) === version(theirs);
    if (pinned) {
      fs.cpSync(path.join(ours, 'build'), path.join(theirs, 'build'), { recursive: true });
    } else {
      execFileSync(NPM, ['rebuild', 'better-sqlite3'], { cwd: installed, stdio: 'inherit' });
    }
  });

  after(() => {
    if (work !== undefined) fs.rmSync(work, { recursive: true, force: true });
  });

  test('holds what it needs and no dev dependency', () => {
    for (const f of ['bin/coilmq.js', 'dist/index.js', 'dist/index.d.ts', 'README.md']) {
      assert.ok(fs.existsSync(path.join(installed, f)), f);
    }
    for (const f of ['coilmq.example.yaml', 'CHANGELOG.md', 'LICENSE', 'docs/architecture.md']) {
      assert.ok(fs.existsSync(path.join(installed, f)), f);
    }
    assert.ok(
      fs.existsSync(path.join(installed, 'npm-shrinkwrap.json')),
      'its dependencies pinned',
    );
    assert.ok(pinned, 'the installed better-sqlite3 is the version the shrinkwrap pins');
    assert.ok(!fs.existsSync(path.join(installed, 'src')), 'no sources');
    assert.ok(!fs.existsSync(path.join(installed, 'test')), 'no tests');
    for (const dev of ['typescript', 'tsx', 'eslint', 'playwright-core']) {
      assert.ok(!fs.existsSync(path.join(installed, 'node_modules', dev)), `no ${dev}`);
    }
  });

  test('its bin starts, stores a persistent message with the SQLite store, stops on SIGTERM', async () => {
    const data = path.join(work, 'data');
    const child = spawn(
      path.join(prefix, 'bin', 'coilmq'),
      ['-b', '127.0.0.1', '-p', '0', '--ws-port', '0', '--data-dir', data],
      { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const c = watch(child);
    try {
      const started = await c.waitForLog('coilmq started');
      const client = await RawClient.connect(started.port as number, '1.2');
      try {
        client.write('SEND\ndestination:/queue/pkg\nreceipt:r\n\nhello\0');
        assert.equal((await client.expect('RECEIPT')).header('receipt-id'), 'r');
      } finally {
        client.destroy();
      }
      assert.ok(
        fs.existsSync(path.join(data, 'coilmq.db')),
        'the database is in the data directory',
      );
      assert.deepEqual(await c.kill('SIGTERM'), { code: 0, signal: null });
    } finally {
      await c.kill('SIGKILL');
    }
  });
});
