/**
 * A session's write path on its own (src/broker/output.ts), without sockets or the protocol
 * rules: turns of N MESSAGEs (256 B bodies, STOMP 1.2) written through Output into a stream
 * that only counts what it is handed, then the turn's uncork. The sink costs nothing per
 * write, so this times the encoding and the slab bookkeeping alone: a turn of 1 (every
 * frame a buffer of its own), longer turns (MESSAGEs after the first encoded into one slab)
 * and WebSocket (every frame on its own). What batching saves on a real socket, one write
 * per turn instead of one per frame, is measured end to end by bench/broker.ts.
 *
 *   node --import tsx bench/output.ts       # this benchmark alone
 *   npm run bench -- output                 # through bench/run.ts
 */
import type { ByteStream, StreamHandler } from '../src/broker/stream.js';
import { Output, TickFlusher } from '../src/broker/output.js';
import { SharedMessage, type StompVersion } from '../src/protocol/index.js';
import { isMain, runStandalone, type Benchmark, type BenchContext } from './harness.js';

const VERSION: StompVersion = '1.2';

/** A stream that takes every write at once and keeps nothing: only the write path is timed. */
class CountingStream implements ByteStream {
  readonly remoteAddress = 'bench';
  readonly bufferedAmount = 0;
  bytes = 0;
  writes = 0;

  constructor(readonly transport: string) {}

  attach(_handler: StreamHandler): void {}
  write(chunk: Buffer): boolean {
    this.bytes += chunk.length;
    this.writes++;
    return true;
  }
  waitDrain(): void {}
  cork(): void {}
  uncork(): void {}
  pauseReading(): void {}
  resumeReading(): void {}
  end(): void {}
  destroy(): void {}
}

export const output: Benchmark = async (ctx: BenchContext) => {
  const body = Buffer.alloc(256, 0x61);
  const message = new SharedMessage(
    ['destination', '/queue/orders', 'content-type', 'application/json'],
    body,
    true,
  );
  const lines = Array.from(
    { length: 1024 },
    (_, i) => `MESSAGE\nsubscription:0\nmessage-id:3f2a9c1e-${i}\n`,
  );
  for (const [transport, perTurn] of [
    ['tcp', 1],
    ['tcp', 16],
    ['tcp', 256],
    ['ws', 16],
  ] as const) {
    const stream = new CountingStream(transport);
    const out = new Output(stream, new TickFlusher(), 1 << 30);
    // Bytes of one turn, measured once.
    for (let i = 0; i < perTurn; i++) out.writeMessage(message, VERSION, lines[i]!, true);
    out.uncork();
    const turnBytes = stream.bytes;
    let k = 0;
    await ctx.case(`${transport}/${perTurn}-per-turn`, perTurn, turnBytes, () => {
      for (let i = 0; i < perTurn; i++) {
        out.writeMessage(message, VERSION, lines[k++ & 1023]!, true);
      }
      out.uncork();
    });
  }
};

if (isMain(import.meta.url)) await runStandalone('output', output);
