import tls from 'node:tls';
import type { TlsOptions } from '../broker/options.js';

/** Oldest protocol accepted: TLS 1.0 and 1.1 are refused. */
export const TLS_MIN_VERSION = 'TLSv1.2';

/** Node server options for `tls.createServer` and `https.createServer`. */
export function serverTlsOptions(o: TlsOptions): tls.TlsOptions {
  const requestCert = o.requestCert === true;
  return {
    cert: o.cert,
    key: o.key,
    ...(o.ca !== undefined ? { ca: o.ca } : {}),
    requestCert,
    rejectUnauthorized: requestCert,
    minVersion: TLS_MIN_VERSION,
  };
}

/**
 * The login a TLS connection proved: the subject CN of a client certificate that was
 * verified against the configured CAs. Undefined when there is none.
 */
export function certificateLogin(socket: tls.TLSSocket): string | undefined {
  if (!socket.authorized) return undefined;
  const cert = socket.getPeerCertificate();
  const cn: unknown = cert?.subject?.CN;
  if (Array.isArray(cn)) return typeof cn[0] === 'string' ? cn[0] : undefined;
  return typeof cn === 'string' && cn !== '' ? cn : undefined;
}

/**
 * A TLS listener whose connections are handed over once the handshake is done. Failed
 * handshakes (a TLS 1.1 client, a missing or untrusted client certificate) never reach
 * the broker.
 */
export function createTlsServer(
  options: TlsOptions,
  onSocket: (socket: tls.TLSSocket) => void,
): tls.Server {
  const server = tls.createServer(serverTlsOptions(options), onSocket);
  // A client that fails the handshake is simply disconnected.
  server.on('tlsClientError', () => {});
  return server;
}
