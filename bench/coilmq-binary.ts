/**
 * The real `coilmq` binary as a child process for the standalone memory benchmarks: started
 * on a free loopback port (WebSocket off, memory store), with its memory read from /proc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { freePort } from './rabbitmq.js';

export interface CoilmqBinary {
  child: ChildProcess;
  port: number;
  /** A memory figure of /proc/PID/status in MB: VmRSS now, or VmHWM (the peak). */
  memoryMB(field: 'VmRSS' | 'VmHWM'): number;
  stop(): void;
}

export async function startCoilmqBinary(extra: string[] = []): Promise<CoilmqBinary> {
  const port = await freePort();
  const bin = new URL('../bin/coilmq.js', import.meta.url).pathname;
  const child = spawn(
    process.execPath,
    [bin, '-p', String(port), '--ws-port', '0', '--store', 'memory', ...extra],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('coilmq started')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`coilmq exited (${code}): ${out}`)));
  });
  return {
    child,
    port,
    memoryMB(field) {
      const status = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8');
      return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)![1]) / 1024;
    },
    stop: () => child.kill('SIGTERM'),
  };
}
