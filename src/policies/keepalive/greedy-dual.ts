// FaaSCache's Greedy-Dual-Size-Frequency keep-alive and its variants (docs/techniques.md §1.1):
//   GD    priority = clock + freq × cost / size
//   FREQ  priority = clock + freq × cost
//   SIZE  priority = clock + freq / size
// clock is the server's logical clock at the function's last use (the Pool raises it to the priority
// of each evicted instance), freq the function's uses while it stays cached, cost its cold-start time
// and size its memory. All idle instances of a function share its priority, as in the reference.

import type { FunctionGroup } from '../../core/instance.ts';
import type { KeepAlivePolicy } from '../../core/policy.ts';
import { frequencyPriority, greedyDualPriority, sizePriority } from './priorities.ts';

abstract class GreedyDualFamily implements KeepAlivePolicy {
  abstract readonly name: string;
  readonly priorityDependsOnUse = true;
  abstract priority(group: FunctionGroup): number;
  keepAliveMs(_group: FunctionGroup): number {
    return Infinity;
  }
}

export class GreedyDualKeepAlive extends GreedyDualFamily {
  readonly name = 'gd';
  priority(group: FunctionGroup): number {
    return greedyDualPriority(group.clockAtLastUse, group.freq, group.fn.coldStartMs, group.fn.memoryMb);
  }
}

/**
 * Greedy-Dual with per-instance frequency (a thaw variant, not in FaaSCache): each idle instance is
 * worth clock + its own uses × cost / size. With the function-wide frequency of `gd`, every instance
 * of a popular function shares one high priority, so the surplus instances a burst leaves behind are
 * all kept while other functions are evicted; here an instance that served one request of a burst is
 * cheap to evict. Within a function the least recently used idle instance goes first, and the
 * function's place in the eviction order is that instance's priority.
 */
export class InstanceGreedyDualKeepAlive implements KeepAlivePolicy {
  readonly name = 'gd-instance';
  readonly priorityDependsOnUse = false;
  priority(group: FunctionGroup): number {
    const oldest = group.oldestIdle!;
    return greedyDualPriority(oldest.clockAtLastUse, oldest.uses, group.fn.coldStartMs, group.fn.memoryMb);
  }
  keepAliveMs(_group: FunctionGroup): number {
    return Infinity;
  }
}

export class FrequencyKeepAlive extends GreedyDualFamily {
  readonly name = 'freq';
  priority(group: FunctionGroup): number {
    return frequencyPriority(group.clockAtLastUse, group.freq, group.fn.coldStartMs);
  }
}

export class SizeKeepAlive extends GreedyDualFamily {
  readonly name = 'size';
  priority(group: FunctionGroup): number {
    return sizePriority(group.clockAtLastUse, group.freq, group.fn.memoryMb);
  }
}

/**
 * Landlord (Young): each cached object holds credit, reset to its cost on use; eviction charges every
 * object rent in proportion to its size until one runs out of credit. Charging rent to all is
 * equivalent to raising one clock, so credit/size is kept normalised as `clock + cost / size` and the
 * Pool's clock raise on eviction is the rent. Cost is the cold-start time (what a miss costs).
 */
export class LandlordKeepAlive extends GreedyDualFamily {
  readonly name = 'landlord';
  priority(group: FunctionGroup): number {
    return group.clockAtLastUse + group.fn.coldStartMs / group.fn.memoryMb;
  }
}
