import type { V1MutatingWebhookConfiguration } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { injectedNamespace, looksOwn, selects } from './ownership.js';

describe('selects', () => {
  it('matches labels and the four operators as the API server does', () => {
    const labels = { team: 'a', tier: 'gold' };
    expect(selects(undefined, labels)).toBe(true);
    expect(selects({ matchLabels: { team: 'a' } }, labels)).toBe(true);
    expect(selects({ matchLabels: { team: 'b' } }, labels)).toBe(false);
    const expr = (operator: string, values?: string[]) =>
      selects({ matchExpressions: [{ key: 'team', operator, values }] }, labels);
    expect(expr('In', ['a', 'b'])).toBe(true);
    expect(expr('In', ['b'])).toBe(false);
    expect(expr('NotIn', ['a'])).toBe(false);
    expect(expr('NotIn', ['b'])).toBe(true);
    expect(expr('Exists')).toBe(true);
    expect(expr('DoesNotExist')).toBe(false);
    expect(expr('Gt', ['1'])).toBe(false); // unknown: fail closed
    expect(
      selects({ matchExpressions: [{ key: 'absent', operator: 'NotIn', values: ['x'] }] }, labels),
    ).toBe(true);
  });
});

describe('injectedNamespace', () => {
  // The chart's selector: the excluded list by name, and the opt-out label.
  const config: V1MutatingWebhookConfiguration = {
    webhooks: [
      {
        name: 'inject.memory.kaos.tools',
        admissionReviewVersions: ['v1'],
        clientConfig: {},
        sideEffects: 'NoneOnDryRun',
        namespaceSelector: {
          matchExpressions: [
            {
              key: 'kubernetes.io/metadata.name',
              operator: 'NotIn',
              values: ['kube-system', 'kaos-system'],
            },
            { key: 'memory.kaos.tools/injection', operator: 'NotIn', values: ['disabled'] },
          ],
        },
      },
    ],
  };
  const injected = injectedNamespace(config);
  const ns = (name: string, extra: Record<string, string> = {}) => ({
    'kubernetes.io/metadata.name': name,
    ...extra,
  });

  it('selects what the configuration sends pods from, and nothing excluded', () => {
    expect(injected(ns('team-a'))).toBe(true);
    expect(injected(ns('kube-system'))).toBe(false);
    expect(injected(ns('kaos-system'))).toBe(false);
    expect(injected(ns('team-b', { 'memory.kaos.tools/injection': 'disabled' }))).toBe(false);
  });

  it('selects nothing for a configuration without webhooks', () => {
    expect(injectedNamespace({})(ns('team-a'))).toBe(false);
  });
});

describe('looksOwn', () => {
  it('is a Secret with the copy labels and no proof', () => {
    const labels = {
      'app.kubernetes.io/managed-by': 'kaos-memory-webhook',
      'memory.kaos.tools/webhook': 'kaos-memory',
    };
    expect(looksOwn({ metadata: { labels } }, 'kaos-memory')).toBe(true);
    expect(
      looksOwn(
        {
          metadata: {
            labels,
            annotations: { 'memory.kaos.tools/created-by-webhook': 'kaos-memory' },
          },
        },
        'kaos-memory',
      ),
    ).toBe(false);
    expect(looksOwn({ metadata: {} }, 'kaos-memory')).toBe(false);
  });
});
