/**
 * The published API is what the README documents, and nothing more. Checked on what npm
 * would publish (dist/, built from src/ when stale): the names dist/index.d.ts exports,
 * the names dist/index.js exports at run time, and a small consumer compiled against the
 * type definitions, which uses every documented method and must not reach the internals.
 * An internal rename or a new export then fails here until the README and this list agree.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import { ensureBuilt, ROOT } from '../helpers/coilmq-process.js';

const DTS = path.join(ROOT, 'dist', 'index.d.ts');
const JS = path.join(ROOT, 'dist', 'index.js');

/** Exported values (present at run time). */
const VALUES = [
  'DEFAULT_OPTIONS',
  'ErrorCodes',
  'Frame',
  'FrameParser',
  'MemoryStore',
  'SqliteStore',
  'StompError',
  'VERSION',
  'encodeFrame',
  'startBroker',
];

/** Exported types only. */
const TYPES = [
  'Action',
  'AuthenticateHook',
  'AuthorizeHook',
  'Broker',
  'BrokerAddress',
  'BrokerOptions',
  'BrokerStats',
  'ByteStream',
  'ConnectionInfo',
  'ErrorCode',
  'Logger',
  'QueueSchedulerName',
  'SqliteStoreOptions',
  'SqliteStoreStats',
  'StompVersion',
  'Store',
  'StoreContents',
  'StoredMessage',
  'StreamHandler',
  'SubscriberSchedulerName',
  'TlsOptions',
];

/** The documented methods of a running broker. */
const BROKER_MEMBERS = ['address', 'close', 'handle', 'queueDepth', 'stats', 'version'];

/** A consumer of the package as an embedder writes one; every line must compile. */
const CONSUMER = `
import {
  startBroker, MemoryStore, SqliteStore, StompError, ErrorCodes, Frame, FrameParser, encodeFrame,
  type Broker, type BrokerOptions, type ByteStream, type StreamHandler, type Store,
  type ConnectionInfo, type ErrorCode, type SqliteStoreOptions,
} from 'coilmq';

const options: BrokerOptions = {
  port: 0,
  wsPort: 0,
  store: new MemoryStore(),
  authenticate: (login: string | undefined, _p: string | undefined, c: ConnectionInfo) =>
    login !== undefined && c.remoteAddress !== '',
  authorize: async (c: ConnectionInfo, action: 'read' | 'write', destination: string) =>
    c.login === 'admin' || (action === 'read' && destination.startsWith('/topic/')),
  maxFrameSize: 1 << 20,
};
const sqlite: SqliteStoreOptions = { path: '/tmp/x.db' };
const store: Store = new SqliteStore(sqlite);

class MyStream implements ByteStream {
  readonly transport = 'mine';
  readonly remoteAddress = 'here';
  readonly bufferedAmount = 0;
  attach(_h: StreamHandler): void {}
  write(_c: Buffer): boolean { return true; }
  waitDrain(): void {}
  cork(): void {}
  uncork(): void {}
  pauseReading(): void {}
  resumeReading(): void {}
  end(): void {}
  destroy(): void {}
}

export async function main(): Promise<void> {
  const broker: Broker = await startBroker(options);
  const { host, port, wsPort } = broker.address();
  broker.handle(new MyStream());
  const n: number = broker.queueDepth('/queue/a') + broker.stats().connections;
  const v: string = broker.version;
  const code: ErrorCode = new StompError('FORBIDDEN').code;
  const text: string = ErrorCodes[code];
  const bytes: Buffer = encodeFrame(Frame.of('SEND', { destination: '/queue/a' }, 'x'), '1.2');
  new FrameParser({ onFrame: (f: Frame) => void f.command, onHeartbeat: () => {} }).push(bytes);
  void [host, port, wsPort, n, v, text, store];
  await broker.close(1000);

  // The engine's internals are not part of the API.
  // @ts-expect-error route is internal
  broker.route;
  // @ts-expect-error the engine is internal
  broker.engine;
  // @ts-expect-error listen() is done by startBroker
  broker.listen;
}
`;

describe('the public API (dist/index.d.ts, dist/index.js)', () => {
  before(async () => {
    await ensureBuilt();
  });

  test('the type definitions export exactly the documented names', () => {
    const program = ts.createProgram([DTS], { strict: true, skipLibCheck: true });
    const checker = program.getTypeChecker();
    const file = program.getSourceFile(DTS)!;
    const exported = checker.getExportsOfModule(checker.getSymbolAtLocation(file)!);
    const names = exported.map((s) => s.getName()).sort();
    assert.deepEqual(names, [...VALUES, ...TYPES].sort());
  });

  test('the Broker type has only its documented members', () => {
    const program = ts.createProgram([DTS], { strict: true, skipLibCheck: true });
    const checker = program.getTypeChecker();
    const file = program.getSourceFile(DTS)!;
    const broker = checker
      .getExportsOfModule(checker.getSymbolAtLocation(file)!)
      .find((s) => s.getName() === 'Broker')!;
    const type = checker.getDeclaredTypeOfSymbol(
      broker.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(broker) : broker,
    );
    const members = checker
      .getPropertiesOfType(type)
      .map((p) => p.getName())
      .sort();
    assert.deepEqual(members, BROKER_MEMBERS);
  });

  test('at run time the package exports exactly the documented values', async () => {
    const mod = (await import(pathToFileURL(JS).href)) as Record<string, unknown>;
    assert.deepEqual(Object.keys(mod).sort(), [...VALUES].sort());
  });

  test('a consumer written against the README compiles, and cannot reach the internals', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coilmq-api-'));
    try {
      const file = path.join(dir, 'consumer.ts');
      fs.writeFileSync(file, CONSUMER);
      const program = ts.createProgram([file], {
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
        types: ['node'],
        typeRoots: [path.join(ROOT, 'node_modules', '@types')],
        paths: { coilmq: [DTS] },
      });
      const problems = ts
        .getPreEmitDiagnostics(program)
        .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      assert.deepEqual(problems, []);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
