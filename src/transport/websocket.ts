import { isUtf8 } from 'node:buffer';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import type tls from 'node:tls';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { StompError } from '../errors.js';
import type { ByteStream, StreamHandler } from '../broker/stream.js';
import { FlushWatch } from './stream.js';
import type { TlsOptions } from '../broker/options.js';
import { certificateLogin, serverTlsOptions } from './tls.js';

/** The IANA-registered STOMP subprotocols, best first. */
export const STOMP_SUBPROTOCOLS = ['v12.stomp', 'v11.stomp', 'v10.stomp'] as const;

/**
 * The subprotocol to answer with: the highest STOMP version the client offered, and never
 * one it did not offer (RFC 6455 4.2.2). A client that offers none gets none, and still
 * negotiates its version through CONNECT's `accept-version`.
 */
export function chooseSubprotocol(offered: ReadonlySet<string>): string | false {
  for (const p of STOMP_SUBPROTOCOLS) if (offered.has(p)) return p;
  return false;
}

/**
 * Bytes a WebSocket message may exceed maxFrameSize by before `ws` refuses it itself:
 * a frame of exactly maxFrameSize still needs its NUL and perhaps an EOL or two, and a
 * message between the two limits reaches the STOMP parser, which answers FRAME_TOO_LARGE.
 */
const PAYLOAD_SLACK = 4096;

/** Close code for a message over the size limit (RFC 6455 7.4.1). */
const MESSAGE_TOO_BIG = 1009;

/**
 * One WebSocket connection as a ByteStream.
 *
 * - Reading: text and binary messages alike are bytes for the session's parser, so a frame
 *   may span several messages and a message may hold several frames; a message that is
 *   only an EOL is a heart-beat.
 * - Writing: every write() (one whole frame, or a heart-beat) is one WebSocket message,
 *   sent as **text when it is valid UTF-8, binary otherwise**. A text message must be valid
 *   UTF-8 (browsers drop a connection that sends one that is not), so a frame with a
 *   binary body goes as a binary message; every other frame goes as text, which every
 *   STOMP-over-WebSocket client reads, including the old stomp.js that cannot read binary.
 * - Flow control: bufferedAmount is `ws.bufferedAmount` (the socket's unsent bytes), drain
 *   is the socket's own 'drain' and waitDrain() an empty write on the socket, as for TCP,
 *   so a WebSocket that does not read is a slow consumer exactly like a TCP socket.
 *   cork/uncork cork the socket, so the frames of one tick leave in one write.
 * - An oversized message: `ws` closes such a connection with 1009 on its own; here the
 *   session is told first (StreamHandler.fail), so the client gets an ERROR
 *   FRAME_TOO_LARGE, then the close.
 */
export class WebSocketStream implements ByteStream {
  readonly transport: string;
  readonly remoteAddress: string;
  readonly peerLogin: string | undefined;
  /** The subprotocol agreed in the handshake ('' when none). */
  readonly protocol: string;
  private readonly ws: WebSocket;
  private readonly socket: net.Socket;
  private readonly rawClose: (code?: number, reason?: string | Buffer) => void;
  private handler: StreamHandler | undefined;
  private readonly flush: FlushWatch;
  private closeCode = 1000;

  constructor(
    ws: WebSocket,
    socket: net.Socket,
    transport: 'ws' | 'wss',
    peerLogin?: string,
    maxPayload = 0,
  ) {
    this.ws = ws;
    this.socket = socket;
    this.flush = new FlushWatch(socket, () => this.handler?.onDrain());
    this.transport = transport;
    this.peerLogin = peerLogin;
    this.protocol = ws.protocol;
    this.remoteAddress = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
    this.rawClose = ws.close.bind(ws);
    // `ws` answers a message over maxPayload by calling close(1009) on the instance and
    // dropping the rest of the input. Catching that call lets the session send its ERROR
    // while the connection is still open; the close then follows it.
    ws.close = (code?: number, reason?: string | Buffer): void => {
      if (code === MESSAGE_TOO_BIG && ws.readyState === WebSocket.OPEN && this.handler?.fail) {
        this.closeCode = MESSAGE_TOO_BIG;
        this.handler.fail(
          new StompError('FRAME_TOO_LARGE', `WebSocket message over ${maxPayload} bytes`),
        );
      }
      this.rawClose(code, reason);
    };
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  attach(handler: StreamHandler): void {
    this.handler = handler;
    this.ws.on('message', (data: RawData) => {
      handler.onData(
        Buffer.isBuffer(data)
          ? data
          : Array.isArray(data)
            ? Buffer.concat(data)
            : Buffer.from(data),
      );
    });
    this.socket.on('drain', () => handler.onDrain());
    this.ws.on('close', () => handler.onClose());
    // 'close' follows every error (invalid UTF-8 in a text message, a protocol error,
    // a reset); the session learns of it there.
    this.ws.on('error', () => {});
  }

  write(chunk: Buffer): boolean {
    // Once closing, nothing more may be sent (RFC 6455 5.5.1).
    if (this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(chunk, { binary: !isUtf8(chunk) });
    return !this.socket.writableNeedDrain;
  }

  /**
   * onDrain once everything written so far has left: an empty write on the socket, whose
   * callback runs after the WebSocket frames queued before it (the sender writes frames
   * straight to the socket: no compression, no Blobs, so it never queues them itself).
   */
  waitDrain(): void {
    this.flush.wait();
  }

  cork(): void {
    this.socket.cork();
  }

  uncork(): void {
    this.socket.uncork();
  }

  pauseReading(): void {
    this.ws.pause();
  }

  resumeReading(): void {
    this.ws.resume();
  }

  /**
   * Sends what was written, then the close frame (1000, or 1009 after an oversized
   * message). Reading resumes so that the client's close frame is seen and the connection
   * closes at once; the session ignores anything else that arrives now.
   */
  end(): void {
    this.rawClose(this.closeCode);
    this.ws.resume();
  }

  destroy(): void {
    this.ws.terminate();
  }
}

export interface WebSocketListenerOptions {
  /** The path WebSocket clients connect to, e.g. '/ws'. Other paths are refused. */
  path: string;
  /** The broker's maxFrameSize: WebSocket messages may be this large (plus a little). */
  maxFrameSize: number;
  /** Origins allowed to connect; undefined allows every one. */
  allowedOrigins: readonly string[] | undefined;
  /** Serve wss (TLS) instead of ws. */
  tls?: TlsOptions | undefined;
}

/** Origins are compared as ASCII-lowercased serializations, without a trailing slash. */
function normalizeOrigin(origin: string): string {
  return origin.trim().replace(/\/+$/, '').toLowerCase();
}

/**
 * An HTTP(S) server answering WebSocket upgrades on one path with STOMP connections.
 * Plain HTTP requests get 426 (Upgrade Required) on that path and 404 elsewhere.
 */
export function createWebSocketServer(
  options: WebSocketListenerOptions,
  onStream: (stream: WebSocketStream) => void,
): { server: http.Server; wss: WebSocketServer } {
  const transport = options.tls === undefined ? 'ws' : 'wss';
  const server: http.Server =
    options.tls === undefined
      ? http.createServer()
      : https.createServer(serverTlsOptions(options.tls));
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === options.path) {
      res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' });
      res.end('STOMP over WebSocket: connect with a WebSocket client\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
    }
  });
  if (options.tls !== undefined) server.on('tlsClientError', () => {});

  const allowed =
    options.allowedOrigins === undefined
      ? undefined
      : new Set(options.allowedOrigins.map(normalizeOrigin));
  const maxPayload = options.maxFrameSize + PAYLOAD_SLACK;
  const wss = new WebSocketServer({
    server,
    path: options.path,
    maxPayload,
    // Compression would add a zlib context per connection and delay writes; STOMP
    // clients do not need it.
    perMessageDeflate: false,
    clientTracking: false,
    handleProtocols: (protocols) => chooseSubprotocol(protocols),
    // A browser always sends Origin; other clients (which could send any) usually do not,
    // and are let in: the check protects browser users from other sites' pages.
    verifyClient:
      allowed === undefined
        ? undefined
        : (info, done) => {
            const origin = info.req.headers.origin;
            if (origin === undefined || allowed.has(normalizeOrigin(origin))) done(true);
            else done(false, 403, 'Origin not allowed');
          },
  });
  wss.on('connection', (ws: WebSocket, req: http.IncomingMessage) => {
    const socket = req.socket;
    const login = transport === 'wss' ? certificateLogin(socket as tls.TLSSocket) : undefined;
    onStream(new WebSocketStream(ws, socket, transport, login, maxPayload));
  });
  // Errors of the underlying HTTP server are reported by listen(); this only keeps an
  // 'error' from being unhandled.
  wss.on('error', () => {});
  return { server, wss };
}
