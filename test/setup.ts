// Runs in every integration test file: each must stop what it started. A process
// left running would otherwise be killed silently by the harness's exit hook.
import { afterAll, expect } from 'vitest';
import { ManagedProcess } from '../harness/process.js';

afterAll(() => {
  const left = ManagedProcess.live().map((p) => `${p.name} (pid ${p.pid})`);
  expect(left, 'processes this test file started and never stopped').toEqual([]);
});
