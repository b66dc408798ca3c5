// PromQL as Prometheus's own grammar reads it (@prometheus-io/lezer-promql, the
// parser of Prometheus's web UI): syntax errors, and the metric names a query selects.
import { parser } from '@prometheus-io/lezer-promql';

/** Grafana's variables as Prometheus would see them once Grafana fills them in. */
function grafanaFilled(expr: string): string {
  return expr.replace(/\$__\w+/g, '5m').replace(/\$\{?\w+\}?/g, 'x');
}

export interface Parsed {
  /** Where the grammar stopped making sense, as offsets; empty when the query is valid. */
  errors: number[];
  /** The metric names of every vector selector. */
  metrics: string[];
}

export function parsePromql(expr: string, options: { grafana?: boolean } = {}): Parsed {
  const text = options.grafana ? grafanaFilled(expr) : expr;
  const errors: number[] = [];
  const metrics: string[] = [];
  parser.parse(text).iterate({
    enter(node) {
      if (node.type.isError) errors.push(node.from);
      if (node.name === 'Identifier' && node.node.parent?.name === 'VectorSelector') {
        metrics.push(text.slice(node.from, node.to));
      }
    },
  });
  return { errors, metrics };
}

/**
 * The metric names a Prometheus text exposition declares (its `# TYPE` lines), with
 * the series names each type adds: a histogram's _bucket, _sum and _count, a summary's
 * _sum and _count. A labelled counter no event has touched yet has no sample, but it
 * is declared, and a query on it is right.
 */
export function exportedNames(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const [, name = '', type] of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(name);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
    if (type === 'summary') for (const s of ['_sum', '_count']) names.add(name + s);
  }
  return names;
}
