// The dashboard in a real browser: Debian's chromium driven by playwright-core loads `/` from a
// running `thaw serve`, then the test deploys and invokes through the API and watches the page
// follow over server-sent events: the function appears, the invocation appears with its phases,
// the instance count goes up, and down again when the instances expire or are evicted, and those
// decisions land on the timeline. THAW_DASHBOARD_SCREENSHOT=docs/img/dashboard.png saves the page
// (the screenshot in the docs is made so).

import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { E2E_FIXTURES, EXAMPLES, ThawServer } from './harness.ts';
import { idleCpus } from '../../src/platform/sandbox/idle-cpus.ts';

const CHROMIUM = process.env.THAW_CHROMIUM ?? '/usr/bin/chromium';
const noBrowser = existsSync(CHROMIUM) ? false : `no browser at ${CHROMIUM} (apt-get install chromium, or set THAW_CHROMIUM)`;

const BROWSER_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** Chromium with a fresh profile of its own. */
async function launch(): Promise<{ context: BrowserContext; page: Page; close(): Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), 'thaw-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, viewport: { width: 1400, height: 1100 }, args: BROWSER_ARGS });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

describe('the dashboard in a real browser', { timeout: 180_000, skip: noBrowser }, () => {
  let thaw: ThawServer;
  let browser: Awaited<ReturnType<typeof launch>>;
  let page: Page;
  const cell = (fn: string, field: string) => page.locator(`#functions tr[data-function="${fn}"] [data-field="${field}"]`);
  const expectText = async (locator: ReturnType<Page['locator']>, text: string) => {
    await locator.filter({ hasText: new RegExp(`^${text}$`) }).waitFor({ timeout: 30_000 });
  };

  before(async () => {
    thaw = await ThawServer.start(['--ttl', '10m', '--memory', '2GB']);
    browser = await launch();
    page = browser.page;
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    after(() => assert.deepEqual(errors, [], 'the page ran without script errors'));
  });

  after(async () => {
    await browser?.close();
    await thaw?.stop();
  });

  it('loads from thaw serve and goes live', async () => {
    await page.goto(`${thaw.url}/`);
    await page.locator('#connection[data-state="live"]').waitFor({ timeout: 30_000 });
    assert.equal(await page.title(), 'thaw');
    const isolation = (await page.textContent('#isolation')) ?? '';
    assert.match(isolation, /sandboxes: (container|process)/);
    // The idle CPUs' setting, as this machine's sysfs has it: said only where they halt without polling.
    assert.equal(isolation.includes('idle CPUs halt without polling'), idleCpus().haltPollNs === 0);
    assert.equal(await page.locator('#no-functions').isVisible(), true);
  });

  it('shows a function deployed through the API, its invocation with its phases, and its instance', async () => {
    assert.equal((await thaw.deploy(join(EXAMPLES, 'hello'), { name: 'hello' })).status, 201);
    await page.locator('#functions tr[data-function="hello"]').waitFor({ timeout: 30_000 });
    await expectText(cell('hello', 'instances'), '0');
    assert.match((await cell('hello', 'start-path').textContent()) ?? '', /cold/);

    const cold = await thaw.invoke('hello', { name: 'browser' });
    const id = cold.headers.get('x-thaw-invocation-id')!;
    const row = page.locator(`#invocations li[data-invocation="${id}"]`);
    await row.waitFor({ timeout: 30_000 });
    assert.match((await row.textContent()) ?? '', /hello v1[\s\S]*cold[\s\S]*succeeded/);
    assert.ok((await row.locator('.bar span').count()) >= 3, 'the bar shows the cold start phases');
    await expectText(cell('hello', 'instances'), '1');
    await expectText(cell('hello', 'idle'), '1');

    assert.equal((await thaw.request('PUT', '/functions/hello/aliases/prod', { routes: [{ version: 1, weight: 100 }] })).status, 200);
    await expectText(cell('hello', 'aliases'), 'prod → v1 100%');
  });

  it('counts instances as they scale out, and the decisions that remove them', async () => {
    assert.equal((await thaw.deploy(join(E2E_FIXTURES, 'faulty'), { name: 'faulty', timeoutMs: 20_000 })).status, 201);
    // Busy for seconds: far longer than the page's update interval (a state update per change, at most every 250 ms).
    const replies = Promise.all([1, 2, 3].map(() => thaw.invoke('faulty', { action: 'sleep', ms: 4000 })));
    await expectText(cell('faulty', 'busy'), '3');
    await replies;
    await expectText(cell('faulty', 'idle'), '3');
    assert.equal((await thaw.request('DELETE', '/functions/faulty/instances')).status, 200);
    await expectText(cell('faulty', 'instances'), '0');
    await page.locator('#decisions li[data-kind="stop"]').first().waitFor({ timeout: 30_000 });

    await thaw.advance(11 * 60_000); // past hello's keep-alive window: the policy expires its instance
    await expectText(cell('hello', 'instances'), '0');
    await page.locator('#decisions li[data-kind="expire"]').first().waitFor({ timeout: 30_000 });
    assert.match((await page.textContent('#decisions')) ?? '', /expire hello v1/);
  });

  it('draws the cold/warm plot and the memory held against the budget', async () => {
    for (let i = 0; i < 4; i++) assert.equal((await thaw.invoke('hello')).status, 200);
    await expectText(cell('hello', 'instances'), '1');
    assert.match((await page.textContent('#memory-text')) ?? '', /held of a 2\.0 GB budget/);
    assert.equal(await page.locator('#starts-chart canvas').count(), 1);
    assert.equal(await page.locator('#decisions-chart canvas').count(), 1);
    const legend = (await page.textContent('#starts-chart')) ?? '';
    for (const kind of ['cold', 'warm']) assert.match(legend, new RegExp(kind));
    const shot = process.env.THAW_DASHBOARD_SCREENSHOT;
    if (shot) await page.screenshot({ path: shot, fullPage: true });
  });
});

describe('the dashboard of a thaw with API tokens', { timeout: 120_000, skip: noBrowser }, () => {
  it('asks for an admin token, then goes live with it', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'thaw-tokens-')), 'tokens');
    const admin = 'dashboard-admin-token-0123456789';
    writeFileSync(file, `admin ${admin}\n`);
    chmodSync(file, 0o600);
    const thaw = await ThawServer.start(['--token-file', file]);
    const browser = await launch();
    try {
      const { page } = browser;
      await page.goto(`${thaw.url}/`);
      await page.locator('#token-form').waitFor({ timeout: 30_000 });
      assert.match((await page.textContent('#token-why')) ?? '', /needs an API token/);
      await page.fill('#token-input', admin);
      await page.click('#token-form button');
      await page.locator('#connection[data-state="live"]').waitFor({ timeout: 30_000 });
      assert.equal(await page.locator('#token-form').isVisible(), false);
    } finally {
      await browser.close();
      await thaw.stop();
    }
  });
});
