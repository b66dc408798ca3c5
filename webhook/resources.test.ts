import type {
  V1LimitRange,
  V1LimitRangeItem,
  V1Pod,
  V1ResourceQuota,
} from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RESOURCES } from './config.js';
import { notLinux } from './platform.js';
import { formatMilli, milli } from './quantity.js';
import { fitResources, type NamespaceLimits } from './resources.js';

function pod(spec: Partial<V1Pod['spec']> = {}): V1Pod {
  return {
    metadata: { name: 'p', labels: { agent: 'a' } },
    spec: {
      containers: [
        {
          name: 'app',
          image: 'app:1',
          resources: {
            requests: { cpu: '100m', memory: '128Mi' },
            limits: { cpu: '1', memory: '256Mi' },
          },
        },
      ],
      ...spec,
    },
  };
}

function range(name: string, ...limits: V1LimitRangeItem[]): V1LimitRange {
  return { metadata: { name }, spec: { limits } };
}

function quota(
  name: string,
  hard: Record<string, string>,
  used: Record<string, string> = {},
  scopes?: string[],
): V1ResourceQuota {
  return { metadata: { name }, spec: { hard, scopes }, status: { hard, used } };
}

function fit(
  namespace: Partial<NamespaceLimits>,
  target = pod(),
  desired = DEFAULT_RESOURCES,
  native = true,
) {
  return fitResources({
    desired,
    pod: target,
    native,
    namespace: { limitRanges: [], resourceQuotas: [], ...namespace },
  });
}

describe('fitResources', () => {
  it('leaves the configured resources as they are in a namespace without limits', () => {
    expect(fit({})).toEqual({ ok: true, resources: DEFAULT_RESOURCES, changes: [] });
  });

  it("raises a request to a LimitRange's min", () => {
    const result = fit({ limitRanges: [range('min', { type: 'Container', min: { cpu: '50m' } })] });
    expect(result).toEqual({
      ok: true,
      resources: {
        requests: { cpu: '50m', memory: '64Mi' },
        limits: { cpu: '500m', memory: '256Mi' },
      },
      changes: ['requests.cpu 10m → 50m'],
    });
  });

  it('keeps the limit and raises the request to meet maxLimitRequestRatio', () => {
    const result = fit({
      limitRanges: [
        range('ratio', { type: 'Container', maxLimitRequestRatio: { memory: '2', cpu: '10' } }),
      ],
    });
    expect(result).toMatchObject({
      ok: true,
      resources: {
        requests: { cpu: '50m', memory: '128Mi' },
        limits: { cpu: '500m', memory: '256Mi' },
      },
    });
  });

  it('lowers a limit to the max, and a request with it', () => {
    const result = fit({
      limitRanges: [range('max', { type: 'Container', max: { cpu: '5m', memory: '200Mi' } })],
    });
    expect(result).toMatchObject({
      ok: true,
      resources: {
        requests: { cpu: '5m', memory: '64Mi' },
        limits: { cpu: '5m', memory: '200Mi' },
      },
    });
  });

  it("takes the namespace's defaults for what the configuration leaves unset, as LimitRanger would", () => {
    const result = fit(
      {
        limitRanges: [
          range('b-later', { type: 'Container', _default: { memory: '1Gi' } }),
          range('a-first', {
            type: 'Container',
            _default: { memory: '192Mi' },
            defaultRequest: { memory: '96Mi' },
          }),
        ],
      },
      pod(),
      { requests: { cpu: '10m' } },
    );
    expect(result).toMatchObject({
      ok: true,
      resources: { requests: { cpu: '10m', memory: '96Mi' }, limits: { memory: '192Mi' } },
    });
  });

  it('gives the sidecar the limits and requests a quota makes every container specify', () => {
    const result = fit(
      { resourceQuotas: [quota('compute', { 'limits.cpu': '4', 'requests.memory': '4Gi' })] },
      pod(),
      { limits: { memory: '128Mi' } },
    );
    expect(result).toMatchObject({
      ok: true,
      resources: { requests: { memory: '128Mi' }, limits: { cpu: '500m', memory: '128Mi' } },
    });
  });

  it('refuses when the sidecar alone would exceed what is left of a quota', () => {
    const result = fit({
      resourceQuotas: [quota('compute', { 'limits.memory': '1Gi' }, { 'limits.memory': '700Mi' })],
    });
    expect(result).toEqual({
      ok: false,
      problem:
        'ResourceQuota compute: exceeded quota, requested: limits.memory=512Mi, used: limits.memory=700Mi, limited: limits.memory=1Gi',
    });
  });

  it("injects when the pod would exceed the quota anyway (the refusal is not the sidecar's)", () => {
    const result = fit({
      resourceQuotas: [quota('compute', { 'limits.memory': '1Gi' }, { 'limits.memory': '900Mi' })],
    });
    expect(result.ok).toBe(true);
  });

  it('refuses a pod-level LimitRange the sidecar would push the pod over', () => {
    const result = fit({ limitRanges: [range('pod', { type: 'Pod', max: { memory: '400Mi' } })] });
    expect(result).toEqual({
      ok: false,
      problem: 'LimitRange pod: maximum memory usage per Pod is 400Mi, but limit is 512Mi',
    });
  });

  it('refuses a LimitRange no sidecar can meet', () => {
    const result = fit({
      limitRanges: [range('odd', { type: 'Container', min: { cpu: '1' }, max: { cpu: '500m' } })],
    });
    expect(result).toEqual({
      ok: false,
      problem: 'LimitRange odd: minimum cpu usage per Container is 1, but request is 500m',
    });
  });

  it('sees a BestEffort pod become subject to a NotBestEffort quota once the sidecar has requests', () => {
    const bestEffort = pod({ containers: [{ name: 'app', image: 'app:1' }] });
    const result = fit(
      { resourceQuotas: [quota('burstable', { 'limits.cpu': '4' }, {}, ['NotBestEffort'])] },
      bestEffort,
    );
    expect(result).toEqual({
      ok: false,
      problem: 'ResourceQuota burstable: must specify limits.cpu for: app',
    });
    // A BestEffort quota stops applying: nothing to refuse.
    expect(
      fit(
        { resourceQuotas: [quota('free', { 'limits.cpu': '4' }, {}, ['BestEffort'])] },
        bestEffort,
      ).ok,
    ).toBe(true);
  });

  it('keeps within pod-level resources, or says why it cannot', () => {
    const level = pod({ resources: { requests: { cpu: '100m' }, limits: { memory: '300Mi' } } });
    expect(fit({}, level)).toEqual({
      ok: false,
      problem:
        'spec.resources: requests.cpu: must be greater than or equal to aggregate container requests of 110m',
    });
    const roomy = pod({
      containers: [{ name: 'app', image: 'app:1', resources: { limits: { memory: '100Mi' } } }],
      resources: { requests: { cpu: '1', memory: '1Gi' }, limits: { memory: '200Mi' } },
    });
    expect(fit({}, roomy)).toMatchObject({ ok: true, resources: { limits: { memory: '200Mi' } } });
  });

  it('counts an ordinary-container sidecar the same way', () => {
    const result = fit(
      { limitRanges: [range('pod', { type: 'Pod', max: { memory: '400Mi' } })] },
      pod(),
      DEFAULT_RESOURCES,
      false,
    );
    expect(result.ok).toBe(false);
  });
});

describe('quantities', () => {
  it('compare in thousandths, rounded up, without float noise', () => {
    expect(milli('0.1')).toBe(100);
    expect(milli('100m')).toBe(100);
    expect(milli('1.5')).toBe(1500);
    expect(milli('0.0005')).toBe(1);
    expect(milli('64Mi')).toBe(64 * 2 ** 20 * 1000);
    expect(formatMilli('cpu', 250)).toBe('250m');
    expect(formatMilli('cpu', 2000)).toBe('2');
    expect(formatMilli('memory', milli('128Mi'))).toBe('128Mi');
    expect(formatMilli('memory', milli('1Gi'))).toBe('1Gi');
    expect(formatMilli('memory', 1500)).toBe('2');
  });
});

describe('notLinux', () => {
  it('names a Windows pod by spec.os, node selector or required node affinity', () => {
    expect(notLinux(pod({ os: { name: 'windows' } }))).toBe('spec.os.name is windows');
    expect(notLinux(pod({ nodeSelector: { 'kubernetes.io/os': 'windows' } }))).toBe(
      'its nodeSelector kubernetes.io/os is windows',
    );
    const affinity = (operator: string, values?: string[]) =>
      pod({
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [
                { matchExpressions: [{ key: 'kubernetes.io/os', operator, values }] },
              ],
            },
          },
        },
      });
    expect(notLinux(affinity('In', ['windows']))).toBe(
      'its required node affinity selects no Linux node',
    );
    expect(notLinux(affinity('NotIn', ['linux']))).toBeDefined();
    expect(notLinux(affinity('In', ['windows', 'linux']))).toBeUndefined();
    expect(notLinux(affinity('Exists'))).toBeUndefined();
  });

  it('leaves Linux pods, and pods that may land on Linux, alone', () => {
    expect(notLinux(pod())).toBeUndefined();
    expect(
      notLinux(pod({ os: { name: 'linux' }, nodeSelector: { 'kubernetes.io/os': 'linux' } })),
    ).toBeUndefined();
    // One term allows Linux: the pod may be scheduled there.
    expect(
      notLinux(
        pod({
          affinity: {
            nodeAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: {
                nodeSelectorTerms: [
                  {
                    matchExpressions: [
                      { key: 'kubernetes.io/os', operator: 'In', values: ['windows'] },
                    ],
                  },
                  { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] },
                ],
              },
            },
          },
        }),
      ),
    ).toBeUndefined();
  });
});
