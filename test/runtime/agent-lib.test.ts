// The agent's pure parts: arguments, error and result serialisation, finding the handler.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { parseAgentArguments, pickExport, resultJson, serializeError } from '../../src/runtime/agent-lib.ts';

describe('parseAgentArguments', () => {
  it('reads --name=value options', () => {
    assert.deepEqual(parseAgentArguments(['--bundle=/code/bundle.cjs', '--log-marker=00ff00ff', '--uid=65534', '--gid=65534'], {}), {
      bundle: '/code/bundle.cjs',
      logMarker: '00ff00ff',
      uid: 65534,
      gid: 65534,
    });
  });

  it('reads --invocation-markers=on|off', () => {
    assert.equal(parseAgentArguments(['--bundle=/b', '--invocation-markers=off'], {}).invocationMarkers, false);
    assert.equal(parseAgentArguments(['--bundle=/b', '--invocation-markers=on'], {}).invocationMarkers, true);
    assert.throws(() => parseAgentArguments(['--bundle=/b', '--invocation-markers=0'], {}), /must be on or off/);
  });

  it('reads --concurrency=N (1..1000) and --log-limit=bytes', () => {
    assert.deepEqual(parseAgentArguments(['--bundle=/b', '--concurrency=8', '--log-limit=1024'], {}), { bundle: '/b', concurrency: 8, logLimitBytes: 1024 });
    assert.equal(parseAgentArguments(['--bundle=/b', '--concurrency=1000'], {}).concurrency, 1000);
    for (const bad of ['0', '1001', '2.5', '-3', 'x', '']) {
      assert.throws(() => parseAgentArguments(['--bundle=/b', `--concurrency=${bad}`], {}), /--concurrency must be an integer from 1 to 1000/, bad);
    }
    assert.throws(() => parseAgentArguments(['--bundle=/b', '--log-limit=-1'], {}), /--log-limit must be a non-negative integer of bytes/);
  });

  it('takes the bundle from THAW_BUNDLE when no argument names it', () => {
    assert.deepEqual(parseAgentArguments([], { THAW_BUNDLE: '/x/bundle.cjs' }), { bundle: '/x/bundle.cjs' });
  });

  it('says what is wrong', () => {
    assert.throws(() => parseAgentArguments([], {}), /no function bundle/);
    assert.throws(() => parseAgentArguments(['--bundle=/b', '--nope=1'], {}), /unknown option --nope/);
    assert.throws(() => parseAgentArguments(['bundle.cjs'], {}), /unexpected argument/);
    assert.throws(() => parseAgentArguments(['--bundle=/b', '--uid=-1', '--gid=0'], {}), /--uid must be a non-negative integer/);
    assert.throws(() => parseAgentArguments(['--bundle=/b', '--uid=1'], {}), /go together/);
    assert.throws(() => parseAgentArguments(['--bundle=/b', '--log-marker=xyz'], {}), /hex/);
  });
});

describe('serializeError', () => {
  it('keeps name, message and stack of an Error', () => {
    const err = new RangeError('too far');
    const s = serializeError(err, 'error');
    assert.equal(s.kind, 'error');
    assert.equal(s.name, 'RangeError');
    assert.equal(s.message, 'too far');
    assert.match(s.stack ?? '', /RangeError: too far/);
  });

  it('describes thrown non-Errors', () => {
    assert.equal(serializeError('plain', 'error').message, 'a non-Error value was thrown: plain');
    assert.equal(serializeError({ code: 7 }, 'error').message, 'a non-Error value was thrown: { code: 7 }');
    assert.deepEqual(serializeError({ name: 'Custom', message: 'shaped like one' }, 'init'), { kind: 'init', name: 'Custom', message: 'shaped like one' });
    assert.equal(serializeError(undefined, 'error').message, 'a non-Error value was thrown: undefined');
  });

  it('survives an error whose properties throw', () => {
    const hostile = new Error('x');
    Object.defineProperty(hostile, 'message', {
      get() {
        throw new Error('gotcha');
      },
    });
    assert.match(serializeError(hostile, 'error').message, /cannot be read/);
  });
});

describe('resultJson', () => {
  it('serialises JSON values and keeps undefined undefined', () => {
    assert.deepEqual(resultJson({ a: [1, 'b', null] }), { json: '{"a":[1,"b",null]}' });
    assert.deepEqual(resultJson(undefined), { json: undefined });
    assert.deepEqual(resultJson(null), { json: 'null' });
  });

  it('explains values JSON cannot carry', () => {
    for (const [value, why] of [
      [10n, /BigInt/],
      [(() => 1) as unknown, /returned a function/],
      [Symbol('s') as unknown, /returned a symbol/],
    ] as const) {
      const out = resultJson(value);
      assert.ok('error' in out);
      assert.equal(out.error.name, 'ResultNotSerializableError');
      assert.match(out.error.message, why);
    }
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const out = resultJson(circular);
    assert.ok('error' in out && /circular/i.test(out.error.message));
  });
});

describe('pickExport', () => {
  const handler = () => 1;
  const init = () => undefined;
  it('finds handler and init on exports, on a default export, or a function export', () => {
    assert.equal(pickExport({ handler, init }, 'handler'), handler);
    assert.equal(pickExport({ handler, init }, 'init'), init);
    assert.equal(pickExport({ default: { handler, init } }, 'handler'), handler);
    assert.equal(pickExport({ default: { handler, init } }, 'init'), init);
    assert.equal(pickExport({ default: handler }, 'handler'), handler);
    assert.equal(pickExport(handler, 'handler'), handler);
    assert.equal(pickExport({ default: handler }, 'init'), undefined);
    assert.equal(pickExport({}, 'handler'), undefined);
    assert.equal(pickExport(undefined, 'handler'), undefined);
  });
});
