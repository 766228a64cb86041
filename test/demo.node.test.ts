/**
 * The demo page, built (`vite build`) and served from a sub-folder, in headless Chromium with WebGPU
 * on SwiftShader: a bad value gets a message beside its field; a tiny plan runs through all three
 * phases from the keyboard and its charts and table show values; a second run is paused, the page
 * reloaded, and the run resumed from its checkpoint ends with exactly the first run's results (as
 * downloaded); both runs are kept for comparison; the paper's verdicts are shown; the kernel panel
 * checks every kernel; without
 * WebGPU the page says so. Screenshots (wide and narrow) go to test-artifacts/.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSite, launchChromium, serve } from './site.ts';

const ARTIFACTS = 'test-artifacts';
let dir: string;
let server: Server;
let url: string;
let browser: Browser;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'demo-site-'));
  await buildSite(dir);
  ({ server, url } = await serve(dir, '/any/folder/'));
  browser = await launchChromium();
  mkdirSync(ARTIFACTS, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  server?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Wait for the run's state; a timeout says what the page shows instead. */
async function state(page: Page, s: string, timeout = 90_000): Promise<void> {
  try {
    await page.locator(`[data-testid=status][data-state=${s}]`).waitFor({ timeout });
  } catch (e) {
    const now = await page
      .getByTestId('status')
      .evaluate((el) => `${el.getAttribute('data-state')}: ${el.textContent?.trim()}`)
      .catch(() => '(no status)');
    throw new Error(
      `waited ${timeout} ms for the run state "${s}"; the page shows ${now} (${(e as Error).message.split('\n')[0]})`,
    );
  }
}

/** Download one of the results files through the page's button and parse it. */
async function downloaded(page: Page, name: string): Promise<unknown> {
  const [file] = await Promise.all([page.waitForEvent('download'), page.getByTestId(`download-${name}`).click()]);
  const path = join(dir, `dl-${Date.now()}-${name}`);
  await file.saveAs(path);
  return JSON.parse(readFileSync(path, 'utf8'));
}

describe('demo page (built, in Chromium)', () => {
  it('without WebGPU it says so plainly, and what to use instead', async () => {
    const page = await browser.newPage();
    await page.addInitScript(() => {
      delete (Navigator.prototype as { gpu?: unknown }).gpu;
    });
    await page.goto(url);
    const notice = page.getByTestId('no-webgpu');
    await notice.waitFor();
    expect(await notice.textContent()).toMatch(/WebGPU is not available here[\s\S]*navigator\.gpu is missing[\s\S]*npm start/);
    await page.close();
  });

  it("the benchmark panel runs npm run bench's suite, training steps and generation included (at tiny shapes)", async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${url}?bench=smoke`);
    await page.getByTestId('bench').click();
    await page
      .getByTestId('kernel-note')
      .filter({ hasText: /^Benchmark done/ })
      .waitFor({ timeout: 90_000 });
    const rows = await page
      .locator('[data-testid=bench-table] tbody tr')
      .evaluateAll((trs) => trs.map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent?.trim() ?? '')));
    const kernels = new Set(rows.map((r) => r[0]));
    for (const k of ['matmul', 'softmax', 'layernorm', 'adamw', 'train step', 'generate']) expect(kernels).toContain(k);
    // Every one of ours was checked against the reference; steps and generation in items per second.
    for (const r of rows.filter((r) => r[1].startsWith('ours'))) expect(r[8], r.join(' | ')).toBe('yes');
    for (const r of rows.filter((r) => r[0] === 'train step' || r[0] === 'generate'))
      expect(r[7], r.join(' | ')).toMatch(/ (examples|tokens)$/);
    const ratios = await page.locator('[data-testid=bench-ratios] li').allTextContents();
    expect(ratios.filter((l) => /^(train step|generate) .*x cpu-reference$/.test(l))).toHaveLength(4);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('runs, pauses, survives a reload, resumes to the same results, compares runs and checks the kernels', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${url}?preset=tiny`);
    expect(await page.getByTestId('adapter').textContent()).toMatch(/adapter: google \/ swiftshader|adapter: /);
    await expect.poll(() => page.getByTestId('preset').inputValue()).toBe('tiny');

    // Invalid values get a message beside the field, and the plan cannot be run.
    const m = page.locator('input[data-path="phases[1].select.m"]');
    await m.fill('1000');
    await m.press('Tab');
    const beside = page.locator('.field:has(input[data-path="phases[1].select.m"]) [data-testid=field-error]');
    expect(await beside.textContent()).toMatch(/must not exceed the pool size/);
    expect(await page.getByTestId('run').isDisabled()).toBe(true);
    const steps = page.locator('input[data-path="phases[0].steps"]');
    await steps.fill('many');
    await steps.press('Tab');
    expect(await page.locator('.field:has(input[data-path="phases[0].steps"]) [data-testid=field-error]').textContent()).toMatch(
      /enter a number/,
    );
    // Long enough that the pause below lands in pretraining: with 150 steps a faster step once let
    // pretraining end before the pause click was handled (the page was busy running steps).
    await steps.fill('600');
    await steps.press('Tab');
    await m.fill('16');
    await m.press('Tab');
    expect(await page.locator('[data-testid=field-error]').count()).toBe(0);

    // Run from the keyboard; all three phases finish, the charts and the table show values.
    await page.getByTestId('run').focus();
    await page.keyboard.press('Enter');
    await state(page, 'done');
    const rows = page.locator('[data-testid=phase-table] tbody tr');
    expect(await rows.locator('th').allTextContents()).toEqual(['pretrain', 'sft', 'rl']);
    for (const cell of await rows.locator('td').allTextContents()) expect(cell).toMatch(/^\d+\.\d{4}$/);
    for (const chart of ['loss', 'held-out', 'reward']) {
      const box = page.locator(`[data-testid=chart-${chart}] [data-chart]`);
      await expect.poll(async () => Number(await box.getAttribute('data-points'))).toBeGreaterThan(2);
      expect(await box.locator('svg path').count()).toBeGreaterThan(0);
    }
    const first = (await downloaded(page, 'summary.json')) as { phases: unknown[] };
    expect(first.phases).toHaveLength(3);

    // A second run of the same plan: paused in pretraining, the page reloaded, the run resumed.
    // Pause is pressed as soon as it is enabled, so the run cannot have ended before it (a busy
    // machine once let a pause pressed at step 10 arrive after the last step); it takes effect
    // before the next step, with a checkpoint.
    await page.getByTestId('run').click();
    await page.getByTestId('pause').click();
    await state(page, 'paused');
    const pausedAt = await page.getByTestId('status').textContent();
    expect(pausedAt).toMatch(/Paused in pretrain before step \d+; checkpoint saved/);
    const lossPoints = page.locator('[data-testid=chart-loss] [data-chart]');
    const pretrainDone = page.locator('progress#p-pretrain');
    const done = await pretrainDone.evaluate((p) => (p as HTMLProgressElement).value);
    // The page logs the loss every 5 steps: one point per logged step (the chart redraws within 300 ms).
    const before = { done, points: String(done / 5) };
    await expect.poll(() => lossPoints.getAttribute('data-points')).toBe(before.points);
    await page.reload();
    const saved = page.getByTestId('saved-run');
    await saved.waitFor();
    expect(await saved.textContent()).toMatch(/checkpoint in phase pretrain at step\s+\d+/);
    // The run's view is back up to the checkpoint before anything runs: progress and loss curve.
    await expect.poll(() => pretrainDone.evaluate((p) => (p as HTMLProgressElement).value)).toBe(before.done);
    await expect.poll(() => lossPoints.getAttribute('data-points')).toBe(before.points);
    await page.getByTestId('resume').click();
    await state(page, 'done');
    const second = (await downloaded(page, 'summary.json')) as { phases: unknown[] };
    expect(second.phases).toEqual(first.phases);
    const csv = await page.getByTestId('download-metrics.csv');
    expect(await csv.isEnabled()).toBe(true);

    // Both runs are kept and can be overlaid.
    const kept = page.locator('[data-testid=compare-table] tbody tr');
    await expect.poll(() => kept.count()).toBe(2);
    await expect
      .poll(async () => Number(await page.locator('[data-testid=compare-held-out] [data-chart]').getAttribute('data-points')))
      .toBeGreaterThan(0);

    // The kernel panel: every kernel against its CPU reference, in this browser.
    await page.getByTestId('check-kernels').click();
    await page
      .getByTestId('kernel-note')
      .filter({ hasText: /kernels (match|differ)/ })
      .waitFor({ timeout: 90_000 });
    expect(await page.getByTestId('kernel-note').textContent()).toMatch(/^All \d+ kernels match the CPU reference\.$/);
    expect(await page.locator('[data-testid=kernel-table] tbody tr[data-ok=false]').count()).toBe(0);

    // The paper's experiments as last measured (results/ in the repository): the default run's four
    // claims in each of the two settings, each verdict named with its setting.
    const verdicts = page.locator('[data-testid=paper-verdicts] tbody tr .verdict');
    expect(await verdicts.allTextContents()).toHaveLength(8);
    const claims = await page.locator('[data-testid=paper-verdicts] tbody tr td:first-child').allTextContents();
    expect(claims.map((c) => /\((setting [AB])\)/.exec(c)?.[1])).toEqual([
      ...Array(4).fill('setting A'),
      ...Array(4).fill('setting B'),
    ]);
    for (const v of await verdicts.allTextContents()) expect(v).toMatch(/^(confirmed|not confirmed|mixed)$/);
    // Every result set (the default run with both settings, setting A's shifted target, setting B's first run, its second run of experiments
    // 2-4, the third on seeds 4-6, the two pooled; setting A's seeds 1-6 pooled; setting B's SFT on seeds 1-6
    // pooled; setting A with the short and long budgets; setting B's balance with them; setting B's three
    // pools over seeds 1-12 and the three over seeds 2-13; setting B with three times the pretraining, and
    // its experiments 1 and 2 from a half-learned start, snapshots every 300 and every 100 steps, and
    // the latter pooled with seeds 8-13; experiment 1 from those starts with hard by pass rate, on
    // seeds 2-7, 8-13 and pooled; experiments 1 and 2 from a mostly learned start) shows
    // its own verdicts and plots, as its results.json has them.
    const sets = page.locator('paper-results [role=group] button');
    expect(await sets.count()).toBe(29);
    const counts: number[] = [];
    const plots: number[] = [];
    const tests: number[] = [];
    for (let i = 0; i < 29; i++) {
      await sets.nth(i).click();
      await expect.poll(() => sets.nth(i).getAttribute('aria-pressed')).toBe('true');
      counts.push((await verdicts.allTextContents()).length);
      plots.push(await page.locator('paper-results figure.plot').count());
      // Each plot is fetched when its set is opened (a chunk of its own): every figure gets its SVG.
      await expect.poll(() => page.locator('paper-results figure.plot > svg').count()).toBe(plots[i]);
      tests.push(await page.locator('[data-testid=paper-verdicts] p', { hasText: 'Paired tests over seeds' }).count());
    }
    expect(counts).toEqual([8, 4, 4, 3, 3, 3, 4, 1, 4, 1, 1, 2, 1, 1, 2, 1, 4, 2, 2, 2, 1, 1, 1, 2, 2, 2, 1, 1, 1]);
    // Every verdict shows its paired tests over seeds.
    expect(tests).toEqual(counts);
    // Setting B's later runs add response length over RL training to the four experiments' plots.
    expect(plots).toEqual([9, 4, 4, 4, 4, 4, 4, 1, 4, 1, 1, 3, 1, 1, 3, 1, 5, 3, 3, 3, 1, 1, 1, 3, 3, 3, 1, 1, 1]);
    // A pooled set says what it was pooled from (setting B's SFT: two runs); a single run does not.
    const pooledNote = page.locator('paper-results p', { hasText: /pooled from \d+ runs of \d+ training/ });
    await sets.nth(9).click(); // a single run (setting B's budgets)
    await expect.poll(() => sets.nth(9).getAttribute('aria-pressed')).toBe('true');
    expect(await pooledNote.count()).toBe(0);
    await sets.nth(7).click();
    await expect.poll(() => sets.nth(7).getAttribute('aria-pressed')).toBe('true');
    expect(await page.locator('paper-results p', { hasText: /pooled from 2 runs of \d+ training/ }).count()).toBe(1);
    await sets.nth(0).click();

    await page.screenshot({ path: join(ARTIFACTS, 'demo-1280x800.png'), fullPage: true });
    // Readable on a narrow screen: one column, nothing wider than the window.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(400);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.screenshot({ path: join(ARTIFACTS, 'demo-390x844.png'), fullPage: true });
    expect(errors).toEqual([]);
    await context.close();
  });
});
