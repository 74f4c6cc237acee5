/**
 * Summarises V8 CPU profiles (.cpuprofile, as `node --cpu-prof` writes them, one per
 * thread): where the time went by kind (idle, GC, Node internals, coilmq, ...) and the
 * functions with the most self time, with their inclusive time beside.
 *
 *   node --import tsx bench/broker-profile.ts DIR [TOP]     # every profile in DIR
 *
 * bench/broker.ts uses it after each case when BENCH_BROKER_PROF=DIR is set.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { isMain } from './harness.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

function shortUrl(url: string): string {
  const i = url.search(/\/(src|dist|node_modules|bench)\//);
  if (i >= 0) return url.slice(i + 1);
  return url.replace(/^file:\/\//, '');
}

function kindOf(frame: ProfileNode['callFrame']): string {
  const { functionName: fn, url } = frame;
  if (fn === '(idle)') return 'idle';
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(program)' || fn === '(root)') return 'program (native, unattributed)';
  if (url.startsWith('node:')) return 'node internals';
  if (url.includes('better-sqlite3')) return 'better-sqlite3';
  if (url.includes('/node_modules/')) return 'other modules';
  if (url.includes('/src/') || url.includes('/dist/')) return 'coilmq';
  if (url === '') return 'native';
  return 'other';
}

/** One profile as text: the split by kind, then the top `top` functions by self time. */
export function summarizeProfile(file: string, top = 20): string {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of p.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const key = (n: ProfileNode): string => {
    const f = n.callFrame;
    return `${f.functionName || '(anonymous)'} ${f.url === '' ? '' : `${shortUrl(f.url)}:${f.lineNumber + 1}`}`.trim();
  };
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const kinds = new Map<string, number>();
  let all = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = (p.timeDeltas[i] ?? 0) / 1000; // microseconds -> ms
    if (dt <= 0) continue;
    const node = byId.get(p.samples[i]!);
    if (node === undefined) continue;
    all += dt;
    const k = key(node);
    self.set(k, (self.get(k) ?? 0) + dt);
    const kind = kindOf(node.callFrame);
    kinds.set(kind, (kinds.get(kind) ?? 0) + dt);
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const kk = key(byId.get(id)!);
      if (seen.has(kk)) continue;
      seen.add(kk);
      total.set(kk, (total.get(kk) ?? 0) + dt);
    }
  }
  const pct = (x: number): string => `${((100 * x) / all).toFixed(1).padStart(5)}%`;
  const lines = [`${basename(file)}: ${(all / 1000).toFixed(2)} s sampled`];
  const kindList = [...kinds.entries()].sort((a, b) => b[1] - a[1]);
  lines.push('  ' + kindList.map(([k, v]) => `${k} ${pct(v).trim()}`).join(', '));
  lines.push('  self    total   function');
  const busy = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  for (const [k, v] of busy) lines.push(`  ${pct(v)}  ${pct(total.get(k) ?? 0)}  ${k}`);
  return lines.join('\n');
}

/** Every .cpuprofile in `dir`, largest first. */
export function summarizeProfiles(dir: string, top = 20): string {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(dir, f));
  if (files.length === 0) throw new Error('no .cpuprofile files');
  return files.map((f) => summarizeProfile(f, top)).join('\n');
}

if (isMain(import.meta.url)) {
  const [dir, top] = process.argv.slice(2);
  if (dir === undefined) {
    console.error('usage: node --import tsx bench/broker-profile.ts DIR [TOP]');
    process.exit(2);
  }
  console.log(summarizeProfiles(dir, top === undefined ? 20 : Number(top)));
}
