import type { Store, StoreContents, StoredMessage } from './store.js';

/**
 * A Store kept in memory: nothing survives a restart. It is the reference implementation
 * the shared store suite is written against, and what tests use when a store is needed
 * without a disk.
 */
export class MemoryStore implements Store {
  private readonly bySeq = new Map<number, StoredMessage>();
  private maxSeq = 0;
  private closed = false;

  open(): Promise<StoreContents> {
    this.closed = false;
    const counts = new Map<string, number>();
    for (const m of this.bySeq.values()) counts.set(m.queue, (counts.get(m.queue) ?? 0) + 1);
    return Promise.resolve({
      queues: [...counts].map(([name, count]) => ({ name, count })),
      maxSeq: this.maxSeq,
    });
  }

  add(message: StoredMessage): void {
    this.check();
    // Copy, so that later changes by the caller do not reach the stored record.
    this.bySeq.set(message.seq, { ...message, headers: [...message.headers] });
    if (message.seq > this.maxSeq) this.maxSeq = message.seq;
  }

  remove(seq: number): void {
    this.check();
    this.bySeq.delete(seq);
  }

  setDeliveries(seq: number, deliveries: number): void {
    this.check();
    const m = this.bySeq.get(seq);
    if (m !== undefined) m.deliveries = deliveries;
  }

  sync(done: (err?: Error) => void): void {
    queueMicrotask(() => done(this.closed ? new Error('store is closed') : undefined));
  }

  load(queue: string, afterSeq: number, limit: number): Promise<StoredMessage[]> {
    const out: StoredMessage[] = [];
    for (const m of this.bySeq.values()) {
      if (m.queue === queue && m.seq > afterSeq) out.push({ ...m, headers: [...m.headers] });
    }
    out.sort((a, b) => a.seq - b.seq);
    return Promise.resolve(out.slice(0, limit));
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  private check(): void {
    if (this.closed) throw new Error('store is closed');
  }
}
