// The zygote tree: hand-made dependency sets → the expected tree, the deepest contained match,
// exact versions, popularity, caps, networks, and invariants over generated inputs.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  deepestContained,
  describeSet,
  isContained,
  planZygoteTree,
  zygoteKey,
  type TreeCandidate,
  type ZygoteNode,
} from '../../../../src/platform/accelerators/zygote/tree.ts';

const fn = (name: string, dependencies: Record<string, string>, extra: Partial<TreeCandidate> = {}): TreeCandidate => ({
  name,
  dependencies,
  weight: 0,
  memoryMb: 128,
  network: false,
  ...extra,
});

const FUNCTIONS = [
  fn('a', { lodash: '4.17.21', dayjs: '1.11.13', ms: '2.1.3' }),
  fn('b', { lodash: '4.17.21', dayjs: '1.11.13' }),
  fn('c', { lodash: '4.17.21', express: '4.21.2' }),
  fn('d', { lodash: '4.17.21', express: '4.21.2', 'body-parser': '1.20.3' }),
  fn('e', { react: '18.3.1' }),
  fn('f', { react: '17.0.2' }),
  fn('g', {}),
];

/** The tree as (set → parent set), for readable assertions. */
function shape(nodes: ZygoteNode[]): Array<[string, string | null, number]> {
  const byKey = new Map(nodes.map((n) => [n.key, n]));
  return nodes.map((n) => [describeSet(n.packages), n.parent === null ? null : describeSet(byKey.get(n.parent)!.packages), n.depth]);
}

describe('planZygoteTree', () => {
  it('grows shared sets into a tree whose children contain their parents', () => {
    const tree = planZygoteTree(FUNCTIONS);
    assert.deepEqual(shape(tree.nodes), [
      ['lodash@4.17.21', null, 1],
      ['dayjs@1.11.13 lodash@4.17.21', 'lodash@4.17.21', 2],
      ['express@4.21.2 lodash@4.17.21', 'lodash@4.17.21', 2],
    ]);
    assert.equal(tree.kept.length, 3);
    const byKey = new Map(tree.nodes.map((n) => [n.key, describeSet(n.packages)]));
    assert.deepEqual(Object.fromEntries([...tree.assignment].map(([f, k]) => [f, byKey.get(k)])), {
      a: 'dayjs@1.11.13 lodash@4.17.21',
      b: 'dayjs@1.11.13 lodash@4.17.21',
      c: 'express@4.21.2 lodash@4.17.21',
      d: 'express@4.21.2 lodash@4.17.21',
    });
    const lodash = tree.nodes[0]!;
    assert.deepEqual(lodash.users, ['a', 'b', 'c', 'd']);
    assert.deepEqual(lodash.serves, [], 'every user of lodash alone has a deeper zygote');
    // e and f share react, but not its version; g has no packages: none of them gets a zygote.
    for (const name of ['e', 'f', 'g']) assert.equal(tree.assignment.has(name), false);
  });

  it('matches the deepest set contained in a function’s dependencies, with the same exact versions', () => {
    const { kept } = planZygoteTree(FUNCTIONS);
    const match = (deps: Record<string, string>) => {
      const n = deepestContained(kept, deps);
      return n && describeSet(n.packages);
    };
    assert.equal(match({ lodash: '4.17.21', dayjs: '1.11.13', uuid: '9.0.1' }), 'dayjs@1.11.13 lodash@4.17.21');
    assert.equal(match({ lodash: '4.17.21', uuid: '9.0.1' }), 'lodash@4.17.21');
    assert.equal(match({ lodash: '4.17.21', dayjs: '1.11.12' }), 'lodash@4.17.21', 'another dayjs: only the lodash zygote');
    assert.equal(match({ lodash: '4.17.20', dayjs: '1.11.13' }), undefined, 'another lodash: no zygote at all');
    assert.equal(match({ express: '4.21.2' }), undefined, 'a subset of a set is not enough');
    assert.equal(match({}), undefined);
    assert.equal(isContained({ a: '1' }, { a: '1', b: '2' }), true);
    assert.equal(isContained({ a: '1' }, { a: '1.0' }), false);
    assert.equal(isContained({}, {}), true);
  });

  it('gives one popular function a zygote of its own, below what it shares', () => {
    const tree = planZygoteTree(
      FUNCTIONS.map((f) => (f.name === 'e' ? { ...f, weight: 25 } : f.name === 'a' ? { ...f, weight: 12 } : f)),
      { popularWeight: 10 },
    );
    const sets = tree.kept.map((n) => describeSet(n.packages));
    assert.ok(sets.includes('react@18.3.1'), 'e is popular alone');
    assert.ok(!sets.includes('react@17.0.2'));
    assert.ok(sets.includes('dayjs@1.11.13 lodash@4.17.21 ms@2.1.3'), 'a is popular: its whole set, under the one it shares with b');
    const aNode = tree.kept.find((n) => describeSet(n.packages) === 'dayjs@1.11.13 lodash@4.17.21 ms@2.1.3')!;
    assert.equal(describeSet(tree.nodes.find((n) => n.key === aNode.parent)!.packages), 'dayjs@1.11.13 lodash@4.17.21');
    assert.equal(tree.assignment.get('a'), aNode.key);
    assert.equal(tree.assignment.get('e'), zygoteKey({ react: '18.3.1' }, false));
    // Without popularity the same input has no such zygotes.
    assert.ok(!planZygoteTree(FUNCTIONS).kept.some((n) => describeSet(n.packages) === 'react@18.3.1'));
  });

  it('needs minFunctions functions to share a set', () => {
    assert.equal(planZygoteTree(FUNCTIONS, { minFunctions: 3 }).kept.map((n) => describeSet(n.packages)).join(' | '), 'lodash@4.17.21');
    assert.equal(planZygoteTree(FUNCTIONS, { minFunctions: 5 }).kept.length, 0);
  });

  it('caps the number of zygotes and their memory, keeping the most useful sets', () => {
    const two = planZygoteTree(FUNCTIONS, { maxZygotes: 1 });
    assert.deepEqual(two.kept.map((n) => describeSet(n.packages)), ['lodash@4.17.21'], 'used by four functions: the highest score');
    assert.match(two.nodes.find((n) => !n.kept)!.dropped!, /maxZygotes/);
    // Functions whose deeper set was dropped fall back to the shallower one.
    assert.equal(two.assignment.get('a'), two.kept[0]!.key);

    const heavy = FUNCTIONS.map((f) => (f.name === 'd' ? { ...f, memoryMb: 1024 } : f));
    const capped = planZygoteTree(heavy, { maxMemoryMb: 600 });
    const total = capped.kept.reduce((sum, n) => sum + n.memoryMb, 0);
    assert.ok(total <= 600, `kept ${total} MB`);
    assert.ok(capped.nodes.some((n) => n.dropped?.includes('maxMemoryMb')));
    assert.equal(capped.nodes.find((n) => n.users.includes('d'))!.memoryMb, 1024, "a zygote's limit is its largest user's");
    const replicas = planZygoteTree(FUNCTIONS, { replicas: 2, maxMemoryMb: 512 });
    assert.equal(replicas.kept.length, 2, '128 MB × 2 replicas per set: two sets fit 512 MB');
  });

  it('plans functions with network access apart (a zygote’s network is fixed when it starts)', () => {
    const tree = planZygoteTree([
      fn('x', { lodash: '4.17.21', a: '1.0.0' }),
      fn('y', { lodash: '4.17.21', b: '1.0.0' }),
      fn('z', { lodash: '4.17.21' }, { network: true }),
      fn('w', { lodash: '4.17.21', c: '1.0.0' }, { network: true }),
    ]);
    assert.deepEqual(
      tree.kept.map((n) => [describeSet(n.packages), n.network, n.serves]),
      [
        ['lodash@4.17.21', false, ['x', 'y']],
        ['lodash@4.17.21', true, ['w', 'z']],
      ],
    );
    assert.notEqual(tree.kept[0]!.key, tree.kept[1]!.key);
  });

  it('can keep a root zygote of no packages, which every function can start from', () => {
    const tree = planZygoteTree(FUNCTIONS, { rootZygote: true });
    assert.equal(describeSet(tree.kept[0]!.packages), '(no packages)');
    assert.equal(tree.nodes.find((n) => describeSet(n.packages) === 'lodash@4.17.21')!.parent, tree.kept[0]!.key);
    assert.equal(tree.assignment.get('g'), tree.kept[0]!.key);
    assert.equal(tree.assignment.get('e'), tree.kept[0]!.key);
  });

  it('rejects malformed input', () => {
    assert.throws(() => planZygoteTree([fn('a', {}), fn('a', {})]), /twice/);
    assert.throws(() => planZygoteTree([fn('a', { x: '' })]), /exact version/);
    assert.throws(() => planZygoteTree([fn('a', {}, { weight: -1 })]), /weight/);
    assert.throws(() => planZygoteTree([], { replicas: 0 }), /replicas/);
  });

  it('keeps its invariants on generated inputs (children contain parents, sets unique and earned, deepest match)', () => {
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const packages = ['lodash', 'dayjs', 'ms', 'uuid', 'ajv', 'yaml', 'axios', 'chalk', 'zod', 'express'];
    for (let round = 0; round < 40; round++) {
      const candidates: TreeCandidate[] = [];
      const count = 2 + Math.floor(rand() * 14);
      for (let i = 0; i < count; i++) {
        const deps: Record<string, string> = {};
        for (const p of packages) if (rand() < 0.35) deps[p] = rand() < 0.8 ? '1.0.0' : '2.0.0';
        candidates.push(fn(`f${i}`, deps, { weight: Math.floor(rand() * 15), memoryMb: 64 * (1 + Math.floor(rand() * 4)), network: rand() < 0.2 }));
      }
      const options = { maxZygotes: 1 + Math.floor(rand() * 6), maxMemoryMb: 256 + Math.floor(rand() * 1024) };
      const tree = planZygoteTree(candidates, options);
      const again = planZygoteTree([...candidates].reverse(), options);
      assert.deepEqual(again.kept.map((n) => n.key).sort(), tree.kept.map((n) => n.key).sort(), 'deterministic, whatever the order');
      const byKey = new Map(tree.nodes.map((n) => [n.key, n]));
      assert.equal(byKey.size, tree.nodes.length, 'sets are unique');
      for (const n of tree.nodes) {
        if (n.parent !== null) {
          const parent = byKey.get(n.parent)!;
          assert.ok(isContained(parent.packages, n.packages) && Object.keys(n.packages).length > Object.keys(parent.packages).length, 'a child strictly contains its parent');
        }
        const users = candidates.filter((c) => c.network === n.network && isContained(n.packages, c.dependencies));
        assert.deepEqual(n.users, users.map((c) => c.name).sort());
        assert.ok(users.length >= 2 || users.reduce((s, c) => s + c.weight, 0) >= 10, 'every set is earned');
        assert.ok(Object.keys(n.packages).length > 0);
      }
      assert.ok(tree.kept.length <= options.maxZygotes);
      assert.ok(tree.kept.reduce((s, n) => s + n.memoryMb, 0) <= options.maxMemoryMb);
      for (const c of candidates) {
        const key = tree.assignment.get(c.name);
        const usable = tree.kept.filter((n) => n.network === c.network && n.memoryMb >= c.memoryMb && isContained(n.packages, c.dependencies));
        if (key === undefined) {
          assert.equal(usable.length, 0);
          continue;
        }
        const depth = Object.keys(byKey.get(key)!.packages).length;
        assert.ok(usable.every((n) => Object.keys(n.packages).length <= depth), 'the deepest usable set');
      }
    }
  });
});
