import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { CountRowScanner, openCsv, parseCount, parseDecimal, readLines } from '../../../src/sim/traces/csv.ts';
import { assertFormatError, tempTrace } from './helpers.ts';

const temp = tempTrace({
  'lf.csv': 'a,b\n1,2\n3,4\n',
  'crlf.csv': 'a,b\r\n1,2\r\n3,4\r\n',
  'no-final-newline.csv': 'a,b\n1,2\n3,4',
  'blank-last-line.csv': 'a,b\n1,2\n3,4\n\n',
  'blank-middle.csv': 'a,b\n1,2\n\n3,4\n',
  'bom.csv': '\uFEFFa,b\n1,2\n',
  'quoted.csv': 'a,b\n1,"2"\n',
  'short-row.csv': 'a,b,c\n1,2,3\n4,5\n',
  'duplicate-column.csv': 'a,b,a\n1,2,3\n',
  'empty.csv': '\n\n',
  'counts.csv': 'id,kind,1,2,3\nf1,http,0,12,3\n',
  'long-lines.csv': `x,y\n${'9'.repeat(5000)},1\n2,${'8'.repeat(3000)}\n`,
});
after(temp.cleanup);

const rowsOf = (name: string, chunkBytes?: number): Array<[number, string[]]> =>
  [...openCsv(temp.path(name), chunkBytes === undefined ? {} : { chunkBytes })].map((row) => [row.lineNo, row.fields]);

describe('readLines', () => {
  it('numbers lines from 1 and adds no phantom line after a final newline', () => {
    assert.deepEqual(
      [...readLines(temp.path('lf.csv'))].map((l) => [l.lineNo, l.text]),
      [[1, 'a,b'], [2, '1,2'], [3, '3,4']],
    );
  });

  it('strips CRLF and reads a last line without a newline', () => {
    assert.deepEqual([...readLines(temp.path('crlf.csv'))].map((l) => l.text), ['a,b', '1,2', '3,4']);
    assert.deepEqual([...readLines(temp.path('no-final-newline.csv'))].map((l) => l.text), ['a,b', '1,2', '3,4']);
  });

  it('gives the same lines whatever the chunk size, including lines longer than a chunk', () => {
    const whole = [...readLines(temp.path('long-lines.csv'))];
    for (const chunkBytes of [1, 2, 3, 7, 64, 4096]) {
      assert.deepEqual([...readLines(temp.path('long-lines.csv'), chunkBytes)], whole, `chunk ${chunkBytes}`);
    }
    assert.equal(whole[1]!.text.length, 5002);
  });

  it('drops a byte order mark', () => {
    assert.equal([...readLines(temp.path('bom.csv'))][0]!.text, 'a,b');
  });
});

describe('openCsv', () => {
  it('reads the header and the rows with their line numbers', () => {
    const csv = openCsv(temp.path('lf.csv'));
    assert.deepEqual(csv.header.names, ['a', 'b']);
    assert.equal(csv.header.indexOf('b'), 1);
    assert.equal(csv.header.indexOf('z'), -1);
    assert.deepEqual([...csv].map((r) => [r.lineNo, r.fields]), [[2, ['1', '2']], [3, ['3', '4']]]);
  });

  it('skips blank lines but keeps counting them', () => {
    assert.deepEqual(rowsOf('blank-last-line.csv'), [[2, ['1', '2']], [3, ['3', '4']]]);
    assert.deepEqual(rowsOf('blank-middle.csv'), [[2, ['1', '2']], [4, ['3', '4']]]);
    assert.deepEqual(rowsOf('crlf.csv', 3), [[2, ['1', '2']], [3, ['3', '4']]]);
  });

  it('refuses quotes, short rows, repeated and missing columns, and empty files, naming file and line', () => {
    assertFormatError(() => rowsOf('quoted.csv'), { file: 'quoted.csv', line: 2, message: /quoted fields are not supported/ });
    assertFormatError(() => rowsOf('short-row.csv'), { file: 'short-row.csv', line: 3, message: /expected 3 fields.*got 2/ });
    assertFormatError(() => openCsv(temp.path('duplicate-column.csv')), { file: 'duplicate-column.csv', line: 1, column: 'a' });
    assertFormatError(() => openCsv(temp.path('lf.csv')).header.require('Average'), {
      file: 'lf.csv',
      line: 1,
      column: 'Average',
      message: /missing required column 'Average' \(header: a,b\)/,
    });
    assertFormatError(() => openCsv(temp.path('empty.csv')), { file: 'empty.csv', message: /empty/ });
  });
});

describe('field parsers', () => {
  it('parseCount accepts plain non-negative integers below 2^31 only', () => {
    assert.equal(parseCount('0'), 0);
    assert.equal(parseCount('1915521'), 1915521);
    assert.equal(parseCount('2147483647'), 2147483647);
    for (const bad of ['', ' 1', '1 ', '-1', '1.0', '1e3', '0x1', 'abc', '2147483648', '99999999999']) assert.equal(parseCount(bad), -1, bad);
  });

  it('parseDecimal accepts decimal numbers and nothing else', () => {
    assert.equal(parseDecimal('6664.0'), 6664);
    assert.equal(parseDecimal('9.416666666666666'), 9.416666666666666);
    assert.equal(parseDecimal('-2'), -2);
    assert.equal(parseDecimal('.5'), 0.5);
    assert.equal(parseDecimal('1e-3'), 0.001);
    for (const bad of ['', ' ', '0x10', 'NaN', 'Infinity', '1e999', '1,5', '1.2.3']) assert.ok(Number.isNaN(parseDecimal(bad)), bad);
  });
});

describe('CountRowScanner', () => {
  const csv = openCsv(temp.path('counts.csv'));
  csv.close();
  const scanner = new CountRowScanner(csv.header, [2, 3, 4]);
  const counts = new Int32Array(3);
  const scan = (text: string): number => scanner.scan(text, 7, counts);

  it('reads counts into the array and cuts out the text columns', () => {
    assert.equal(scan('f1,http,0,12,2147483647'), -1);
    assert.deepEqual([...counts], [0, 12, 2147483647]);
    assert.deepEqual(scanner.texts.slice(0, 2), ['f1', 'http']);
  });

  it('reports the first empty field without throwing', () => {
    assert.equal(scan('f1,,1,,3'), 1);
    assert.equal(scan('f1,http,1,,3'), 3);
    assert.deepEqual([...counts], [1, 0, 3]);
  });

  it('refuses bad counts, quotes and wrong field counts, naming file, line and column', () => {
    const file = 'counts.csv';
    for (const bad of ['-1', '1.5', ' 1', 'x', '2147483648', '1e3']) {
      assertFormatError(() => scan(`f1,http,0,${bad},3`), { file, line: 7, column: '2', message: /expected a non-negative integer/ });
    }
    assertFormatError(() => scan('f1,"http",0,1,3'), { file, line: 7, message: /quoted/ });
    assertFormatError(() => scan('f1,http,0,1'), { file, line: 7, message: /expected 5 fields as in the header, got 4/ });
    assertFormatError(() => scan('f1,http,0,1,3,4'), { file, line: 7, message: /expected 5 fields as in the header, got more/ });
  });
});
