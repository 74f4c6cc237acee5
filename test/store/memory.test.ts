/**
 * The memory store against the shared store suite. Its contents outlive close() within
 * the process (open() again shows them), so `reopen` hands back the same store: that
 * runs the suite's close-and-reopen tests on it too.
 */
import { MemoryStore } from '../../src/store/memory.js';
import { storeSuite } from './store-suite.js';

storeSuite('memory', async () => {
  const store = new MemoryStore();
  return {
    store,
    reopen: async () => store,
    cleanup: async () => undefined,
  };
});
