// The env renderer stands in for the kubelet in the end-to-end tests, so it must
// follow the kubelet's rules (k8s.io/kubernetes third_party/forked/golang/expansion).
import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { expand, renderContainerEnv, type EnvSources } from '../../harness/podenv.js';

const none: EnvSources = {
  secret: () => Promise.resolve(undefined),
  configMap: () => Promise.resolve(undefined),
};

describe('expand', () => {
  const vars = { A: 'a', PASS: 's3cret' };
  it.each([
    ['$(A)', 'a'],
    ['redis://:$(PASS)@host', 'redis://:s3cret@host'],
    ['$(MISSING)', '$(MISSING)'],
    ['$$(A)', '$(A)'],
    ['$$', '$'],
    ['cost $5', 'cost $5'],
    ['end$', 'end$'],
    ['$(A', '$(A'],
    ['$(A$$', '$(A$'],
    ['$(A)$(A)', 'aa'],
  ])('%s → %s', (input, want) => {
    expect(expand(input, vars)).toBe(want);
  });
});

describe('renderContainerEnv', () => {
  const pod: V1Pod = {
    metadata: { name: 'p', namespace: 'ns', labels: { agent: 'memory-agent' } },
    spec: { containers: [] },
  };

  it('expands only from variables defined earlier in the list', async () => {
    const env = await renderContainerEnv(
      pod,
      {
        name: 'c',
        env: [
          { name: 'URL', value: 'redis://:$(PASS)@h' },
          { name: 'PASS', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } },
          { name: 'URL2', value: 'redis://:$(PASS)@h' },
        ],
      },
      { ...none, secret: (name, key) => Promise.resolve(`${name}/${key}`) },
    );
    expect(env).toEqual({ URL: 'redis://:$(PASS)@h', PASS: 's/k', URL2: 'redis://:s/k@h' });
  });

  it('resolves the downward API from the pod', async () => {
    const env = await renderContainerEnv(
      pod,
      {
        name: 'c',
        env: [
          { name: 'AGENT', valueFrom: { fieldRef: { fieldPath: "metadata.labels['agent']" } } },
          { name: 'NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
        ],
      },
      none,
    );
    expect(env).toEqual({ AGENT: 'memory-agent', NS: 'ns' });
  });

  it('refuses a missing required Secret key, and skips an optional one', async () => {
    const ref = { name: 's', key: 'k' };
    await expect(
      renderContainerEnv(
        pod,
        { name: 'c', env: [{ name: 'X', valueFrom: { secretKeyRef: ref } }] },
        none,
      ),
    ).rejects.toThrow('X: Secret s key k not found');
    const env = await renderContainerEnv(
      pod,
      { name: 'c', env: [{ name: 'X', valueFrom: { secretKeyRef: { ...ref, optional: true } } }] },
      none,
    );
    expect(env).toEqual({});
  });
});
