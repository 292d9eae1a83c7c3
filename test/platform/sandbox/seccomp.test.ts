// The lean container's seccomp filter, run instruction by instruction the way the kernel runs it.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

import {
  AUDIT_ARCH_X86_64,
  CLONE_NAMESPACE_FLAGS,
  DENIED_SYSCALLS,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_KILL_PROCESS,
  SYSCALL_CLONE,
  SYSCALL_CLONE3,
  encodeProgram,
  evaluate,
  seccompProgram,
} from '../../../src/platform/sandbox/seccomp.ts';

const program = seccompProgram();
const EPERM = 0x00050000 | 1;
const ENOSYS = 0x00050000 | 38;

describe('seccomp filter', () => {
  it('refuses every system call of the deny list with EPERM', () => {
    for (const [name, nr] of Object.entries(DENIED_SYSCALLS)) assert.equal(evaluate(program, { nr }), EPERM, name);
  });

  it('allows what node and the agent need', () => {
    // read, write, openat, mmap, futex, epoll_wait, setuid, setgid, execve, exit_group, getrandom, io_uring_setup
    for (const nr of [0, 1, 257, 9, 202, 232, 105, 106, 59, 231, 318, 425]) assert.equal(evaluate(program, { nr }), SECCOMP_RET_ALLOW, `nr ${nr}`);
  });

  it('lets clone make threads and processes but not namespaces; clone3 falls back to clone', () => {
    const threadFlags = 0x3d0f00; // CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|PARENT_SETTID|CHILD_CLEARTID
    assert.equal(evaluate(program, { nr: SYSCALL_CLONE, args: [threadFlags] }), SECCOMP_RET_ALLOW);
    assert.equal(evaluate(program, { nr: SYSCALL_CLONE, args: [17] }), SECCOMP_RET_ALLOW, 'fork: SIGCHLD only');
    for (const bit of [0x00020000, 0x10000000, 0x20000000, 0x40000000]) {
      assert.equal(evaluate(program, { nr: SYSCALL_CLONE, args: [17 | bit] }), EPERM, `flag ${bit.toString(16)}`);
    }
    assert.equal(CLONE_NAMESPACE_FLAGS & threadFlags, 0);
    assert.equal(evaluate(program, { nr: SYSCALL_CLONE3 }), ENOSYS);
  });

  it('kills a call from another architecture and refuses the x32 ABI', () => {
    assert.equal(evaluate(program, { nr: 1, arch: 0x40000003 /* i386 */ }), SECCOMP_RET_KILL_PROCESS);
    assert.equal(evaluate(program, { nr: 0x40000000 + 1, arch: AUDIT_ARCH_X86_64 }), EPERM);
  });

  it('encodes 8 bytes per instruction', () => {
    const bytes = encodeProgram(program);
    assert.equal(bytes.length, program.length * 8);
    assert.equal(bytes.readUInt16LE(0), program[0]!.code);
    assert.equal(bytes.readUInt32LE(bytes.length - 4), SECCOMP_RET_KILL_PROCESS);
  });

  const header = '/usr/include/x86_64-linux-gnu/asm/unistd_64.h';
  it('uses the kernel header’s system call numbers', { skip: existsSync(header) ? false : `no ${header}` }, () => {
    const text = readFileSync(header, 'utf8');
    const numbers = new Map([...text.matchAll(/#define __NR_(\w+)\s+(\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
    for (const [name, nr] of Object.entries({ ...DENIED_SYSCALLS, clone: SYSCALL_CLONE, clone3: SYSCALL_CLONE3 })) {
      if (numbers.has(name)) assert.equal(numbers.get(name), nr, name);
    }
  });
});
