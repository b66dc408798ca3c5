// One replica at a time runs the credentials loop: a coordination.k8s.io Lease held by the
// replica that renews it each round (issue 23: every replica listed every agent pod every
// 30 s). Admission-time copies do not wait for it: each replica still makes the copy a pod
// it admits needs. A holder that stops renewing loses the Lease after its duration.
import { hostname } from 'node:os';
import {
  CoordinationV1Api,
  V1MicroTime,
  type KubeConfig,
  type V1Lease,
} from '@kubernetes/client-node';
import { kubeStatus } from '../lib/kube-errors.js';

export interface LeaseOptions {
  namespace: string;
  name: string;
  /** This replica: the pod's name (POD_NAME from the downward API), else the host name. */
  identity?: string;
  durationSeconds: number;
  now?: () => Date;
}

export class Lease {
  private readonly api: CoordinationV1Api;
  readonly identity: string;

  constructor(
    kubeConfig: KubeConfig,
    private readonly options: LeaseOptions,
  ) {
    this.api = kubeConfig.makeApiClient(CoordinationV1Api);
    this.identity = options.identity || process.env.POD_NAME || hostname();
  }

  /** Takes or renews the Lease; false while another replica holds it, or on a lost race. */
  async acquire(): Promise<boolean> {
    const { namespace, name } = this.options;
    const current = await this.api
      .readNamespacedLease({ namespace, name })
      .catch((err: unknown) => {
        if (kubeStatus(err) === 404) return undefined;
        throw err;
      });
    if (current && !this.mayTake(current)) return false;
    try {
      if (current)
        await this.api.replaceNamespacedLease({ namespace, name, body: this.next(current) });
      else await this.api.createNamespacedLease({ namespace, body: this.next(undefined) });
      return true;
    } catch (err) {
      if (kubeStatus(err) === 409) return false; // Another replica wrote it first.
      throw err;
    }
  }

  private now(): Date {
    return this.options.now?.() ?? new Date();
  }

  private mayTake(lease: V1Lease): boolean {
    const holder = lease.spec?.holderIdentity;
    if (!holder || holder === this.identity) return true;
    const renewed = lease.spec?.renewTime ?? lease.spec?.acquireTime;
    const duration = (lease.spec?.leaseDurationSeconds ?? this.options.durationSeconds) * 1000;
    return renewed === undefined || new Date(renewed).getTime() + duration < this.now().getTime();
  }

  private next(current: V1Lease | undefined): V1Lease {
    // MicroTime: the API server takes six fractional digits, not Date's three.
    const now = new V1MicroTime(this.now().getTime());
    const same = current?.spec?.holderIdentity === this.identity;
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        name: this.options.name,
        namespace: this.options.namespace,
        resourceVersion: current?.metadata?.resourceVersion,
      },
      spec: {
        holderIdentity: this.identity,
        leaseDurationSeconds: this.options.durationSeconds,
        acquireTime: same ? current?.spec?.acquireTime : now,
        renewTime: now,
        leaseTransitions: (current?.spec?.leaseTransitions ?? 0) + (current && !same ? 1 : 0),
      },
    };
  }
}
