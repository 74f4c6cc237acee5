import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** PEM text of a certificate and its key, and where they were written. */
export interface Pem {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
}

export interface TestPki {
  dir: string;
  /** The CA that signs the server's and alice's certificates. */
  ca: Pem;
  /** For localhost and 127.0.0.1. */
  server: Pem;
  /** A client certificate with subject CN=alice, signed by `ca`. */
  alice: Pem;
  /** A client certificate with CN=mallory, signed by a CA the broker does not trust. */
  mallory: Pem;
  remove(): void;
}

function openssl(cwd: string, args: string[]): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function makeCa(dir: string, name: string, cn: string): Pem {
  openssl(dir, [
    'req',
    '-x509',
    ...EC,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.crt`,
    '-days',
    '2',
    '-subj',
    `/CN=${cn}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return read(dir, name);
}

function makeLeaf(dir: string, name: string, cn: string, ca: string, ext: string): Pem {
  writeFileSync(path.join(dir, `${name}.ext`), ext);
  openssl(dir, [
    'req',
    ...EC,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    `/CN=${cn}`,
  ]);
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.crt`,
    '-CAkey',
    `${ca}.key`,
    '-set_serial',
    String(Date.now()),
    '-days',
    '2',
    '-out',
    `${name}.crt`,
    '-extfile',
    `${name}.ext`,
  ]);
  return read(dir, name);
}

function read(dir: string, name: string): Pem {
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  return {
    cert: readFileSync(certFile, 'utf8'),
    key: readFileSync(keyFile, 'utf8'),
    certFile,
    keyFile,
  };
}

/**
 * A throwaway PKI made with the `openssl` command (Debian's openssl package) in a
 * temporary directory: a CA, a server certificate, and client certificates.
 */
export function makeTestPki(): TestPki {
  const dir = mkdtempSync(path.join(tmpdir(), 'coilmq-pki-'));
  const ca = makeCa(dir, 'ca', 'coilmq test CA');
  const server = makeLeaf(
    dir,
    'server',
    'localhost',
    'ca',
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' +
      'keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n',
  );
  const clientExt =
    'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n';
  const alice = makeLeaf(dir, 'alice', 'alice', 'ca', clientExt);
  makeCa(dir, 'rogue', 'rogue CA');
  const mallory = makeLeaf(dir, 'mallory', 'mallory', 'rogue', clientExt);
  return {
    dir,
    ca,
    server,
    alice,
    mallory,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
