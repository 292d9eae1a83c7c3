// How this machine's idle CPUs wait, read from sysfs (never assumed).
//
// A warm invocation is a round trip between two processes: thaw's server wakes the instance, the
// instance wakes the server. A process woken on an idle CPU waits for that CPU to leave its idle
// state. On a VM whose cpuidle driver is `haltpoll` with `guest_halt_poll_ns` 0, an idle virtual
// CPU halts at once, and each wake-up is a VM exit and entry: on the machines thaw is measured on,
// 25–40 µs each, two per warm invocation, most of the platform's warm overhead
// (docs/benchmarks.md, "Where the hop's time goes"). Letting the guest poll before it halts takes
// most of that away, but a polling guest spends the host's CPU while it waits: that is the host's
// choice, so thaw does not change the setting; it says at start what it found and what would
// change it.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A poll that covers a warm invocation's round trip with room to spare (the setting measured). */
export const SUGGESTED_HALT_POLL_NS = 200_000;

export interface IdleCpus {
  /** The cpuidle driver (`haltpoll`, `intel_idle`, `acpi_idle`, …); absent: none, or unreadable. */
  driver?: string;
  /** With the haltpoll driver: how long an idle CPU polls before it halts, in ns. */
  haltPollNs?: number;
  /** Said at start when idle CPUs halt without polling; absent: nothing to say. */
  note?: string;
}

/** What sysfs (at `sysfs`: tests point it at a folder of their own) says of idle CPUs. */
export function idleCpus(sysfs = '/sys'): IdleCpus {
  const driver = readText(join(sysfs, 'devices/system/cpu/cpuidle/current_driver'));
  if (driver !== 'haltpoll') return driver ? { driver } : {};
  const pollFile = join(sysfs, 'module/haltpoll/parameters/guest_halt_poll_ns');
  const raw = readText(pollFile);
  const haltPollNs = raw !== undefined && /^\d+$/.test(raw) ? Number(raw) : undefined;
  if (haltPollNs !== 0) return haltPollNs === undefined ? { driver } : { driver, haltPollNs };
  return {
    driver,
    haltPollNs,
    note:
      `this VM's idle CPUs halt without polling (cpuidle haltpoll, guest_halt_poll_ns 0): a warm invocation waits twice ` +
      `for an idle CPU to wake, once on the way to its instance and once back. Polling first cuts that wait, at the cost of the host's CPU while idle: ` +
      `echo ${SUGGESTED_HALT_POLL_NS} > ${pollFile}`,
  };
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
