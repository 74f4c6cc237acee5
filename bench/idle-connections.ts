/**
 * 2,000 idle connections with heart-beats: the broker's RSS per connection (issue 7's target:
 * at most 16 KiB each). Runs the real binary (build first: npm run build).
 *
 *   node --import tsx bench/idle-connections.ts
 */
import net from 'node:net';
import { startCoilmqBinary } from './coilmq-binary.js';

const broker = await startCoilmqBinary(['--max-connections', '5000']);
const port = broker.port;
const rss = (): number => broker.memoryMB('VmRSS');
await new Promise((r) => setTimeout(r, 500));
const before = rss();
const socks: net.Socket[] = [];
for (let i = 0; i < 2000; i++) {
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => {});
  s.write('CONNECT\naccept-version:1.2\nhost:x\nheart-beat:10000,10000\n\n\0');
  s.resume();
  socks.push(s);
  if (i % 200 === 199) await new Promise((r) => setTimeout(r, 50));
}
await new Promise((r) => setTimeout(r, 3000));
const after = rss();
console.log(
  `RSS before ${before.toFixed(1)} MB, with 2000 idle connections ${after.toFixed(1)} MB: ${(((after - before) * 1024) / 2000).toFixed(1)} KiB per connection`,
);
for (const s of socks) s.destroy();
broker.stop();
