// What each number in a report means, in a sentence. The report lists only the entries relevant to
// what it shows (a curve report has no drops, a static run no miss speed).

export type LegendTopic = 'run' | 'sweep' | 'curve' | 'dynamic';

export interface LegendEntry {
  term: string;
  meaning: string;
  topics: readonly LegendTopic[];
}

export const LEGEND: readonly LegendEntry[] = [
  {
    term: 'cold-start overhead',
    meaning:
      'FaaSCache’s measure: how much longer all the invocations took than if every one had started warm, as a percentage — 100 × (sum of cold-start times) / (sum of warm execution times of the served invocations).',
    topics: ['run', 'sweep'],
  },
  { term: 'warm start', meaning: 'An invocation that found an idle instance of its function and ran at once (a cache hit).', topics: ['run', 'sweep'] },
  {
    term: 'cold start (cold %)',
    meaning: 'An invocation that had to create a new instance first (a miss); cold % is cold starts as a share of the invocations served.',
    topics: ['run', 'sweep'],
  },
  {
    term: 'dropped',
    meaning: 'An invocation that could not be placed because memory was full of busy instances.',
    topics: ['run', 'sweep'],
  },
  { term: 'eviction', meaning: 'An idle instance removed to make room for another — the keep-alive policy chooses which.', topics: ['run', 'sweep'] },
  { term: 'expiration', meaning: 'An idle instance removed because its keep-alive window ran out, with or without memory pressure.', topics: ['run'] },
  {
    term: 'idle (wasted) memory, GB-s',
    meaning: 'Memory held by idle instances multiplied by how long they sat idle: the price paid for warm starts.',
    topics: ['run', 'sweep'],
  },
  { term: 'busy memory, GB-s', meaning: 'Memory held by instances that were starting or running, multiplied by the time.', topics: ['run'] },
  { term: 'memory', meaning: 'Server memory available to instances; 1 GB = 1024 MB throughout.', topics: ['run', 'sweep', 'curve'] },
  {
    term: 'hit ratio',
    meaning:
      'The share of invocations that would find their function cached in a cache of that size: the fraction whose reuse distance (memory of the distinct functions invoked since this function’s previous invocation) fits.',
    topics: ['curve'],
  },
  {
    term: 'exact / sampled curve',
    meaning: 'The exact curve uses every invocation; the sampled one (SHARDS) keeps a hash-chosen fraction of the functions and scales distances back up.',
    topics: ['curve'],
  },
  { term: 'size for target', meaning: 'The smallest cache size whose hit ratio reaches the target.', topics: ['curve'] },
  { term: 'knee', meaning: 'Where the curve bends: more memory beyond it buys little extra hit ratio.', topics: ['curve'] },
  {
    term: 'miss speed',
    meaning: 'Cold starts per second. Dynamic sizing grows or shrinks the capacity to keep it near the target miss speed, derived from the target miss ratio and the arrival rate.',
    topics: ['dynamic'],
  },
];

export function legendFor(topics: ReadonlySet<LegendTopic>): LegendEntry[] {
  return LEGEND.filter((entry) => entry.topics.some((topic) => topics.has(topic)));
}
