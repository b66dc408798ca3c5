// The kubelet's expansion of a container's command and args, which the chart's scripts
// go through in a pod and, by kubeExpand, in the tests that run them here.
import { describe, expect, it } from 'vitest';
import { kubeExpand } from './bundled-redis.js';

describe('kubeExpand, as the kubelet expands command and args', () => {
  const vars = { PORT: '6379', EMPTY: '' };
  it.each([
    ['kill -0 $$', 'kill -0 $'],
    ['echo $$$$', 'echo $$'],
    ['--port=$(PORT)', '--port=6379'],
    ['[$(EMPTY)]', '[]'],
    ['$$(PORT)', '$(PORT)'],
    ['$(UNDEFINED) stays', '$(UNDEFINED) stays'],
    ['$((limit / 100 * 75))', '$((limit / 100 * 75))'],
    ['$(cat "$dir/key")', '$(cat "$dir/key")'],
    ['"$port" and ${x:-0}', '"$port" and ${x:-0}'],
    ['a lone $', 'a lone $'],
    ['an open $(', 'an open $('],
  ])('%s', (input, expected) => {
    expect(kubeExpand(input, vars)).toBe(expected);
  });
});
