import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { curveTable, simSummaryTable, sweepTable } from '../../../src/sim/report/summaries.ts';
import { formatTable } from '../../../src/sim/report/table.ts';
import { curveTableSizes } from '../../../src/sim/report/summaries.ts';
import { curve, dynamicSimResult, simResult, sweep } from './fixtures.ts';

/** The first line of `text` that starts (after its indent) with `startsWith`, indent kept. */
function lineOf(text: string, startsWith: string): string {
  const line = text.split('\n').find((candidate) => candidate.trimStart().startsWith(startsWith));
  assert.ok(line, `no line starting with ${startsWith} in\n${text}`);
  return line;
}

describe('formatTable', () => {
  it('puts a rule under the header, right-aligns numbers and left-aligns text', () => {
    const text = formatTable(['name', 'count'], [
      ['a', 1],
      ['bbbb', 1234567],
    ]);
    assert.equal(text, ['name      count', '────  ─────────', 'a             1', 'bbbb  1,234,567'].join('\n'));
  });

  it('treats formatted numbers (units, %, <0.01) as numbers and missing cells as a dash', () => {
    const text = formatTable(['size', 'ratio'], [
      ['512 MB', '12.5%'],
      ['16 GB', '<0.01%'],
      ['2 GB', null],
    ]);
    const lines = text.split('\n');
    assert.equal(lines[2], '512 MB   12.5%');
    assert.equal(lines[3], ' 16 GB  <0.01%');
    assert.equal(lines[4], '  2 GB       —');
  });

  it('follows an explicit alignment and leaves no trailing spaces', () => {
    const text = formatTable([{ header: 'a', align: 'right' }, { header: 'b', align: 'left' }], [
      ['x', '1'],
      ['xyz', '22'],
    ]);
    assert.deepEqual(text.split('\n'), ['  a  b', '───  ──', '  x  1', 'xyz  22']);
  });

  it('draws a heading across the columns of each group', () => {
    const text = formatTable(
      [{ header: 'mem' }, { header: 'x', group: 'GD' }, { header: 'y', group: 'GD' }, { header: 'x', group: 'LRU' }, { header: 'y', group: 'LRU' }],
      [['1 GB', 1, 2, 3, 4]],
    );
    const [groups, header] = text.split('\n');
    assert.match(groups!, /─ GD ─/);
    assert.match(groups!, /─ LRU ─/);
    assert.ok(groups!.indexOf('GD') > header!.indexOf('mem'), 'group heading sits over its columns');
    assert.ok(groups!.indexOf('LRU') > groups!.indexOf('GD'));
  });
});

describe('formatTable with a maximum width', () => {
  const columns = [
    { header: 'mem' },
    ...['GD', 'LRU', 'TTL'].flatMap((group) => [
      { header: 'ovh %', group },
      { header: 'drops', group },
    ]),
  ];
  const rows = [['1 GB', 1, 1234567, 2, 2, 3, 3]];

  it('splits the column groups into tables that fit, repeating the row keys', () => {
    const text = formatTable(columns, rows, { maxWidth: 50 });
    const tables = text.split('\n\n');
    assert.equal(tables.length, 2);
    assert.match(tables[0]!, /─ GD ─.*─ LRU ─/);
    assert.match(tables[1]!, /─ TTL ─/);
    for (const table of tables) {
      assert.match(table, /^1 GB/m, 'each part keeps the memory column');
      assert.ok(Math.max(...table.split('\n').map((line) => line.length)) <= 50);
    }
  });

  it('keeps one table when it fits', () => {
    assert.equal(formatTable(columns, rows, { maxWidth: 200 }), formatTable(columns, rows));
  });
});

describe('sweepTable', () => {
  const text = sweepTable(sweep());

  it('has one row per memory size with each policy’s overhead, cold % and drops', () => {
    assert.match(text, /─ GD ─/);
    assert.match(text, /─ TTL ─/);
    assert.deepEqual(lineOf(text, '1 GB').trim().split(/\s+/), ['1', 'GB', '30.0', '20.0', '120', '150', '60.0', '1,500']);
    assert.deepEqual(lineOf(text, '4 GB').trim().split(/\s+/), ['4', 'GB', '<0.01', '0.10', '0', '10.0', '10.0', '0']);
  });

  it('right-aligns the numbers under their headers', () => {
    const header = text.split('\n').find((line) => line.startsWith('memory'))!;
    const row = lineOf(text, '1 GB');
    const dropsEnd = header.indexOf('drops') + 'drops'.length;
    assert.equal(row.indexOf('120') + '120'.length, dropsEnd);
  });

  it('adds a table of per-policy means', () => {
    assert.match(text, /per-policy means over 3 memory sizes/);
    // GD's mean overhead: (30 + 5.25 + 0.004) / 3
    assert.match(lineOf(text, 'GD '), /^GD\s+11\.8\s/);
    assert.match(lineOf(text, 'TTL '), /^TTL\s+66\.7\s/);
  });

  it('says the memory sizes are per server when there are several', () => {
    assert.match(sweepTable({ ...sweep(), servers: 4 }), /^memory per server\s+ovh %/m);
  });

  it('prints a dash for a policy not run at a memory size', () => {
    const partial = sweep();
    partial.points = partial.points.filter((point) => !(point.policy === 'TTL' && point.memoryMb === 2048));
    assert.match(lineOf(sweepTable(partial), '2 GB'), /—\s+—\s+—$/);
  });
});

describe('simSummaryTable', () => {
  it('summarises starts, drops, overhead and memory with shares', () => {
    const text = simSummaryTable(simResult());
    assert.match(text, /^GD on 2 GB — trace tiny-trace: 3 functions, 1,000 invocations over 5 min/);
    assert.match(lineOf(text, 'cold starts'), /90\s+9\.09% of served$/);
    assert.match(lineOf(text, 'cold-start overhead'), /12\.5%/);
    assert.match(lineOf(text, 'idle (wasted) memory'), /1,235 GB-s/);
    assert.match(text, /functions with the most cold starts \(3 of 3\)/);
    assert.ok(text.indexOf('fn-b') < text.indexOf('fn-a'), 'sorted by cold starts');
  });

  it('describes dynamic sizing by its mean capacity', () => {
    const text = simSummaryTable(dynamicSimResult());
    assert.match(text, /^GD\+dynamic with dynamic sizing \(mean 2\.2 GB\)/);
    assert.match(lineOf(text, 'resizes'), /2$/);
  });
});

describe('curveTable', () => {
  it('samples the curves at memory-like sizes and gives the size for the target and the knee', () => {
    const text = curveTable(curve());
    assert.match(text, /cache size\s+exact\s+sampled/);
    assert.match(lineOf(text, '128 MB').trim(), /^128 MB\s+20\.0%\s+22\.0%$/);
    // A step function: at 768 MB the last point at or below is 512 MB.
    assert.match(lineOf(text, '768 MB').trim(), /^768 MB\s+80\.0%\s+79\.0%$/);
    assert.match(lineOf(text, '2 GB').trim(), /^2 GB\s+97\.0%\s+97\.0%$/);
    assert.match(lineOf(text, 'size for 90.0% hit ratio'), /1 GB\s+1 GB$/);
    assert.match(lineOf(text, 'knee'), /512 MB\s+512 MB$/);
    assert.match(text, /mean \|difference\| 1\.20 pp, max 2\.00 pp/);
  });

  it('prints a dash below the first point, where the curve says nothing', () => {
    const later = curve();
    later.exact = { sizesMb: [100, 1000], hitRatio: [0.3, 0.9] };
    delete later.sampled;
    delete later.sampledError;
    const text = curveTable(later);
    assert.match(lineOf(text, '64 MB').trim(), /^64 MB\s+—$/);
    assert.doesNotMatch(text, /sampled/);
  });

  it('steps geometrically, so the steep start and the flat tail both get rows', () => {
    const large = curve();
    large.exact = { sizesMb: [1024, 80 * 1024], hitRatio: [0.5, 0.99] };
    delete large.sampled;
    assert.deepEqual(
      curveTableSizes(large).map((mb) => mb / 1024),
      [1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96],
    );
  });

  it('says when the target is never reached', () => {
    const unreached = curve();
    unreached.sizeForTargetMb = { exact: null, sampled: null };
    assert.match(lineOf(curveTable(unreached), 'size for'), /not reached\s+not reached$/);
  });
});
