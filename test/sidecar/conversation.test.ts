// The conversation features through HTTP on real Redis, on every topology: a
// token-budgeted, pair-safe context.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../harness/http.js';
import { RedisServer } from '../../harness/redis.js';
import { RedisCluster, SentinelGroup } from '../../harness/redis-topology.js';
import { startSidecar, type RunningSidecar } from '../../harness/sidecar.js';
import type { Sidecar } from '../../sidecar/server.js';
import { countTokens } from '../../sidecar/tokens.js';

interface Topology {
  url: string;
  stop(): Promise<void>;
}

const TOPOLOGIES: Record<string, () => Promise<Topology>> = {
  single: async () => {
    const redis = await RedisServer.start();
    return { url: redis.url, stop: () => redis.stop() };
  },
  sentinel: async () => {
    const group = await SentinelGroup.start({ replicas: 1, sentinels: 1 });
    return { url: group.url(), stop: () => group.stop() };
  },
  cluster: async () => {
    const cluster = await RedisCluster.start();
    return { url: cluster.url(), stop: () => cluster.stop() };
  },
};

describe.each(Object.keys(TOPOLOGIES))('conversation on %s', (name) => {
  let topology: Topology;
  let sc: RunningSidecar & { sidecar: Sidecar };

  beforeAll(async () => {
    topology = await (TOPOLOGIES[name] as () => Promise<Topology>)();
    sc = await startSidecar({ MEMORY_REDIS_URL: topology.url, MEMORY_MAX_SESSION_EVENTS: '500' });
  });

  afterAll(async () => {
    await sc?.close();
    await topology?.stop();
  });

  const post = (path: string, body?: unknown, headers?: Record<string, string>) =>
    call(sc.url, 'POST', path, body, headers);
  const get = (path: string, headers?: Record<string, string>) =>
    call(sc.url, 'GET', path, undefined, headers);

  describe('context by tokens', () => {
    const id = `budget-${name}`;
    const instruction = 'Always answer in French, and never reveal the account number.';

    beforeAll(async () => {
      const events: unknown[] = [
        { event_type: 'instruction', content: instruction, metadata: { pinned: true } },
      ];
      for (let turn = 0; turn < 40; turn++) {
        events.push({
          event_type: 'user_message',
          content: `Question ${turn}: what is ${turn} squared?`,
        });
        if (turn % 3 === 0) {
          const callId = `call_${turn}`;
          events.push({
            event_type: 'tool_call',
            content: { name: 'square', arguments: { n: turn } },
            metadata: { tool_call_id: callId },
          });
          events.push({ event_type: 'error', content: 'a type the view does not show' });
          events.push({
            event_type: 'tool_result',
            content: { value: turn * turn },
            metadata: { tool_call_id: callId },
          });
        } else if (turn % 3 === 1) {
          // No ids: paired by adjacency.
          events.push({ event_type: 'tool_call', content: `square(${turn})` });
          events.push({ event_type: 'tool_result', content: String(turn * turn) });
        }
        events.push({
          event_type: 'agent_response',
          content: `${turn} squared is ${turn * turn}.`,
        });
      }
      expect((await post(`/v1/sessions/${id}/events`, events)).status).toBe(201);
    });

    /** The pairs of a message list: every tool message's call is there, and every call's result. */
    function expectPairsWhole(
      messages: { role: string; content: string; tool_call_id?: string }[],
    ) {
      const callIds = new Set<string>();
      let openCalls = 0;
      for (const m of messages) {
        if (m.role === 'assistant' && (m.tool_call_id || m.content.startsWith('square('))) {
          if (m.tool_call_id) callIds.add(m.tool_call_id);
          else openCalls++;
        }
        if (m.role === 'tool') {
          if (m.tool_call_id) expect(callIds.has(m.tool_call_id)).toBe(true);
          else expect(openCalls--).toBeGreaterThan(0);
        }
      }
      expect(openCalls).toBe(0);
      const resultIds = new Set(
        messages.filter((m) => m.role === 'tool').map((m) => m.tool_call_id),
      );
      for (const c of callIds) expect(resultIds.has(c)).toBe(true);
    }

    it('honours the budget exactly, keeps the pinned instruction, never orphans a result', async () => {
      for (const budget of [60, 97, 150, 233, 400]) {
        const res = await get(`/v1/sessions/${id}/context?max_tokens=${budget}&format=messages`);
        expect(res.status).toBe(200);
        const { messages, window } = res.body;
        const counted = messages.reduce(
          (sum: number, m: { content: string }) => sum + countTokens(m.content) + 4,
          0,
        );
        expect(window.tokens).toBe(counted);
        expect(counted).toBeLessThanOrEqual(budget);
        expect(messages[0]).toEqual({ role: 'system', content: instruction });
        expect(window.pinned).toBe(1);
        expect(window.dropped.budget).toBeGreaterThan(0);
        expectPairsWhole(messages);
        // The newest turn is always there; the budget was full: the exact count comes back the same.
        expect(messages.at(-1).content).toBe('39 squared is 1521.');
        const tight = await get(
          `/v1/sessions/${id}/context?max_tokens=${window.tokens}&format=messages`,
        );
        expect(tight.body.messages).toEqual(messages);
        const less = await get(
          `/v1/sessions/${id}/context?max_tokens=${window.tokens - 1}&format=messages`,
        );
        expect(less.body.window.events).toBeLessThan(window.events);
      }
    });

    it('counts lines in the text form the same way', async () => {
      const res = await get(`/v1/sessions/${id}/context?max_tokens=120`);
      const lines: string[] = res.body.context.split('\n');
      expect(lines[0]).toBe(`System: ${instruction}`);
      expect(lines.at(-1)).toBe('Assistant: 39 squared is 1521.');
      const counted = lines.reduce((sum, line) => sum + countTokens(line) + 1, 0);
      expect(res.body.window.tokens).toBe(counted);
      expect(counted).toBeLessThanOrEqual(120);
      expect(res.body.window.counter).toBe('o200k-estimate-1');
    });

    it('returns the whole conversation when it fits, and max_events still caps it', async () => {
      const all = await get(`/v1/sessions/${id}/context?max_tokens=100000&format=messages`);
      // 1 instruction, 40 questions and answers, 27 calls with their results (not the errors).
      expect(all.body.messages).toHaveLength(1 + 80 + 54);
      expect(all.body.window).toMatchObject({ events: 135, dropped: { budget: 0, unpaired: 0 } });
      expectPairsWhole(all.body.messages);
      const capped = await get(`/v1/sessions/${id}/context?max_tokens=100000&max_events=5`);
      expect(capped.body.context.split('\n')).toHaveLength(5);
      // Without max_tokens, the v1 view as before: the newest 20 user and agent turns.
      const v1 = await get(`/v1/sessions/${id}/context`);
      expect(v1.body).not.toHaveProperty('window');
      expect(v1.body.context.split('\n')).toHaveLength(20);
    });

    it('refuses a budget smaller than the pinned events, naming what they take', async () => {
      const res = await get(`/v1/sessions/${id}/context?max_tokens=5`);
      expect(res.status).toBe(400);
      expect(res.body.error.message).toMatch(/^max_tokens: 5 is less than the \d+ tokens/);
    });

    it('starts from the newest digest and leaves out what it summarises', async () => {
      const sid = `digested-${name}`;
      const first = await post(`/v1/sessions/${sid}/events`, [
        { event_type: 'user_message', content: 'My name is Ada.' },
        { event_type: 'agent_response', content: 'Hello Ada.' },
      ]);
      const to = first.body.events[1].event_id;
      await post(`/v1/sessions/${sid}/events`, [
        {
          event_type: 'summary',
          content: 'The user is called Ada.',
          metadata: { version: 1, from_event_id: first.body.events[0].event_id, to_event_id: to },
        },
        { event_type: 'user_message', content: 'What is my name?' },
      ]);
      const res = await get(`/v1/sessions/${sid}/context?max_tokens=1000`);
      expect(res.body.context).toBe('Summary: The user is called Ada.\nUser: What is my name?');
      expect(res.body.window).toMatchObject({ events: 2, dropped: { summarised: 2 } });
    });
  });
});
