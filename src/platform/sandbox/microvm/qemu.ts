// QEMU for thaw's microVMs: finding the binary, choosing the accelerator (detected, never assumed),
// and the command line of a VM, which must be identical between a snapshot's save and its restores
// but for the memory sharing and the incoming migration.

import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

import { GUEST_PORTS } from './image.ts';

export type Accelerator = 'kvm' | 'tcg';

export interface QemuInfo {
  binary: string;
  version: string;
  accel: Accelerator;
  /** Why this accelerator (e.g. why not KVM). */
  accelReason: string;
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return undefined;
}

/**
 * Whether KVM can run a stock guest kernel here: /dev/kvm must open read-write and be backed by
 * hardware virtualisation (kvm_intel or kvm_amd with vmx/svm in the CPU flags). A /dev/kvm of
 * kvm_pvm (a software hypervisor for nested sandboxes) cannot boot an unmodified kernel.
 */
export function detectAccelerator(): { accel: Accelerator; reason: string } {
  if (!existsSync('/dev/kvm')) return { accel: 'tcg', reason: 'no /dev/kvm: software emulation (TCG)' };
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
  } catch {
    return { accel: 'tcg', reason: '/dev/kvm is not accessible to this user: software emulation (TCG)' };
  }
  if (existsSync('/sys/module/kvm_pvm')) {
    return { accel: 'tcg', reason: '/dev/kvm is kvm_pvm, a software hypervisor that cannot boot a stock kernel: software emulation (TCG)' };
  }
  const hw = existsSync('/sys/module/kvm_intel') || existsSync('/sys/module/kvm_amd');
  const flags = /^flags\s*:.*\b(vmx|svm)\b/m.test(readFileSync('/proc/cpuinfo', 'utf8'));
  if (hw && flags) return { accel: 'kvm', reason: 'hardware virtualisation (KVM)' };
  return { accel: 'tcg', reason: '/dev/kvm is not backed by kvm_intel/kvm_amd with vmx/svm: software emulation (TCG)' };
}

let cached: QemuInfo | null | undefined;

/** QEMU on this machine (THAW_QEMU or qemu-system-x86_64 on PATH), or null. THAW_VM_ACCEL=kvm|tcg forces the accelerator. */
export function detectQemu(): QemuInfo | null {
  if (cached !== undefined) return cached;
  const binary = process.env.THAW_QEMU ?? onPath('qemu-system-x86_64');
  if (!binary) return (cached = null);
  let version = 'unknown';
  try {
    version = /version\s+(\S+)/.exec(execFileSync(binary, ['--version'], { encoding: 'utf8' }))?.[1] ?? version;
  } catch {
    return (cached = null);
  }
  const forced = process.env.THAW_VM_ACCEL;
  const detected = detectAccelerator();
  const accel = forced === 'kvm' || forced === 'tcg' ? forced : detected.accel;
  const accelReason = forced === 'kvm' || forced === 'tcg' ? `forced by THAW_VM_ACCEL=${forced}` : detected.reason;
  return (cached = { binary, version, accel, accelReason });
}

/**
 * Under TCG the guest's TSC ticks at the host's rate, and microvm has no HPET or ACPI PM timer to
 * calibrate it against, only the PIT: on a loaded host the kernel's fast PIT calibration fails
 * now and then, it marks the TSC unstable and the boot hangs. Telling it the rate skips the
 * calibration. (Under KVM the guest uses kvmclock.)
 */
function tscWords(accel: Accelerator): string[] {
  if (accel !== 'tcg') return [];
  const mhz = /^cpu MHz\s*:\s*([\d.]+)/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1];
  return mhz ? [`tsc_early_khz=${Math.round(Number(mhz) * 1000)}`] : [];
}

export interface VmMachine {
  qemu: QemuInfo;
  kernel: string;
  initrd: string;
  /** Guest RAM, MB. */
  memoryMb: number;
  vcpus: number;
  /** Guest RAM in this file (a snapshot's memory file), or anonymous memory when absent. */
  memoryFile?: { path: string; shared: boolean };
  /** Extra kernel command-line words (thaw.heap=…, thaw.marker=…). */
  cmdline: string[];
  consoleLog: string;
  qmpSocket: string;
  /** Start paused, waiting for `migrate-incoming` (a restore). */
  incoming: boolean;
}

/**
 * The QEMU command line. Guest ports are QEMU client sockets on the file descriptors the sandbox
 * spawns it with: fd 3 the agent protocol, fd 1 the function's stdout, fd 2 its stderr (QEMU's own
 * error messages, if any, join the function's stderr there).
 */
export function qemuArgs(m: VmMachine): string[] {
  const accel = m.qemu.accel === 'kvm' ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg,tb-size=64', '-cpu', 'max'];
  const memory = m.memoryFile
    ? `memory-backend-file,id=mem,size=${m.memoryMb}M,mem-path=${m.memoryFile.path},share=${m.memoryFile.shared ? 'on' : 'off'}`
    : `memory-backend-ram,id=mem,size=${m.memoryMb}M`;
  // init_on_free: the guest zeroes what it frees (the unpacked initrd above all), so those pages
  // are zero in a snapshot, which stores them as holes.
  const cmdline = ['console=ttyS0', 'quiet', 'panic=-1', 'reboot=t', 'init_on_free=1', ...tscWords(m.qemu.accel), ...m.cmdline].join(' ');
  return [
    '-M', 'microvm,memory-backend=mem',
    ...accel,
    '-m', `${m.memoryMb}M`,
    '-smp', String(m.vcpus),
    '-nodefaults', '-no-user-config', '-nographic', '-no-reboot',
    '-object', memory,
    '-kernel', m.kernel,
    '-initrd', m.initrd,
    '-append', cmdline,
    '-serial', `file:${m.consoleLog}`,
    '-device', 'virtio-rng-device',
    '-device', 'virtio-serial-device,max_ports=4',
    '-chardev', 'socket,id=agent,fd=3', '-device', `virtserialport,chardev=agent,nr=1,name=${GUEST_PORTS.agent}`,
    '-chardev', 'socket,id=stdout,fd=1', '-device', `virtserialport,chardev=stdout,nr=2,name=${GUEST_PORTS.stdout}`,
    '-chardev', 'socket,id=stderr,fd=2', '-device', `virtserialport,chardev=stderr,nr=3,name=${GUEST_PORTS.stderr}`,
    '-qmp', `unix:${m.qmpSocket},server=on,wait=off`,
    ...(m.incoming ? ['-incoming', 'defer', '-S'] : []),
  ];
}
