/**
 * The log for a person at a terminal: each of pino's JSON lines becomes one short line,
 *
 *   18:02:51.120 INFO  listening host=127.0.0.1 port=61613 transport=tcp
 *
 * with the time of day, the level, the message and the entry's plain fields. Nested objects
 * (the full configuration at start) are left out; an error shows its message. JSON lines
 * stay the format for files and log collectors (`--log-format json`).
 */
import type { BrokerAddress } from '../server.js';

const LEVELS: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO ',
  40: 'WARN ',
  50: 'ERROR',
  60: 'FATAL',
};

/** Fields every pino line has, or that the line shows in its own place. */
const SKIPPED = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg']);

/**
 * Quoted when it has spaces, quotes, `=`, or control characters: values may come from
 * clients (a login, an error's detail), and must not reach the terminal as escape sequences.
 */
const NEEDS_QUOTES = /[\s"=\x00-\x1f\x7f-\x9f]/;
const CONTROL = /[\x00-\x1f\x7f-\x9f]/;

function plain(value: unknown): string | undefined {
  if (typeof value === 'string') return NEEDS_QUOTES.test(value) ? JSON.stringify(value) : value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

/** The message as it is, unless it holds control characters. */
function message(text: string): string {
  return CONTROL.test(text) ? JSON.stringify(text) : text;
}

function timeOfDay(ms: number): string {
  const d = new Date(ms);
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

/** One JSON log line as a short line of text. */
export function prettyLine(json: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.trimEnd();
  }
  const parts = [
    timeOfDay(typeof entry.time === 'number' ? entry.time : Date.now()),
    LEVELS[entry.level as number] ?? String(entry.level),
    message(String(entry.msg ?? '')),
  ];
  for (const [k, v] of Object.entries(entry)) {
    if (SKIPPED.has(k)) continue;
    if (k === 'err' && v !== null && typeof v === 'object') {
      parts.push(`err=${plain((v as { message?: unknown }).message) ?? '?'}`);
      continue;
    }
    const text = plain(v);
    if (text !== undefined) parts.push(`${k}=${text}`);
  }
  return parts.join(' ');
}

/** A pino destination that writes pretty lines to `out`. */
export function prettyDestination(out: NodeJS.WritableStream): { write(chunk: string): void } {
  return {
    write(chunk: string) {
      for (const line of chunk.split('\n')) if (line !== '') out.write(prettyLine(line) + '\n');
    },
  };
}

/** What the banner shows of a started broker. */
export interface BannerFacts {
  version: string;
  address: BrokerAddress;
  wsPath: string;
  /** The database file, or undefined for the memory store. */
  database: string | undefined;
  usersFile: string | undefined;
}

/** The lines a person sees once coilmq is up: what listens where, where data is, how to stop. */
export function banner(f: BannerFacts): string {
  const a = f.address;
  const host = a.host.includes(':') ? `[${a.host}]` : a.host;
  const rows: Array<[string, string]> = [['STOMP', `${host}:${a.port} (tcp)`]];
  if (a.tlsPort !== undefined) rows.push(['STOMP over TLS', `${host}:${a.tlsPort}`]);
  if (a.wsPort !== undefined) rows.push(['WebSocket', `ws://${host}:${a.wsPort}${f.wsPath}`]);
  if (a.wssPort !== undefined)
    rows.push(['Secure WebSocket', `wss://${host}:${a.wssPort}${f.wsPath}`]);
  rows.push([
    'Messages',
    f.database === undefined
      ? 'in memory only (--store memory): lost when coilmq stops'
      : `${f.database} (SQLite)`,
  ]);
  rows.push([
    'Logins',
    f.usersFile === undefined
      ? 'every login accepted (no --users file)'
      : `users from ${f.usersFile}`,
  ]);
  const width = Math.max(...rows.map(([k]) => k.length));
  return [
    '',
    `  coilmq ${f.version} is running`,
    '',
    ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`),
    '',
    '  Ctrl-C to stop.',
    '',
  ].join('\n');
}
