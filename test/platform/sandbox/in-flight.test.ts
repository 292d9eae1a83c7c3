// The waits of several invocations in flight on one sandbox: each ends once, by whatever comes first.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { InFlightInvocations, type ResultMessage } from '../../../src/platform/sandbox/in-flight.ts';

const result = (id: string): ResultMessage => ({ type: 'result', id, ok: true, value: id, durationMs: 1 });

describe('InFlightInvocations', () => {
  it('hands each result to its own waiter, and drops one nobody waits for', async () => {
    const inFlight = new InFlightInvocations();
    const sent: string[] = [];
    const a = inFlight.wait('a', 10_000, () => sent.push('a'));
    const b = inFlight.wait('b', 10_000, () => sent.push('b'));
    assert.deepEqual(sent, ['a', 'b'], 'each is sent once its waiter is in place');
    assert.equal(inFlight.size, 2);
    assert.equal(inFlight.resultArrived(result('b')), true);
    assert.equal(inFlight.resultArrived(result('b')), false, 'a second result for b is nobody\'s');
    assert.equal(inFlight.resultArrived(result('zz')), false);
    assert.deepEqual(await b, { type: 'result', msg: result('b') });
    assert.equal(inFlight.resultArrived(result('a')), true);
    assert.deepEqual(await a, { type: 'result', msg: result('a') });
    assert.equal(inFlight.size, 0);
  });

  it('a deadline that passes ends that wait as a timeout and every sibling\'s with it', async () => {
    const inFlight = new InFlightInvocations();
    const slow = inFlight.wait('slow', 10_000, () => undefined);
    const other = inFlight.wait('other', 10_000, () => undefined);
    const quick = inFlight.wait('quick', 1, () => undefined);
    assert.deepEqual(await quick, { type: 'timeout' });
    assert.deepEqual(await slow, { type: 'sibling-timeout', timeoutMs: 1 });
    assert.deepEqual(await other, { type: 'sibling-timeout', timeoutMs: 1 });
    assert.equal(inFlight.size, 0);
    assert.equal(inFlight.resultArrived(result('slow')), false, 'a late result is dropped');
  });

  it('with a way to abandon, a deadline asks for it, and the answer ends that wait alone', async () => {
    const abandoned: string[] = [];
    const inFlight: InFlightInvocations = new InFlightInvocations({
      abandonGraceMs: 60_000,
      // The runtime answers at once, with what the invocation wrote.
      abandon: (id) => {
        abandoned.push(id);
        inFlight.abandonedArrived({ type: 'abandoned', id, durationMs: 5, stdout: 'so far\n' });
      },
    });
    const other = inFlight.wait('other', 10_000, () => undefined);
    const quick = inFlight.wait('quick', 1, () => undefined);
    assert.deepEqual(await quick, { type: 'abandoned', msg: { type: 'abandoned', id: 'quick', durationMs: 5, stdout: 'so far\n' } });
    assert.deepEqual(abandoned, ['quick']);
    assert.equal(inFlight.size, 1, 'the sibling still waits');
    assert.equal(inFlight.resultArrived(result('other')), true);
    assert.deepEqual(await other, { type: 'result', msg: result('other') });
  });

  it('no answer to abandon within the grace: a timeout, and every sibling ends with it', async () => {
    const inFlight = new InFlightInvocations({ abandonGraceMs: 1, abandon: () => undefined });
    const other = inFlight.wait('other', 10_000, () => undefined);
    const quick = inFlight.wait('quick', 1, () => undefined);
    assert.deepEqual(await quick, { type: 'timeout' });
    assert.deepEqual(await other, { type: 'sibling-timeout', timeoutMs: 1 });
  });

  it('a result that crosses abandon ends it as abandoned, with its output; a fatal one as itself', async () => {
    let inFlight!: InFlightInvocations;
    const late: ResultMessage = { type: 'result', id: 'late', ok: true, value: 1, durationMs: 9, stdout: 'done\n' };
    const fatal: ResultMessage = { type: 'result', id: 'fatal', ok: false, error: { kind: 'error', message: 'boom' }, durationMs: 9, fatal: true };
    inFlight = new InFlightInvocations({ abandonGraceMs: 60_000, abandon: (id) => inFlight.resultArrived(id === 'late' ? late : fatal) });
    assert.deepEqual(await inFlight.wait('late', 1, () => undefined), { type: 'abandoned', msg: { type: 'abandoned', id: 'late', durationMs: 9, stdout: 'done\n', stderr: undefined } });
    assert.deepEqual(await inFlight.wait('fatal', 1, () => undefined), { type: 'result', msg: fatal });
    assert.equal(inFlight.abandonedArrived({ type: 'abandoned', id: 'late', durationMs: 1 }), false, 'an answer nobody waits for is dropped');
  });

  it('the runtime\'s exit ends every wait', async () => {
    const inFlight = new InFlightInvocations();
    const waits = [inFlight.wait('a', 10_000, () => undefined), inFlight.wait('b', 10_000, () => undefined)];
    const info = { code: 1, signal: null, oom: false };
    inFlight.runtimeExited(info);
    assert.deepEqual(await Promise.all(waits), [{ type: 'exit', info }, { type: 'exit', info }]);
    assert.equal(inFlight.size, 0);
  });
});
