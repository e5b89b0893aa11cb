import { expect, test, type Page, type ConsoleMessage } from '@playwright/test';
import { mkdirSync, writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';

// The console as staff use it, in Debian's Chromium against the local stack
// (scripts/test starts one and passes BX_BASE_URL, BX_ADMIN_EMAIL and
// BX_ADMIN_PASSWORD). Screenshots of the main screens go to docs/console/.

const ADMIN = { email: process.env.BX_ADMIN_EMAIL ?? 'admin@example.com', password: process.env.BX_ADMIN_PASSWORD ?? 'bianxian-dev-admin' };
const SHOTS = new URL('../../docs/console/', import.meta.url);
const RESULTS = process.env.BX_CONSOLE_RESULTS;

/**
 * Every page must load without console errors, uncaught exceptions or failed
 * requests. One answer is expected to fail: `GET /admin/me` while signed out, which
 * is how the console learns there is no session (the cookie is HttpOnly). Requests
 * the page itself cancels by navigating away (`net::ERR_ABORTED`) are not failures.
 */
function watch(page: Page) {
  const problems: string[] = [];
  let signedIn = false;
  page.on('console', (message: ConsoleMessage) => {
    if (message.type() !== 'error') return;
    const url = message.location().url;
    if (!signedIn && url.endsWith('/admin/me') && message.text().includes('401')) return;
    problems.push(`console error: ${message.text()} (${url})`);
  });
  page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
  page.on('requestfailed', (request) => {
    if (request.failure()?.errorText === 'net::ERR_ABORTED') return;
    problems.push(`request failed: ${request.url()} ${request.failure()?.errorText}`);
  });
  return {
    problems,
    signedIn: (now = true) => {
      signedIn = now;
    },
  };
}

async function shot(page: Page, name: string) {
  mkdirSync(SHOTS, { recursive: true });
  await page.waitForLoadState('networkidle');
  await page.screenshot({ path: new URL(`${name}.png`, SHOTS).pathname });
}

async function signIn(page: Page, email: string, password: string) {
  await page.goto('/console/');
  await page.getByLabel('用户名').fill(email);
  await page.getByRole('textbox', { name: '密码' }).fill(password);
  await page.getByRole('button', { name: '登录' }).click();
  await expect(page.getByRole('menuitem', { name: '文章' })).toBeVisible();
}

/** A valid 2x2 PNG, built here so the test needs no fixture file. */
function png(): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (bytes: Buffer) => {
    let c = 0xffffffff;
    for (const b of bytes) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([length, body, sum]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(2, 0);
  header.writeUInt32BE(2, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // truecolour
  const rows = Buffer.from([0, 230, 60, 40, 40, 90, 200, 0, 250, 200, 60, 30, 160, 90]);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(rows)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** `YYYY-MM-DDTHH:mm:ss` in the browser's zone (Asia/Shanghai in the config). */
function localInput(at: Date): string {
  const shanghai = new Date(at.getTime() + 8 * 3600 * 1000);
  return shanghai.toISOString().slice(0, 19);
}

test('first load: the sign-in page in Chinese, fast', async ({ page }) => {
  const watcher = watch(page);
  await page.goto('/console/');
  await expect(page.getByRole('button', { name: '登录' })).toBeVisible();
  const timing = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
    const transferred = performance
      .getEntriesByType('resource')
      .reduce((sum, r) => sum + (r as PerformanceResourceTiming).transferSize, nav.transferSize);
    return { load: nav.loadEventEnd - nav.startTime, transferred };
  });
  expect(timing.load).toBeGreaterThan(0);
  expect(timing.load).toBeLessThan(2000);
  if (RESULTS) writeFileSync(RESULTS, JSON.stringify(timing));
  await shot(page, 'login');
  expect(watcher.problems).toEqual([]);
});

test('an editor writes a Chinese article with a cover, schedules it, and the scheduler publishes it', async ({ page }) => {
  test.setTimeout(150_000);
  const watcher = watch(page);
  await signIn(page, ADMIN.email, ADMIN.password);
  watcher.signedIn();
  await shot(page, 'articles');

  await page.getByRole('link', { name: '创建' }).click();
  await expect(page).toHaveURL(/#\/articles\/create$/);
  const body = '## 为什么要学提示词\n\n好的**提示词**让模型更可靠。\n\n- 明确目标\n- 给出示例';
  await page.getByTestId('markdown').fill(body);
  await expect(page.getByTestId('preview').locator('h2')).toHaveText('为什么要学提示词');
  await expect(page.getByTestId('preview').locator('strong')).toHaveText('提示词');

  // The form is valid from the first character of the title on, so an Enter that
  // leaked out of the IME would save it here.
  const title = page.getByRole('textbox', { name: '标题' });
  await title.click();
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Input.insertText', { text: '入门：' });
  // Pinyin being composed: the Enter that picks the candidate reaches the page as
  // an IME key (keyCode 229) carrying a carriage return, and must not submit.
  await cdp.send('Input.imeSetComposition', { text: 'tishici', selectionStart: 7, selectionEnd: 7 });
  const imeEnter = { key: 'Enter', code: 'Enter', windowsVirtualKeyCode: 229, nativeVirtualKeyCode: 229 };
  await cdp.send('Input.dispatchKeyEvent', { type: 'keyDown', text: '\r', unmodifiedText: '\r', ...imeEnter });
  await cdp.send('Input.dispatchKeyEvent', { type: 'keyUp', ...imeEnter });
  await cdp.send('Input.insertText', { text: '提示词工程' });
  await expect(title).toHaveValue('入门：提示词工程');
  await expect(page).toHaveURL(/#\/articles\/create$/);

  await page.getByRole('button', { name: '保存' }).click();
  await expect(page).toHaveURL(/#\/articles\/(?!create$)[^/]+$/);
  const documentId = decodeURIComponent(page.url().split('/').pop()!);
  // The editor, not the create form still on its way out.
  await expect(page.getByRole('button', { name: '修订历史' })).toBeVisible();

  await page.getByRole('tab', { name: '可见范围' }).click();
  await page.getByTestId('cover-file').setInputFiles({ name: '封面.png', mimeType: 'image/png', buffer: png() });
  await expect(page.locator('img[src*="bianxian"], img[src*="/media"], img[src^="http"]').first()).toBeVisible();
  await page.getByRole('button', { name: '保存' }).click();
  await expect(page.getByText('已更新')).toBeVisible();
  await shot(page, 'article-editor');

  await page.getByRole('button', { name: '定时发布' }).click();
  await page.getByTestId('schedule-at').fill(localInput(new Date(Date.now() + 5_000)));
  await page.getByRole('button', { name: '确认' }).click();
  await expect(page.getByText('已设置定时发布')).toBeVisible();

  // The local scheduler runs every 30 s, as EventBridge's minute does in AWS.
  await expect
    .poll(async () => (await page.request.get(`/api/articles/${documentId}`)).status(), { timeout: 60_000, intervals: [2_000] })
    .toBe(200);
  const published = await (await page.request.get(`/api/articles/${documentId}`)).json();
  expect(published.data.title).toBe('入门：提示词工程');
  expect(published.data.cover).toMatch(/^http/);
  await page.reload();
  await expect(page.getByText('已发布').first()).toBeVisible();
  expect(watcher.problems).toEqual([]);
});

test('roles: an author sees content only, and the API refuses the rest', async ({ page }) => {
  const watcher = watch(page);
  await signIn(page, ADMIN.email, ADMIN.password);
  watcher.signedIn();
  const email = `author-${Date.now()}@example.com`;
  await page.getByRole('menuitem', { name: '员工' }).click();
  await shot(page, 'staff');
  await page.getByRole('link', { name: '创建' }).click();
  await page.getByLabel('邮箱').fill(email);
  await page.getByLabel('名字').fill('作者小王');
  await page.getByLabel('初始密码').fill('author-password-1234');
  await page.getByLabel('角色').click();
  await page.getByRole('option', { name: '作者' }).click();
  await page.getByRole('button', { name: '保存' }).click();
  await expect(page.getByText(email)).toBeVisible();

  await page.getByRole('menuitem', { name: 'API 令牌' }).click();
  await shot(page, 'tokens');
  await page.getByRole('menuitem', { name: '审计日志' }).click();
  await expect(page.getByText('staff.create').first()).toBeVisible();
  await shot(page, 'audit');

  await page.getByRole('button', { name: '个人资料' }).click();
  await page.getByRole('menuitem', { name: '退出登录' }).click();
  watcher.signedIn(false);
  await signIn(page, email, 'author-password-1234');
  watcher.signedIn();
  await expect(page.getByRole('menuitem', { name: '员工' })).toHaveCount(0);
  await expect(page.getByRole('menuitem', { name: 'API 令牌' })).toHaveCount(0);
  await expect(page.getByRole('menuitem', { name: '审计日志' })).toHaveCount(0);
  const refused = await page.request.get('/admin/users');
  expect(refused.status()).toBe(403);
  expect(watcher.problems).toEqual([]);
});

test('the language switches to English and back', async ({ page }) => {
  const watcher = watch(page);
  await signIn(page, ADMIN.email, ADMIN.password);
  watcher.signedIn();
  await page.getByRole('button', { name: '中文' }).click();
  await page.getByRole('menuitem', { name: 'English' }).click();
  await expect(page.getByRole('menuitem', { name: 'Articles' })).toBeVisible();
  await page.getByRole('menuitem', { name: 'Media library' }).click();
  await shot(page, 'media-en');
  await page.getByRole('button', { name: 'English' }).click();
  await page.getByRole('menuitem', { name: '中文' }).click();
  await expect(page.getByRole('menuitem', { name: '文章' })).toBeVisible();
  expect(watcher.problems).toEqual([]);
});
