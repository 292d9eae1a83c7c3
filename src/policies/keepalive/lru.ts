// LRU: evict the instance that has been idle the longest; keep instances until memory is needed.

import type { FunctionGroup } from '../../core/instance.ts';
import type { KeepAlivePolicy } from '../../core/policy.ts';

export class LruKeepAlive implements KeepAlivePolicy {
  readonly name: string = 'lru';
  readonly priorityDependsOnUse = false;

  priority(group: FunctionGroup): number {
    return group.oldestIdle!.idleSince;
  }

  keepAliveMs(_group: FunctionGroup): number {
    return Infinity;
  }
}
