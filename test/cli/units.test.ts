import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDuration, parseMemory, parseMemoryList } from '../../src/cli/units.ts';

describe('units', () => {
  it('parses memory sizes with units (powers of 1024), bare numbers as MB', () => {
    assert.equal(parseMemory('512MB'), 512);
    assert.equal(parseMemory('16GB'), 16 * 1024);
    assert.equal(parseMemory('1.5gb'), 1536);
    assert.equal(parseMemory('300'), 300);
    assert.throws(() => parseMemory('lots'), /option --memory: expected a memory size.*got 'lots'/);
    assert.throws(() => parseMemory('5 parsecs'), /--memory/);
  });

  it('parses ranges with a step, inclusive, without floating-point drift', () => {
    const sizes = parseMemoryList('1GB..80GB:500MB');
    assert.equal(sizes[0], 1024);
    assert.equal(sizes[1], 1524);
    assert.equal(sizes.length, Math.floor((80 * 1024 - 1024) / 500) + 1);
    assert.deepEqual(parseMemoryList('1GB..3GB:1GB'), [1024, 2048, 3072]);
  });

  it('parses ranges with a point count and comma lists', () => {
    assert.deepEqual(parseMemoryList('1GB..2GB/3'), [1024, 1536, 2048]);
    assert.deepEqual(parseMemoryList('512MB, 1GB,2GB'), [512, 1024, 2048]);
    assert.throws(() => parseMemoryList('2GB..1GB:1GB'), /ends before it starts/);
    assert.throws(() => parseMemoryList('1GB..2GB'), /needs a step/);
  });

  it('parses durations', () => {
    assert.equal(parseDuration('10m', '--ttl'), 600_000);
    assert.equal(parseDuration('30s', '--ttl'), 30_000);
    assert.equal(parseDuration('250', '--ttl'), 250);
    assert.equal(parseDuration('2h', '--ttl'), 7_200_000);
    assert.throws(() => parseDuration('soon', '--ttl'), /option --ttl/);
  });
});
