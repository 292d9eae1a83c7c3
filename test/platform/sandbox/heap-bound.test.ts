// Which bound a runtime's heap gets: the memory cgroup alone where it holds and node's default heap
// is at least the function's memory, else the V8 flag.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { heapBound, nodeArguments } from '../../../src/platform/sandbox/launcher.ts';

const paths = { agentPath: '/thaw/agent.cjs', bundlePath: '/code/bundle.cjs', zygoteDir: '/zygote', blobPath: '/snapshot/function.blob' };

describe('heapBound', () => {
  it('is the cgroup when one bounds memory and the default heap holds the function', () => {
    assert.equal(heapBound(true, 128, 4144), 'cgroup');
    assert.equal(heapBound(true, 4144, 4144), 'cgroup');
  });
  it('is the flag without a memory cgroup, or when the default heap is smaller than the function', () => {
    assert.equal(heapBound(false, 128, 4144), 'v8-flag');
    assert.equal(heapBound(true, 8192, 4144), 'v8-flag');
    assert.equal(heapBound(true, 128, 0), 'v8-flag'); // thaw's own node under a heap flag: default unknown
  });
});

describe('nodeArguments', () => {
  it('drops the V8 flag for a cold agent bounded by its cgroup', () => {
    const args = nodeArguments({ kind: 'agent' }, paths, 128, 'ab', null, 'cgroup');
    assert.deepEqual(args, ['/thaw/agent.cjs', '--bundle=/code/bundle.cjs', '--log-marker=ab', '--invocation-markers=off']);
  });
  it('has the agent mark only its start (the host reads its pipes directly), but a snapshot agent every invocation', () => {
    assert.ok(nodeArguments({ kind: 'agent' }, paths, 128, 'ab', null).includes('--invocation-markers=off'));
    assert.ok(nodeArguments({ kind: 'zygote', boot: { packageDir: '/z', packages: [] } }, paths, 128, 'ab', null).includes('--invocation-markers=off'));
    assert.ok(!nodeArguments({ kind: 'snapshot', blobPath: '/snapshot/function.blob' }, paths, 128, 'ab', null).includes('--invocation-markers=off'));
  });
  it('keeps it by default and for snapshots (a blob loads only under its build flags)', () => {
    assert.equal(nodeArguments({ kind: 'agent' }, paths, 128, 'ab', null)[0], '--max-old-space-size=128');
    const snap = nodeArguments({ kind: 'snapshot', blobPath: '/snapshot/function.blob' }, paths, 128, 'ab', null, 'cgroup');
    assert.ok(snap.includes('--max-old-space-size=128'), snap.join(' '));
  });
});
