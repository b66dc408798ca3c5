// A process's highest memory while a load runs, sampled from /proc/<pid>/status.

/** RssAnon and VmRSS of `proc`: the maximum of samples taken every 100 ms until `stop()`. */
export function sampleMemory(proc: { memory(): { rss: number; anon: number } }) {
  const max = { rss: 0, anon: 0 };
  const timer = setInterval(() => {
    const m = proc.memory();
    max.rss = Math.max(max.rss, m.rss);
    max.anon = Math.max(max.anon, m.anon);
  }, 100);
  return { max, stop: () => clearInterval(timer) };
}
