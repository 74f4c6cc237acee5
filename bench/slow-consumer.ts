/**
 * A consumer that reads slowly (paused 40 ms of every 50 ms) while a producer pushes 1 GiB of
 * 64 KiB transient messages through a queue: the broker's peak RSS (issue 7's target: under
 * 256 MB). Runs the real binary (build first: npm run build).
 *
 *   node --import tsx bench/slow-consumer.ts
 */
import net from 'node:net';
import { startCoilmqBinary } from './coilmq-binary.js';

const broker = await startCoilmqBinary([]);
const port = broker.port;
const hwm = (): number => broker.memoryMB('VmHWM');
const N = 16384;
const body = Buffer.alloc(65536, 0x61);
const frame = Buffer.concat([
  Buffer.from(`SEND\ndestination:/queue/slow\npersistent:false\ncontent-length:${body.length}\n\n`),
  body,
  Buffer.from([0]),
]);
const cons = net.connect(port, '127.0.0.1');
cons.write(
  'CONNECT\naccept-version:1.2\nhost:x\n\n\0SUBSCRIBE\nid:0\ndestination:/queue/slow\n\n\0',
);
let bytes = 0;
cons.on('data', (d: Buffer) => {
  bytes += d.length;
});
// Slow reader: reads for 10 ms, then stops for 40 ms.
const slow = setInterval(() => {
  cons.pause();
  setTimeout(() => cons.resume(), 40);
}, 50);
const prod = net.connect(port, '127.0.0.1');
prod.write('CONNECT\naccept-version:1.2\nhost:x\n\n\0');
const t0 = Date.now();
let sent = 0;
await new Promise<void>((resolve) => {
  const pump = () => {
    while (sent < N) {
      sent++;
      if (!prod.write(frame)) {
        prod.once('drain', pump);
        return;
      }
    }
    resolve();
  };
  pump();
});
while (bytes < N * 65536) await new Promise((r) => setTimeout(r, 100));
console.log(
  `1 GiB through a slow consumer in ${((Date.now() - t0) / 1000).toFixed(1)} s, ${N} messages; broker peak RSS ${hwm().toFixed(1)} MB`,
);
clearInterval(slow);
cons.destroy();
prod.destroy();
broker.stop();
