// The credentials loop's Lease on a real kube-apiserver: one holder at a time, renewed by
// it, taken over only once it has expired, and a race between two replicas won by one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlane } from '../../harness/kube.js';
import { Lease } from '../../webhook/lease.js';

describe('Lease', () => {
  let cluster: ControlPlane;
  let namespace: string;
  let clock = Date.parse('2026-12-05T12:00:00Z');
  const now = () => new Date(clock);

  const replica = (identity: string, name = 'kaos-memory-credentials') =>
    new Lease(cluster.kubeConfig(), { namespace, name, identity, durationSeconds: 90, now });

  beforeAll(async () => {
    cluster = await ControlPlane.start();
    namespace = await cluster.namespace('lease');
  }, 180_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  it('is held by one replica until it stops renewing, then taken over', async () => {
    const a = replica('webhook-a');
    const b = replica('webhook-b');
    expect(await a.acquire()).toBe(true);
    expect(await b.acquire()).toBe(false);
    clock += 60_000;
    expect(await a.acquire()).toBe(true); // renewed at +60 s
    clock += 60_000;
    expect(await b.acquire()).toBe(false); // 60 s after the renewal: still a's
    clock += 31_000;
    expect(await b.acquire()).toBe(true); // 91 s after it: expired
    expect(await a.acquire()).toBe(false);
    expect(await b.acquire()).toBe(true);
  });

  it('a race for a free Lease has exactly one winner', async () => {
    const replicas = Array.from({ length: 6 }, (_, i) => replica(`webhook-${i}`, 'raced'));
    const won = await Promise.all(replicas.map((r) => r.acquire()));
    expect(won.filter(Boolean)).toHaveLength(1);
  });
});
