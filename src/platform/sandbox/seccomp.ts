// The seccomp filter of a lean container: a classic-BPF program, built here (no libseccomp), that
// bubblewrap installs just before it execs node (`--seccomp FD`). It is a deny list, the system
// calls a function has no business making and that widen the kernel surface it can reach: kernel
// modules, kexec, reboot, mounts, namespaces (unshare, setns, clone with namespace flags), ptrace
// and cross-process memory access, BPF, perf events, keyrings, userfaultfd, clock and swap
// changes. They fail with EPERM (clone3 with ENOSYS, so the C library falls back to clone, whose
// flags the filter can read). Any other architecture's calls, and the x32 ABI's, are refused too.
// Everything node needs, the runtime agent's privilege drop (setuid/setgid) included, is allowed.

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** struct sock_filter: { u16 code; u8 jt; u8 jf; u32 k }. */
export interface BpfInstruction {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

const BPF_LD_W_ABS = 0x20;
const BPF_JEQ_K = 0x15;
const BPF_JGE_K = 0x35;
const BPF_JSET_K = 0x45;
const BPF_RET_K = 0x06;

export const AUDIT_ARCH_X86_64 = 0xc000003e;
const X32_SYSCALL_BIT = 0x40000000;
export const SECCOMP_RET_ALLOW = 0x7fff0000;
export const SECCOMP_RET_KILL_PROCESS = 0x80000000;
const SECCOMP_RET_ERRNO = 0x00050000;
const EPERM = 1;
const ENOSYS = 38;

/** Offsets in struct seccomp_data: nr, arch, then args[6] (u64 each; the low word first). */
const OFFSET_NR = 0;
const OFFSET_ARCH = 4;
const OFFSET_ARG0_LOW = 16;

/** x86-64 system call numbers (asm/unistd_64.h) of the deny list. */
export const DENIED_SYSCALLS: Readonly<Record<string, number>> = {
  ptrace: 101,
  syslog: 103,
  uselib: 134,
  ustat: 136,
  sysfs: 139,
  vhangup: 153,
  pivot_root: 155,
  _sysctl: 156,
  acct: 163,
  settimeofday: 164,
  mount: 165,
  umount2: 166,
  swapon: 167,
  swapoff: 168,
  reboot: 169,
  iopl: 172,
  ioperm: 173,
  create_module: 174,
  init_module: 175,
  delete_module: 176,
  get_kernel_syms: 177,
  query_module: 178,
  quotactl: 179,
  nfsservctl: 180,
  lookup_dcookie: 212,
  clock_settime: 227,
  kexec_load: 246,
  add_key: 248,
  request_key: 249,
  keyctl: 250,
  unshare: 272,
  perf_event_open: 298,
  name_to_handle_at: 303,
  open_by_handle_at: 304,
  clock_adjtime: 305,
  setns: 308,
  process_vm_readv: 310,
  process_vm_writev: 311,
  kcmp: 312,
  finit_module: 313,
  kexec_file_load: 320,
  bpf: 321,
  userfaultfd: 323,
  open_tree: 428,
  move_mount: 429,
  fsopen: 430,
  fsconfig: 431,
  fsmount: 432,
  fspick: 433,
};

export const SYSCALL_CLONE = 56;
export const SYSCALL_CLONE3 = 435;
/** CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET. */
export const CLONE_NAMESPACE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000;

/** The filter, instruction by instruction (jumps are relative: skip jt/jf instructions). */
export function seccompProgram(): BpfInstruction[] {
  const denied = [...new Set(Object.values(DENIED_SYSCALLS))].sort((a, b) => a - b);
  const p: BpfInstruction[] = [];
  const ins = (code: number, k: number, jt = 0, jf = 0): void => {
    p.push({ code, jt, jf, k });
  };
  // Returns at the end, counted back from it: [ALLOW, EPERM, ENOSYS, KILL].
  const body = 5 + denied.length + 3;
  const to = (from: number, target: 'allow' | 'eperm' | 'enosys' | 'kill'): number => {
    const at = body + ['allow', 'eperm', 'enosys', 'kill'].indexOf(target);
    return at - from - 1;
  };
  ins(BPF_LD_W_ABS, OFFSET_ARCH); // 0
  ins(BPF_JEQ_K, AUDIT_ARCH_X86_64, 0, to(1, 'kill')); // 1
  ins(BPF_LD_W_ABS, OFFSET_NR); // 2
  ins(BPF_JGE_K, X32_SYSCALL_BIT, to(3, 'eperm'), 0); // 3
  ins(BPF_JEQ_K, SYSCALL_CLONE3, to(4, 'enosys'), 0); // 4
  for (const nr of denied) ins(BPF_JEQ_K, nr, to(p.length, 'eperm'), 0);
  // clone: refuse namespace flags (args[0], the low word holds them all).
  ins(BPF_JEQ_K, SYSCALL_CLONE, 0, to(p.length, 'allow'));
  ins(BPF_LD_W_ABS, OFFSET_ARG0_LOW);
  ins(BPF_JSET_K, CLONE_NAMESPACE_FLAGS, to(p.length, 'eperm'), to(p.length, 'allow'));
  if (p.length !== body) throw new Error(`seccomp program layout: ${p.length} != ${body}`);
  ins(BPF_RET_K, SECCOMP_RET_ALLOW);
  ins(BPF_RET_K, SECCOMP_RET_ERRNO | EPERM);
  ins(BPF_RET_K, SECCOMP_RET_ERRNO | ENOSYS);
  ins(BPF_RET_K, SECCOMP_RET_KILL_PROCESS);
  for (const i of p) if (i.jt > 255 || i.jf > 255) throw new Error('seccomp program: jump too long');
  return p;
}

/** The program as the kernel (and bwrap --seccomp) takes it: 8 bytes per instruction, host order. */
export function encodeProgram(program: readonly BpfInstruction[]): Buffer {
  const buf = Buffer.alloc(program.length * 8);
  program.forEach((i, n) => {
    buf.writeUInt16LE(i.code, n * 8);
    buf.writeUInt8(i.jt, n * 8 + 2);
    buf.writeUInt8(i.jf, n * 8 + 3);
    buf.writeUInt32LE(i.k >>> 0, n * 8 + 4);
  });
  return buf;
}

/** Runs the program on one system call, as the kernel would (for tests): the SECCOMP_RET_* value. */
export function evaluate(program: readonly BpfInstruction[], call: { nr: number; arch?: number; args?: number[] }): number {
  const data = Buffer.alloc(64);
  data.writeInt32LE(call.nr, OFFSET_NR);
  data.writeUInt32LE(call.arch ?? AUDIT_ARCH_X86_64, OFFSET_ARCH);
  (call.args ?? []).forEach((a, i) => data.writeBigUInt64LE(BigInt(a), 16 + i * 8));
  let acc = 0;
  for (let pc = 0; pc < program.length; pc++) {
    const i = program[pc]!;
    switch (i.code) {
      case BPF_LD_W_ABS:
        acc = data.readUInt32LE(i.k);
        break;
      case BPF_JEQ_K:
        pc += acc === i.k >>> 0 ? i.jt : i.jf;
        break;
      case BPF_JGE_K:
        pc += acc >= i.k >>> 0 ? i.jt : i.jf;
        break;
      case BPF_JSET_K:
        pc += (acc & i.k) !== 0 ? i.jt : i.jf;
        break;
      case BPF_RET_K:
        return i.k >>> 0;
      default:
        throw new Error(`unknown BPF instruction ${i.code}`);
    }
  }
  throw new Error('the program fell off its end');
}

const filterFiles = new Map<string, string>();

/**
 * The encoded filter in a file under `dir` (written once, named by its content), for bwrap to
 * read; undefined on machines other than x86-64, for which it is not written.
 */
export function seccompFilterFile(dir: string): string | undefined {
  if (process.arch !== 'x64') return undefined;
  const known = filterFiles.get(dir);
  if (known) return known;
  const bytes = encodeProgram(seccompProgram());
  const path = join(dir, `seccomp-x86_64-${createHash('sha256').update(bytes).digest('hex').slice(0, 12)}.bpf`);
  if (!existsSync(path)) {
    mkdirSync(dir, { recursive: true, mode: 0o711 });
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, bytes, { mode: 0o644 });
    renameSync(tmp, path);
  }
  filterFiles.set(dir, path);
  return path;
}
