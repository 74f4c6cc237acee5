import net from 'node:net';
import type { ByteStream, StreamHandler } from './stream.js';

/** A TCP (or TLS: a TLSSocket is a net.Socket) connection as a ByteStream. */
export class SocketStream implements ByteStream {
  readonly transport: string;
  readonly remoteAddress: string;
  private readonly socket: net.Socket;

  constructor(socket: net.Socket, transport = 'tcp') {
    this.socket = socket;
    this.transport = transport;
    this.remoteAddress = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
    // Frames are written whole and corked per tick, so Nagle's delay would only add latency.
    socket.setNoDelay(true);
  }

  get bufferedAmount(): number {
    return this.socket.writableLength;
  }

  attach(handler: StreamHandler): void {
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
