// Async invocations as a user drives them — retries with back-off, dead letters listed and redriven
// with `thaw dlq`, Idempotency-Key — written once against a running thaw, so single-node mode
// (async.test.ts) and cluster mode run the same suite. `start(args)` starts a thaw with these
// extra `thaw serve` options and returns it; the suite stops it.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { BIN, E2E_FIXTURES, type Response } from './harness.ts';

export interface RunningThaw {
  url: string;
  request(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Response>;
  deploy(dir: string, settings?: Record<string, unknown>): Promise<Response>;
  stop(): Promise<void>;
}

const run = promisify(execFile);

export function describeAsyncInvocations(label: string, start: (args: string[]) => Promise<RunningThaw>): void {
  describe(`async invocations: ${label}`, { timeout: 180_000 }, () => {
    let thaw: RunningThaw;
    const thawCli = async (...args: string[]) => (await run(process.execPath, [BIN, ...args, '--url', thaw.url])).stdout;
    const invokeAsync = (event: unknown, headers: Record<string, string> = {}) => thaw.request('POST', '/functions/faulty/invoke?async=1', event, headers);
    const waitFor = async (id: string) => (await thaw.request('GET', `/invocations/${id}?wait=60000`)).body;

    before(async () => {
      thaw = await start(['--max-attempts', '3', '--retry-delay', '20ms']);
      assert.equal((await thaw.deploy(join(E2E_FIXTURES, 'faulty'), { name: 'faulty' })).status, 201);
    });
    after(async () => thaw?.stop());

    it('retries a failed attempt after a back-off, and the retry can succeed', async () => {
      const accepted = await invokeAsync({ action: 'throw-first' });
      assert.equal(accepted.status, 202);
      const done = await waitFor(accepted.body.id);
      assert.equal(done.status, 'succeeded', JSON.stringify(done));
      assert.equal(done.attempts, 2);
      assert.equal(done.result.calls, 2, 'the second attempt ran on the instance the first left warm');
    });

    it('dead-letters an invocation whose attempts all failed; thaw dlq lists it and redrives it', async () => {
      const crash = (await invokeAsync({ action: 'exit' })).body.id;
      const failed = await waitFor(crash);
      assert.equal(failed.status, 'failed');
      assert.equal(failed.attempts, 3);
      assert.equal(failed.error.kind, 'exit');
      const listed = (await thaw.request('GET', '/dead-letters?function=faulty')).body.deadLetters;
      const letter = listed.find((d: any) => d.id === crash);
      assert.equal(letter.deadReason, 'retries-exhausted');
      assert.deepEqual(letter.payload, { action: 'exit' });
      assert.match(await thawCli('dlq', 'ls', '--function', 'faulty'), new RegExp(`${crash}.*retries-exhausted`));

      assert.match(await thawCli('dlq', 'redrive', crash), new RegExp(crash));
      const again = await waitFor(crash);
      assert.equal(again.status, 'failed', 'it crashes again: the same payload on the same version');
      assert.equal(again.attempts, 3, 'attempts start again from one');
      const relisted = (await thaw.request('GET', '/dead-letters')).body.deadLetters.find((d: any) => d.id === crash);
      assert.equal(relisted.redrives, 1);
    });

    it('redrives every dead letter with --all, and a redriven invocation can succeed', async () => {
      // One attempt only for this invocation's function: a dead letter at its first failure.
      const single = await start(['--max-attempts', '1', '--retry-delay', '20ms']);
      try {
        assert.equal((await single.deploy(join(E2E_FIXTURES, 'faulty'), { name: 'faulty' })).status, 201);
        const id = (await single.request('POST', '/functions/faulty/invoke?async=1', { action: 'throw-first' })).body.id;
        const dead = (await single.request('GET', `/invocations/${id}?wait=60000`)).body;
        assert.equal(dead.status, 'failed');
        assert.equal(dead.error.kind, 'error');
        const out = (await run(process.execPath, [BIN, 'dlq', 'redrive', '--all', '--url', single.url])).stdout;
        assert.match(out, new RegExp(id));
        const redriven = (await single.request('GET', `/invocations/${id}?wait=60000`)).body;
        assert.equal(redriven.status, 'succeeded', JSON.stringify(redriven));
        assert.equal(redriven.result.calls, 2);
        assert.deepEqual((await single.request('GET', '/dead-letters')).body.deadLetters, []);
      } finally {
        await single.stop();
      }
    });

    it('accepts an Idempotency-Key once: a repeat gets the first invocation; another payload is a conflict', async () => {
      const key = { 'idempotency-key': `order-${Date.now()}` };
      const first = await invokeAsync({ action: 'ok' }, key);
      assert.equal(first.status, 202);
      const repeat = await invokeAsync({ action: 'ok' }, key);
      assert.equal(repeat.status, 202);
      assert.equal(repeat.body.id, first.body.id);
      assert.equal(repeat.body.duplicate, true);
      assert.equal(repeat.headers.get('idempotent-replayed'), 'true');
      const conflict = await invokeAsync({ action: 'other' }, key);
      assert.equal(conflict.status, 409);
      assert.equal(conflict.body.error.code, 'ERR_CONFLICT');
      const bad = await invokeAsync({}, { 'idempotency-key': 'has space' });
      assert.equal(bad.status, 400);
      assert.equal((await waitFor(first.body.id)).status, 'succeeded');
      const records = (await thaw.request('GET', '/functions/faulty/invocations?limit=100')).body.invocations.filter((r: any) => r.id === first.body.id);
      assert.equal(records.length, 1, 'one invocation for the key');
    });

    it('refuses bad redrive requests, saying what it expected', async () => {
      assert.equal((await thaw.request('POST', '/dead-letters/redrive', {})).status, 400);
      assert.equal((await thaw.request('POST', '/dead-letters/redrive', { ids: ['nope'] })).status, 404);
      assert.equal((await thaw.request('GET', '/dead-letters?function=nope')).status, 404);
    });
  });
}
