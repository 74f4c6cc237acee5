import net from 'node:net';
import type { ByteStream, StreamHandler } from '../broker/stream.js';
import { FlushWatch } from './stream.js';

/** A TCP (or TLS: a TLSSocket is a net.Socket) connection as a ByteStream. */
export class SocketStream implements ByteStream {
  readonly transport: string;
  readonly remoteAddress: string;
  readonly peerLogin: string | undefined;
  private readonly socket: net.Socket;
  private handler: StreamHandler | undefined;
  private readonly flush: FlushWatch;

  constructor(socket: net.Socket, transport = 'tcp', peerLogin?: string) {
    this.socket = socket;
    this.flush = new FlushWatch(socket, () => this.handler?.onDrain());
    this.transport = transport;
    this.peerLogin = peerLogin;
    this.remoteAddress = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
    // Frames are written whole and corked per tick, so Nagle's delay would only add latency.
    socket.setNoDelay(true);
  }

  get bufferedAmount(): number {
    return this.socket.writableLength;
  }

  attach(handler: StreamHandler): void {
    this.handler = handler;
    const socket = this.socket;
    socket.on('data', (chunk: Buffer) => handler.onData(chunk));
    socket.on('drain', () => handler.onDrain());
    socket.on('close', () => handler.onClose());
    // 'close' follows every error; the session learns of it there.
    socket.on('error', () => {});
  }

  write(chunk: Buffer): boolean {
    return this.socket.write(chunk);
  }

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
    this.socket.pause();
  }

  resumeReading(): void {
    this.socket.resume();
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
}
