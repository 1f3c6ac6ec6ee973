// Drives the orchestrator's web page in headless Chromium with Playwright (HttpApiIT runs it) and prints one JSON
// object per line: a user types a prompt, submits, sees the image and its parameters, then cancels a running job.
// Usage: BASE_URL=http://127.0.0.1:PORT TOKEN=token [CHROMIUM=/usr/bin/chromium] node page.mjs
import { chromium } from 'playwright-core';

const out = (o) => console.log(JSON.stringify(o));
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
try {
  const page = await browser.newPage();
  await page.goto(process.env.BASE_URL + '/');
  out({ kind: 'title', title: await page.title() });

  // a user's first image
  await page.fill('#token', process.env.TOKEN || '');
  await page.fill('#prompt', 'a yellow triangle at the top');
  await page.fill('#negative', 'green');
  await page.fill('#width', '64');
  await page.fill('#height', '64');
  await page.fill('#steps', '3');
  await page.fill('#seed', '77');
  await page.waitForFunction((p) => [...document.querySelectorAll('#sampler option')].some((o) => o.value === 'Euler a'));
  await page.selectOption('#sampler', 'Euler a');
  await page.click('#generate');
  await page.waitForSelector('#result:not(.hidden) #image[src^="data:image/png;base64,"]', { timeout: 120000 });
  const src = await page.getAttribute('#image', 'src');
  out({ kind: 'generated', png: src.substring(src.indexOf(',') + 1), parameters: await page.textContent('#parameters'),
    status: await page.textContent('#status') });

  // a long job: its progress bar and latent preview move, then its Cancel button in the recent jobs stops it
  const longPrompt = 'a long job to cancel ' + Date.now();
  await page.fill('#prompt', longPrompt);
  await page.fill('#width', '512');
  await page.fill('#height', '512');
  await page.fill('#steps', '150');
  await page.click('#generate');
  await page.waitForFunction(() => /^RUNNING — step ([3-9]|\d\d+) of 150/.test(document.querySelector('#status').textContent)
    && (document.querySelector('#preview').getAttribute('src') || '').startsWith('data:image/png'), null, { timeout: 120000 });
  const progressed = await page.evaluate(() => document.querySelector('#progress').value);
  const preview = await page.evaluate(() => {
    const img = document.querySelector('#preview');
    return { width: img.naturalWidth, height: img.naturalHeight };
  });
  const row = page.locator('#jobs tr', { hasText: longPrompt });
  await row.locator('button.cancel').click();
  // the recent-jobs row and the live status are refreshed separately (the row at once, the status by its 250 ms poll)
  await page.waitForFunction((p) => [...document.querySelectorAll('#jobs tr')]
    .some((tr) => tr.textContent.includes(p) && tr.querySelector('.state').textContent === 'CANCELLED')
    && document.querySelector('#status').textContent.startsWith('CANCELLED'),
  longPrompt, { timeout: 60000 });
  out({ kind: 'cancelled', progressed, preview, jobId: await row.getAttribute('data-job-id'), status: await page.textContent('#status'),
    rows: await page.locator('#jobs tr').count() });
} finally {
  await browser.close();
}
