import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ThawError } from '../../../src/core/errors.ts';
import { parseAliasRoutes } from '../../../src/platform/store/index.ts';
import { openStore, tempDir, TestClock, versionSpec } from './helpers.ts';

const code = (expected: string) => (e: unknown) => e instanceof ThawError && e.code === expected;

describe('aliases', () => {
  it('parses VERSION[:WEIGHT][,VERSION:WEIGHT]: percents, one version may take the rest', () => {
    assert.deepEqual(parseAliasRoutes('4'), [{ version: 4, weight: 100 }]);
    assert.deepEqual(parseAliasRoutes('3:90,4:10'), [{ version: 3, weight: 90 }, { version: 4, weight: 10 }]);
    assert.deepEqual(parseAliasRoutes('3, 4:10'), [{ version: 3, weight: 90 }, { version: 4, weight: 10 }]);
    assert.deepEqual(parseAliasRoutes('1:50,2:25,3:25'), [{ version: 1, weight: 50 }, { version: 2, weight: 25 }, { version: 3, weight: 25 }]);
    assert.deepEqual(parseAliasRoutes('1:99.5,2:0.5'), [{ version: 1, weight: 99.5 }, { version: 2, weight: 0.5 }]);
    for (const [bad, why] of [
      ['3:90,4:20', /sum to 100, got 110/],
      ['3:90', /sum to 100, got 90/],
      ['3,4', /only one version may leave out its weight/],
      ['3:100,4', /weight must be a percent/],
      ['3:50,3:50', /version 3 appears twice/],
      ['0', /version must be an integer ≥ 1/],
      ['v3', /expected VERSION\[:WEIGHT\]/],
      ['', /expected VERSION/],
    ] as const) {
      assert.throws(() => parseAliasRoutes(bad), (e: unknown) => code('ERR_INVALID_OPTION')(e) && why.test((e as Error).message), bad);
    }
  });

  it('creates, re-points, lists and removes aliases of existing versions only', () => {
    const clock = new TestClock();
    const store = openStore(tempDir(), clock);
    store.functions.publish('f', versionSpec());
    store.functions.publish('f', versionSpec());
    const prod = store.aliases.set('f', 'prod', [{ version: 1, weight: 90 }, { version: 2, weight: 10 }]);
    assert.deepEqual(prod, { functionName: 'f', name: 'prod', routes: [{ version: 1, weight: 90 }, { version: 2, weight: 10 }], updatedAt: clock.t });
    clock.advance(5);
    store.aliases.set('f', 'prod', [{ version: 1, weight: 100 }]); // roll back
    store.aliases.set('f', 'canary', [{ version: 2, weight: 100 }]);
    assert.deepEqual(store.aliases.list('f').map((a) => [a.name, a.routes]), [['canary', [{ version: 2, weight: 100 }]], ['prod', [{ version: 1, weight: 100 }]]]);
    assert.equal(store.aliases.get('f', 'prod')?.updatedAt, clock.t);

    assert.throws(() => store.aliases.set('f', 'prod', [{ version: 3, weight: 100 }]), code('ERR_NOT_FOUND'));
    assert.throws(() => store.aliases.set('nope', 'prod', [{ version: 1, weight: 100 }]), code('ERR_NOT_FOUND'));
    for (const bad of ['latest', '3', 'Prod', '', 'a'.repeat(64)]) assert.throws(() => store.aliases.set('f', bad, [{ version: 1, weight: 100 }]), code('ERR_INVALID_OPTION'), bad);
    assert.deepEqual(store.aliases.get('f', 'prod')?.routes, [{ version: 1, weight: 100 }], 'a refused change changes nothing');

    assert.equal(store.aliases.remove('f', 'canary'), true);
    assert.equal(store.aliases.remove('f', 'canary'), false);
    assert.throws(() => store.aliases.require('f', 'canary'), code('ERR_NOT_FOUND'));
    store.functions.remove('f');
    assert.deepEqual(store.aliases.list('f'), [], 'removing the function removes its aliases');
  });
});
