// IceBreaker's placement decision maker: the score, the thresholds, their dynamic adjustment.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pdmScore, PlacementDecisionMaker } from '../../../src/policies/placement/icebreaker-pdm.ts';

describe('PDM score', () => {
  it('Σ wᵢ rᵢ with wᵢ = ⅓(1 − rᵢ/Σr)', () => {
    // mem 256 of 1024 → r1 = 0.75; high 600 ms vs low 1000 ms → r2 = 0.4; r3 = 0.2; r4 = 1 − 0.3 = 0.7.
    // Σr = 2.05; score = ⅓ Σ rᵢ(1 − rᵢ/2.05) = ⅓ (2.05 − Σrᵢ²/2.05), Σrᵢ² = 0.5625+0.16+0.04+0.49 = 1.2525.
    const s = pdmScore({ memoryMb: 256, serviceHighMs: 600, serviceLowMs: 1000, underPredicted: 0.2, overPredicted: 0.3 }, 1024);
    assert.ok(Math.abs(s - (2.05 - 1.2525 / 2.05) / 3) < 1e-12);
  });

  it('weights sum to 1 and a zero vector scores 0', () => {
    assert.equal(pdmScore({ memoryMb: 1024, serviceHighMs: 1, serviceLowMs: 1, underPredicted: 0, overPredicted: 1 }, 1024), 0);
  });
});

describe('PDM thresholds', () => {
  it('min-max normalises, then none / low / high at 0.33 and 0.66', () => {
    const pdm = new PlacementDecisionMaker();
    assert.deepEqual(PlacementDecisionMaker.normalise([2, 4, 6]), [0, 0.5, 1]);
    assert.deepEqual(PlacementDecisionMaker.normalise([0.4]), [0.4]);
    assert.equal(pdm.choose(0.32), 'none');
    assert.equal(pdm.choose(0.33), 'low');
    assert.equal(pdm.choose(0.65), 'low');
    assert.equal(pdm.choose(0.66), 'high');
    const inputs = [
      { memoryMb: 2048, serviceHighMs: 1000, serviceLowMs: 1000, underPredicted: 0, overPredicted: 1 }, // worst
      { memoryMb: 128, serviceHighMs: 500, serviceLowMs: 1000, underPredicted: 0.5, overPredicted: 0 }, // best
      { memoryMb: 1024, serviceHighMs: 800, serviceLowMs: 1000, underPredicted: 0.1, overPredicted: 0.4 },
    ];
    assert.deepEqual(pdm.decide(inputs, 2048).choices, ['none', 'high', 'low']);
  });

  it('adjusts: low falls when it missed more than it wasted, high rises when the high tier refused', () => {
    const pdm = new PlacementDecisionMaker();
    pdm.adjust({ missed: 3, wasted: 1, highRefused: 1, highUtilisation: 1 });
    assert.ok(Math.abs(pdm.low - 0.32) < 1e-12 && Math.abs(pdm.high - 0.67) < 1e-12);
    pdm.adjust({ missed: 0, wasted: 5, highRefused: 0, highUtilisation: 0.2 });
    assert.ok(Math.abs(pdm.low - 0.33) < 1e-12 && Math.abs(pdm.high - 0.66) < 1e-12);
    pdm.adjust({ missed: 1, wasted: 1, highRefused: 0, highUtilisation: 0.7 });
    assert.ok(Math.abs(pdm.low - 0.33) < 1e-12 && Math.abs(pdm.high - 0.66) < 1e-12, 'balanced: unchanged');
  });

  it('keeps the thresholds within bounds and apart', () => {
    const pdm = new PlacementDecisionMaker();
    for (let i = 0; i < 200; i++) pdm.adjust({ missed: 0, wasted: 9, highRefused: 0, highUtilisation: 0 });
    assert.ok(pdm.low <= pdm.high - pdm.gap + 1e-12);
    assert.ok(pdm.high >= pdm.min + pdm.gap - 1e-12);
    for (let i = 0; i < 200; i++) pdm.adjust({ missed: 9, wasted: 0, highRefused: 1, highUtilisation: 1 });
    assert.ok(Math.abs(pdm.low - 0.05) < 1e-9 && Math.abs(pdm.high - 0.95) < 1e-9);
    assert.throws(() => new PlacementDecisionMaker({ low: 0.7, high: 0.6 }), RangeError);
  });
});
