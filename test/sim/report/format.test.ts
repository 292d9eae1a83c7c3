import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  formatCount,
  formatDuration,
  formatGbSeconds,
  formatMemory,
  formatNumber,
  formatPercent,
  formatRate,
  formatRatio,
  MISSING,
} from '../../../src/sim/report/format.ts';

describe('format', () => {
  it('counts get thousands separators and no decimals', () => {
    assert.equal(formatCount(1234567), '1,234,567');
    assert.equal(formatCount(12.6), '13');
    assert.equal(formatCount(0), '0');
  });

  it('measurements keep about three significant digits', () => {
    assert.equal(formatNumber(1234.56), '1,235');
    assert.equal(formatNumber(12.345), '12.3');
    assert.equal(formatNumber(1.2345), '1.23');
    assert.equal(formatNumber(0.12345), '0.123');
  });

  it('percentages: values in percent and ratios', () => {
    assert.equal(formatPercent(12.345), '12.3%');
    assert.equal(formatPercent(150), '150%');
    assert.equal(formatPercent(0), '0%');
    assert.equal(formatPercent(0.004), '<0.01%', 'a small overhead does not read as none');
    assert.equal(formatRatio(0.5), '50.0%');
    assert.equal(formatRatio(0.99975), '99.98%', 'just short of all does not round to 100%');
    assert.equal(formatRatio(1), '100%');
  });

  it('memory in MB below a GB and in GB (of 1024 MB) above', () => {
    assert.equal(formatMemory(512), '512 MB');
    assert.equal(formatMemory(1536), '1.5 GB');
    assert.equal(formatMemory(16 * 1024), '16 GB');
    assert.equal(formatMemory(80 * 1024), '80 GB');
    assert.equal(formatGbSeconds(1234.5), '1,235 GB-s');
  });

  it('durations and rates read naturally', () => {
    assert.equal(formatDuration(350), '350 ms');
    assert.equal(formatDuration(4200), '4.20 s');
    assert.equal(formatDuration(185_000), '3 min 05 s');
    assert.equal(formatDuration(8 * 3_600_000), '8 h');
    assert.equal(formatDuration(9_000_000), '2 h 30 min');
    assert.equal(formatRate(850), '850/s');
    assert.equal(formatRate(12_345), '12.3k/s');
    assert.equal(formatRate(1_234_567), '1.23M/s');
  });

  it('missing and non-finite values print as a dash', () => {
    for (const format of [formatCount, formatNumber, formatPercent, formatRatio, formatMemory, formatDuration, formatRate]) {
      assert.equal(format(undefined), MISSING);
      assert.equal(format(null), MISSING);
      assert.equal(format(Number.NaN), MISSING);
    }
  });
});
