// Kubernetes resource quantities as the API server compares them: in thousandths of the
// unit (MilliValue, rounded up), so 0.1 and 100m are equal and 1m is the smallest step.

const SUFFIX: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

// Every review reads the same few quantities (the sidecar's resources, the namespace's
// LimitRanges and quotas), and parsing one is most of what comparing it costs: each value
// is remembered, up to a bound, so a stream of distinct values cannot grow the maps without end.
const CACHE_MAX = 4096;

function remembered(compute: (quantity: string) => number): (quantity: string) => number {
  const cache = new Map<string, number>();
  return (quantity) => {
    let value = cache.get(quantity);
    if (value === undefined) {
      value = compute(quantity);
      if (cache.size >= CACHE_MAX) cache.clear();
      cache.set(quantity, value);
    }
    return value;
  };
}

/** The numeric value of a Kubernetes quantity; NaN when it is not one. */
export const parseQuantity = remembered((quantity) => {
  const match = /^\+?([\d.]+)(.*)$/.exec(quantity.trim());
  if (!match) return NaN;
  const [, number = '', suffix = ''] = match;
  if (/^[eE]/.test(suffix)) return Number(number) * 10 ** Number(suffix.slice(1));
  return Number(number) * (SUFFIX[suffix] ?? NaN);
});

/** A quantity in thousandths, rounded up as the API server's MilliValue() does. */
export const milli = remembered(
  // toPrecision drops binary noise (0.1 * 1000 is 100.00000000000001), which ceil would keep.
  (quantity) => Math.ceil(Number((parseQuantity(quantity) * 1000).toPrecision(12))),
);

/** Thousandths back to a quantity: cpu as millicores, memory in the largest exact binary unit. */
export function formatMilli(resource: 'cpu' | 'memory', value: number): string {
  if (resource === 'cpu') return value % 1000 === 0 ? String(value / 1000) : `${value}m`;
  const bytes = Math.ceil(value / 1000);
  for (const [suffix, size] of [
    ['Gi', 2 ** 30],
    ['Mi', 2 ** 20],
    ['Ki', 2 ** 10],
  ] as const) {
    if (bytes > 0 && bytes % size === 0) return `${bytes / size}${suffix}`;
  }
  return String(bytes);
}
