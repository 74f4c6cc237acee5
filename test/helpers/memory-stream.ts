/**
 * A ByteStream kept in memory: what a session writes is collected as bytes, and the test
 * feeds it input with `receive`. It lets a session be driven without a socket, as an
 * embedder with a transport of its own would (Broker.handle), and lets the write path be
 * unit-tested (cork, uncork and each write are recorded).
 */
import type { ByteStream, StreamHandler } from '../../src/index.js';

export class MemoryStream implements ByteStream {
  readonly transport: string;
  readonly remoteAddress = 'memory';
  /** Every write, as it was handed over (a view of a slab stays a view). */
  readonly writes: Buffer[] = [];
  /** cork, uncork, write, end, destroy, pause, resume, waitDrain: in order. */
  readonly events: string[] = [];
  bufferedAmount = 0;
  ended = false;
  destroyed = false;
  paused = false;
  private handler: StreamHandler | undefined;
  private corks = 0;

  constructor(transport = 'memory') {
    this.transport = transport;
  }

  attach(handler: StreamHandler): void {
    this.handler = handler;
  }

  /** Input from the peer. */
  receive(data: string | Buffer): void {
    this.handler!.onData(typeof data === 'string' ? Buffer.from(data) : data);
  }

  /** The peer closes. */
  close(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.handler!.onClose();
  }

  /** Everything written so far, as text. */
  get text(): string {
    return Buffer.concat(this.writes).toString();
  }

  /** The frames written so far (split on NUL), heart-beats left out. */
  get frames(): string[] {
    return this.text
      .split('\0')
      .map((f) => f.replace(/^\n+/, ''))
      .filter((f) => f !== '');
  }

  write(chunk: Buffer): boolean {
    this.events.push('write');
    this.writes.push(chunk);
    return true;
  }

  waitDrain(): void {
    this.events.push('waitDrain');
  }

  cork(): void {
    this.corks++;
    this.events.push('cork');
  }

  uncork(): void {
    this.corks--;
    this.events.push('uncork');
  }

  get corked(): boolean {
    return this.corks > 0;
  }

  pauseReading(): void {
    this.paused = true;
    this.events.push('pause');
  }

  resumeReading(): void {
    this.paused = false;
    this.events.push('resume');
  }

  end(): void {
    this.ended = true;
    this.events.push('end');
    // A real stream reports its close once the peer has read the rest.
    setImmediate(() => this.close());
  }

  destroy(): void {
    this.events.push('destroy');
    this.close();
  }
}

/** Resolves after the current tick's corked output has been flushed. */
export function nextTick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
