// prom-client's default collectors, one module each (prom-client 15 has no "exports" map,
// so its files can be imported one by one): the sidecar takes all of them but the
// event-loop sampler, which it runs itself (loop-delay.ts).
declare module 'prom-client/lib/metrics/*.js' {
  import type { Registry } from 'prom-client';
  const collector: (registry: Registry, config?: { prefix?: string }) => void;
  export default collector;
}
