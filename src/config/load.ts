/**
 * Loads the configuration: the YAML file, then the `COILMQ_...` environment variables, then
 * the command-line flags, each overriding the one before, validated once by the schema.
 * Every problem is reported with where the value came from (the file, line and key; the
 * environment variable; the flag), the key, and what is expected.
 */
import { readFileSync } from 'node:fs';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import {
  CONFIG_ENV,
  configSchema,
  DEFAULTS,
  envName,
  FIELD_BY_ENV,
  FIELD_BY_PATH,
  KNOWN_KEYS,
  type Config,
  type Kind,
} from './schema.js';

/** A configuration that cannot be used. Each problem is one line for the operator. */
export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Where a setting's value came from. */
export type Origin =
  | { kind: 'default' }
  | { kind: 'file'; file: string }
  | { kind: 'env'; name: string }
  | { kind: 'flag'; flag: string };

export interface ConfigInput {
  /** The configuration file named by `-c/--config`; else `COILMQ_CONFIG` names it. */
  configFlag?: string;
  /** The environment (process.env). */
  env?: Record<string, string | undefined>;
  /** Values given on the command line, by dotted key: the value and the flag as written. */
  flags?: ReadonlyMap<string, { value: unknown; flag: string }>;
}

export interface LoadedConfig {
  config: Config;
  /** The configuration file read, if any. */
  file: string | undefined;
  /** Where a dotted key's value came from. */
  origin(path: string): Origin;
  /** A dotted key as the operator gave it: `--port`, `COILMQ_PORT`, `coilmq.yaml: listeners.port`. */
  describe(path: string): string;
  /** Settings given but not used (those of a store that is not the one chosen), to log. */
  notes: string[];
}

/** The settings of the SQLite store: a configuration may keep them while it uses memory. */
const SQLITE_SETTINGS = ['store.dataDir', 'store.synchronous', 'store.batchWindowMs'];

type Raw = Record<string, unknown>;
type Path = ReadonlyArray<PropertyKey>;

const isObject = (v: unknown): v is Raw => v !== null && typeof v === 'object' && !Array.isArray(v);

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/i;
const TRUE = /^(?:true|yes|on|1)$/i;
const FALSE = /^(?:false|no|off|0)$/i;

/** A value given as text, read as its setting's kind; left as text when it is not one. */
export function fromText(kind: Kind, text: string): unknown {
  const s = text.trim();
  switch (kind) {
    case 'int':
    case 'number':
      return NUMBER.test(s) ? Number(s) : text;
    case 'bool':
      return TRUE.test(s) ? true : FALSE.test(s) ? false : text;
    case 'list':
      return s
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x !== '');
    case 'string':
      return text;
  }
}

function setIn(tree: Raw, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = tree;
  for (const k of keys.slice(0, -1)) {
    const next = node[k];
    if (next === undefined || next === null) node = node[k] = {};
    else if (isObject(next)) node = next;
    else return; // the file has something else there: its own error is reported
  }
  node[keys[keys.length - 1]!] = value;
}

/** `['acl', 0, 'allow']` -> `acl[0].allow`. */
function dotted(path: Path): string {
  let s = '';
  for (const k of path) {
    if (typeof k === 'number') s += `[${k}]`;
    else s += s === '' ? String(k) : `.${String(k)}`;
  }
  return s;
}

/** Key for the provenance map and FIELD_BY_PATH: numbers dropped past the first. */
function keyOf(path: Path): string {
  return path.map(String).join('.');
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'string') return JSON.stringify(v);
  try {
    const s = JSON.stringify(v);
    return s.length > 60 ? s.slice(0, 57) + '...' : s;
  } catch {
    return String(v);
  }
}

/** Edit distance, a swap of two neighbours counting as one edit (optimal string alignment). */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        v = Math.min(v, d[i - 2]![j - 2]! + 1);
      }
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The known name closest to `name` (ignoring case, `-` and `_`), if one is close. */
export function suggest(name: string, known: Iterable<string>): string | undefined {
  const norm = (s: string): string => s.toLowerCase().replace(/[-_]/g, '');
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = distance(norm(name), norm(k));
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return bestD <= Math.max(1, Math.floor(name.length / 4)) ? best : undefined;
}

/** The YAML file: its values, and where each key is (line:column). */
class YamlFile {
  readonly values: Raw;
  private readonly doc: Document;
  private readonly lines: LineCounter;

  constructor(
    readonly file: string,
    text: string,
  ) {
    this.lines = new LineCounter();
    this.doc = parseDocument(text, { lineCounter: this.lines, prettyErrors: true });
    if (this.doc.errors.length > 0) {
      // The first syntax error only: those after it usually follow from it.
      throw new ConfigError(
        this.doc.errors.slice(0, 1).map((e) => {
          const pos = e.linePos?.[0];
          const at = pos === undefined ? '' : `:${pos.line}:${pos.col}`;
          return `${file}${at}: not valid YAML: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`;
        }),
      );
    }
    const v: unknown = this.doc.toJS();
    if (v === null || v === undefined) this.values = {};
    else if (isObject(v)) this.values = v;
    else throw new ConfigError([`${file}: expected a mapping of settings at the top level`]);
  }

  /** `file:line:col` of the key at `path` (of its value, for array elements). */
  where(path: Path): string {
    let node: unknown = this.doc.contents;
    let at: Node | undefined;
    for (const k of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(k));
        if (pair === undefined) break;
        at = pair.key as Node;
        node = pair.value;
      } else if (isSeq(node) && typeof k === 'number' && node.items[k] !== undefined) {
        node = node.items[k];
        at = node as Node;
      } else break;
    }
    const offset = at?.range?.[0];
    if (offset === undefined) return this.file;
    const { line, col } = this.lines.linePos(offset);
    return `${this.file}:${line}:${col}`;
  }
}

function readConfigFile(file: string, via: string): YamlFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : (e.code ?? e.message);
    throw new ConfigError([`${via} ${file}: cannot read the configuration file: ${why}`]);
  }
  return new YamlFile(file, text);
}

/** Applies the defaults to a validated configuration. */
function withDefaults(v: Raw): Config {
  const merge = (d: unknown, x: unknown): unknown => {
    if (x === undefined) return structuredClone(d);
    if (isObject(d) && isObject(x)) {
      const out: Raw = {};
      for (const k of new Set([...Object.keys(d), ...Object.keys(x)])) out[k] = merge(d[k], x[k]);
      return out;
    }
    return x;
  };
  const c = merge(DEFAULTS, v) as Config;
  const tls = c.listeners.tls as Partial<NonNullable<Config['listeners']['tls']>> | undefined;
  if (tls?.cert === undefined) delete c.listeners.tls;
  else if (tls.wssPort === 0) delete tls.wssPort;
  for (const k of Object.keys(c) as Array<keyof Config>) if (c[k] === undefined) delete c[k];
  return c;
}

/**
 * Reads, merges and validates the configuration. Throws ConfigError listing every problem
 * found, each naming where the value came from, the key and what is expected.
 */
export function loadConfig(input: ConfigInput = {}): LoadedConfig {
  const env = input.env ?? {};
  const flags = input.flags ?? new Map();
  const problems: string[] = [];

  // 1. the file
  let yaml: YamlFile | undefined;
  const envFile = env[CONFIG_ENV];
  const fileName =
    input.configFlag ?? (envFile !== undefined && envFile !== '' ? envFile : undefined);
  if (fileName !== undefined) {
    yaml = readConfigFile(
      fileName,
      input.configFlag !== undefined ? '--config' : `environment variable ${CONFIG_ENV}:`,
    );
  }
  const raw: Raw = structuredClone(yaml?.values ?? {});
  const origins = new Map<string, Origin>();

  // 2. the environment
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('COILMQ_') || name === CONFIG_ENV) continue;
    if (value === undefined || value === '') continue; // empty is unset
    const field = FIELD_BY_ENV.get(name);
    if (field === undefined) {
      const s = suggest(name, [...FIELD_BY_ENV.keys(), CONFIG_ENV]);
      problems.push(
        `environment variable ${name}: unknown setting${s === undefined ? '' : ` (did you mean ${s}?)`}`,
      );
      continue;
    }
    setIn(raw, field.path, fromText(field.kind, value));
    origins.set(field.path, { kind: 'env', name });
  }

  // 3. the flags
  for (const [path, { value, flag }] of flags) {
    const field = FIELD_BY_PATH.get(path);
    if (field === undefined) throw new Error(`no setting ${path}`);
    setIn(raw, path, typeof value === 'string' ? fromText(field.kind, value) : value);
    origins.set(path, { kind: 'flag', flag });
  }

  const fileOrigin: Origin =
    yaml === undefined ? { kind: 'default' } : { kind: 'file', file: yaml.file };
  const origin = (path: string | Path): Origin => {
    const parts = typeof path === 'string' ? path.split('.') : path.map(String);
    for (let n = parts.length; n > 0; n--) {
      const o = origins.get(parts.slice(0, n).join('.'));
      if (o !== undefined) return o;
    }
    return get(raw, parts) === undefined ? { kind: 'default' } : fileOrigin;
  };
  /** A key named the way `style` gives settings. */
  const nameIn = (style: Origin, path: string): string => {
    const f = FIELD_BY_PATH.get(path);
    if (style.kind === 'flag' && f?.flag !== undefined) return `--${f.flag}`;
    if (style.kind === 'env' && f?.flag !== undefined) return envName(f.flag);
    return path;
  };
  const describe = (path: string): string => {
    const o = origin(path);
    switch (o.kind) {
      case 'flag':
        return o.flag;
      case 'env':
        return `environment variable ${o.name}`;
      case 'file':
        return `${yaml!.where(path.split('.'))}: ${path}`;
      default:
        return path;
    }
  };
  /** `where: ` for a problem at `path`. */
  const prefix = (path: Path): string => {
    const o = origin(path);
    switch (o.kind) {
      case 'flag':
        return `${o.flag}: `;
      case 'env':
        return `environment variable ${o.name}: `;
      case 'file':
        return `${yaml!.where(path)}: ${dotted(path)}: `;
      default:
        return path.length > 0 ? `${dotted(path)}: ` : '';
    }
  };

  // 4. one validation
  const result = (configSchema as z.ZodType<Raw>).safeParse(raw, { reportInput: true });
  if (!result.success) {
    for (const issue of result.error.issues) {
      const path = issue.path;
      if (issue.code === 'unrecognized_keys') {
        const known = KNOWN_KEYS.get(
          path.length === 2 && path[0] === 'acl' ? 'acl.*' : keyOf(path),
        );
        for (const key of issue.keys) {
          const s = known === undefined ? undefined : suggest(key, known);
          const hint =
            s !== undefined
              ? ` (did you mean ${s}?)`
              : known !== undefined
                ? ` (expected one of: ${known.join(', ')})`
                : '';
          const at = yaml?.where([...path, key]) ?? 'configuration';
          problems.push(`${at}: unknown key ${dotted([...path, key])}${hint}`);
        }
        continue;
      }
      const o = origin(path);
      const message = issue.message.replace(/\{([\w.]+)\}/g, (_, p: string) => nameIn(o, p));
      problems.push(
        issue.code === 'custom' && issue.params?.crossCheck === true
          ? `${prefix(path)}${message}`
          : `${prefix(path)}expected ${message}, got ${show(issue.input)}`,
      );
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const config = withDefaults(result.data!);
  // A copied example file keeps the SQLite settings when --store memory is chosen: they
  // are ignored, and said so, rather than refused.
  const notes: string[] = [];
  if (config.store.kind === 'memory') {
    for (const p of SQLITE_SETTINGS) {
      if (get(raw, p.split('.')) !== undefined) {
        notes.push(`${describe(p)}: ignored, the store is memory (${describe('store.kind')})`);
      }
    }
  }
  return { config, file: yaml?.file, origin: (path) => origin(path), describe, notes };
}

function get(raw: unknown, parts: readonly string[]): unknown {
  let v = raw;
  for (const k of parts) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Raw)[k];
  }
  return v;
}
