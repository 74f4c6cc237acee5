/**
 * The server: the engine (src/broker/) behind the listeners that feed it. It owns every
 * TCP, TLS and WebSocket listener and hands each accepted connection to the engine as a
 * ByteStream; the engine itself never opens a socket.
 */
import http from 'node:http';
import net from 'node:net';
import { Engine, type BrokerStats } from './broker/engine.js';
import { resolveOptions, type BrokerOptions, type ResolvedOptions } from './broker/options.js';
import type { ByteStream } from './broker/stream.js';
import { SocketStream } from './transport/tcp.js';
import { certificateLogin, createTlsServer } from './transport/tls.js';
import { createWebSocketServer } from './transport/websocket.js';
import { VERSION } from './version.js';

export { VERSION, type BrokerStats };

export interface BrokerAddress {
  host: string;
  /** The TCP port. */
  port: number;
  /** The TLS port, when TLS is on. */
  tlsPort?: number;
  /** The WebSocket port, when WebSocket is on. */
  wsPort?: number;
  /** The secure WebSocket port, when wss is on. */
  wssPort?: number;
}

/** A running broker, as startBroker() returns it. */
export interface Broker {
  /** coilmq's version, as CONNECTED's `server` header gives it. */
  readonly version: string;
  /** Host and ports actually bound (so that port 0 can be used for any of them). */
  address(): BrokerAddress;
  /**
   * Serves a connection that arrived some other way: any duplex byte stream that
   * implements ByteStream gets the same session as a TCP client.
   */
  handle(stream: ByteStream): void;
  /** Counts of connections, destinations, queued messages and errors by code, read now. */
  stats(): BrokerStats;
  /** Messages waiting in a queue (on disk included); 0 if there is no such queue. */
  queueDepth(name: string): number;
  /**
   * Stops accepting, tells every client the server is shutting down (an ERROR, then
   * close), returns unacknowledged messages to their queues, closes the store, and resolves
   * once every socket, timer and handle the broker opened is released. `timeout`: ms to
   * wait for clients to close; those still open then are dropped (default: no limit).
   */
  close(timeout?: number): Promise<void>;
}

type Transport = 'tcp' | 'tls' | 'ws' | 'wss';

/** One listening server: TCP, TLS, or the HTTP(S) server carrying WebSockets. */
interface Listener {
  transport: Transport;
  server: net.Server;
  /** For ws and wss. */
  wss?: { close(cb?: (err?: Error) => void): void };
}

class Server implements Broker {
  readonly version = VERSION;
  private readonly options: ResolvedOptions;
  private readonly engine: Engine;
  private readonly listeners: Listener[] = [];
  private closing: Promise<void> | undefined;

  constructor(options: ResolvedOptions) {
    this.options = options;
    this.engine = new Engine(options);
  }

  /**
   * Opens the store, then starts every configured listener: TCP always, TLS when `tls` is
   * given (and `tlsPort` is not false), WebSocket when `wsPort` is given, wss when
   * `wssPort` is. If one cannot listen, those already started are closed and the error is
   * thrown.
   */
  async listen(): Promise<void> {
    await this.engine.open();
    try {
      for (const { listener, port } of this.plan()) {
        await new Promise<void>((resolve, reject) => {
          const server = listener.server;
          server.once('error', reject);
          server.listen(port, this.options.host, () => {
            server.off('error', reject);
            resolve();
          });
        });
        this.listeners.push(listener);
        const a = listener.server.address() as net.AddressInfo;
        this.options.logger.info(
          {
            host: a.address,
            port: a.port,
            transport: listener.transport,
            ...(listener.wss !== undefined ? { path: this.options.wsPath } : {}),
          },
          'listening',
        );
      }
    } catch (err) {
      await this.closeListeners().closed;
      throw err;
    }
  }

  /** The listeners the options ask for, each with its port. */
  private plan(): Array<{ listener: Listener; port: number }> {
    const o = this.options;
    const handle = (stream: ByteStream): void => this.engine.handle(stream);
    const planned: Array<{ listener: Listener; port: number }> = [];
    const tcp = net.createServer((socket) => handle(new SocketStream(socket)));
    planned.push({ listener: { transport: 'tcp', server: tcp }, port: o.port });
    if (o.tls !== undefined && o.tlsPort !== false) {
      const server = createTlsServer(o.tls, (socket) =>
        handle(new SocketStream(socket, 'tls', certificateLogin(socket))),
      );
      planned.push({ listener: { transport: 'tls', server }, port: o.tlsPort });
    }
    const web = (transport: 'ws' | 'wss', port: number): void => {
      const { server, wss } = createWebSocketServer(
        {
          path: o.wsPath,
          maxFrameSize: o.maxFrameSize,
          allowedOrigins: o.allowedOrigins,
          tls: transport === 'wss' ? o.tls : undefined,
        },
        handle,
      );
      planned.push({ listener: { transport, server, wss }, port });
    };
    if (o.wsPort !== undefined) web('ws', o.wsPort);
    if (o.tls !== undefined && o.wssPort !== undefined) web('wss', o.wssPort);
    return planned;
  }

  address(): BrokerAddress {
    const ports: Partial<Record<Transport, number>> = {};
    let host: string | undefined;
    for (const l of this.listeners) {
      const a = l.server.address();
      if (a === null || typeof a === 'string') continue;
      host ??= a.address;
      ports[l.transport] = a.port;
    }
    if (host === undefined || ports.tcp === undefined) {
      throw new Error('broker is not listening');
    }
    const out: BrokerAddress = { host, port: ports.tcp };
    if (ports.tls !== undefined) out.tlsPort = ports.tls;
    if (ports.ws !== undefined) out.wsPort = ports.ws;
    if (ports.wss !== undefined) out.wssPort = ports.wss;
    return out;
  }

  handle(stream: ByteStream): void {
    this.engine.handle(stream);
  }

  stats(): BrokerStats {
    return this.engine.stats();
  }

  queueDepth(name: string): number {
    return this.engine.queueDepth(name);
  }

  close(timeout?: number): Promise<void> {
    this.closing ??= this.shutdown(timeout);
    return this.closing;
  }

  private async shutdown(timeout?: number): Promise<void> {
    const listeners = this.closeListeners();
    await this.engine.closeSessions(timeout);
    // Every session is closed: what is still open on a WebSocket port is plain HTTP.
    listeners.dropHttp();
    await listeners.closed;
    // Pending commits finish (and their receipts have gone out) before the store closes.
    await this.engine.closeStore();
    this.options.logger.info({}, 'closed');
  }

  /**
   * Stops every listener from accepting. `closed` resolves once each has closed, its
   * connections included; `dropHttp` ends the connections of the WebSocket listeners'
   * HTTP servers that are not sessions (requests that never upgraded).
   */
  private closeListeners(): { closed: Promise<void>; dropHttp(): void } {
    const list = this.listeners.splice(0);
    const httpOf = (l: Listener): http.Server | undefined =>
      l.wss !== undefined ? (l.server as http.Server) : undefined;
    const closed = Promise.all(
      list.map(
        (l) =>
          new Promise<void>((resolve) => {
            l.wss?.close();
            l.server.close(() => resolve());
            httpOf(l)?.closeIdleConnections();
          }),
      ),
    ).then(() => undefined);
    return { closed, dropHttp: () => list.forEach((l) => httpOf(l)?.closeAllConnections()) };
  }
}

/**
 * Starts a broker and resolves once it is listening. Options are checked first: a bad one
 * throws a TypeError naming it.
 */
export async function startBroker(options: BrokerOptions = {}): Promise<Broker> {
  const server = new Server(resolveOptions(options));
  await server.listen();
  return server;
}
