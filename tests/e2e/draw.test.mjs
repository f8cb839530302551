// End to end: the draw-and-guess example (examples/draw) in headless Chromium, against the Python
// and the Lua server (env SIO_E2E_LANGS picks). Two players join a room; the drawer draws with real
// mouse events and the other sees the line on its canvas (pixels); a right guess scores and starts
// the next round; a reload rejoins as the same player with the round's strokes; and a socket.io 2.x
// client (examples/draw/weapp-client.js, as WeChat's weapp.socket.io) joins and guesses too.
//
//   cd tests/e2e && node --test draw.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { LANGS, startApp, launchBrowser } from './lib.mjs';
import { REPO_ROOT } from '../js/server.mjs';

const WAIT = 5000; // every wait for the page or the server is bounded by this

// Logical canvas points (800x600) that are dark / still background on a page's #canvas.
async function pixels(page, points) {
  return page.evaluate((pts) => {
    const ctx = document.getElementById('canvas').getContext('2d');
    return pts.map(([x, y]) => {
      const [r, g, b, a] = ctx.getImageData(x, y, 1, 1).data;
      if (a === 0) return 'empty';
      if (r + g + b < 240) return 'dark';
      if (r > 245 && g > 245 && b > 245) return 'background';
      return 'other';
    });
  }, points);
}

async function waitPixels(page, points, want, what) {
  const deadline = Date.now() + WAIT;
  let got;
  for (;;) {
    got = await pixels(page, points);
    if (got.every((p) => p === want)) return;
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`${what}: expected every point ${want}, got ${JSON.stringify(got)} at ${JSON.stringify(points)}`);
}

// A line with the page's mouse between two logical canvas points, in small steps.
async function drawLine(page, [x1, y1], [x2, y2]) {
  const canvas = page.locator('#canvas');
  await canvas.scrollIntoViewIfNeeded();
  const box = await canvas.boundingBox();
  const at = (x, y) => [box.x + (x / 800) * box.width, box.y + (y / 600) * box.height];
  await page.mouse.move(...at(x1, y1));
  await page.mouse.down();
  await page.mouse.move(...at(x2, y2), { steps: 25 });
  await page.mouse.up();
}

async function join(page, url, name, room) {
  await page.goto(url);
  await page.fill('#name', name);
  await page.fill('#room', room);
  await page.click('#join');
  await page.waitForSelector(`#players li[data-name="${name}"]`, { timeout: WAIT });
}

async function scoreOf(page, name) {
  const li = page.locator(`#players li[data-name="${name}"]`);
  return Number(await li.getAttribute('data-score', { timeout: WAIT }));
}

async function waitScore(page, name, score) {
  await page.waitForSelector(`#players li[data-name="${name}"][data-score="${score}"]`, { timeout: WAIT });
}

// Which of the pages draws (its #word is visible): [drawer, guesser].
async function roles(pages) {
  await Promise.any(pages.map((p) => p.waitForSelector('#word:not([hidden])', { timeout: WAIT })));
  const visible = await Promise.all(pages.map((p) => p.isVisible('#word')));
  assert.equal(visible.filter(Boolean).length, 1, 'exactly one page has the secret word');
  return visible[0] ? pages : [pages[1], pages[0]];
}

function runWeapp(url, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'examples/draw/weapp-client.js'), url, ...args], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`weapp-client.js did not finish in time\nstdout: ${out}\nstderr: ${err}`));
    }, 3 * WAIT);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

for (const lang of LANGS) {
  test(`draw and guess, ${lang} server`, { timeout: 120000 }, async () => {
    let app = null;
    let browser = null;
    try {
      app = await startApp('draw', lang, ['--round-seconds', '30']);
      browser = await launchBrowser();
      const room = `e2e-${lang}-${Date.now().toString(36)}`;
      // one desktop window, one phone-sized one
      const desk = await (await browser.newContext({ viewport: { width: 1200, height: 900 } })).newPage();
      const phone = await (await browser.newContext({ viewport: { width: 390, height: 844 }, hasTouch: true }))
        .newPage();
      const names = new Map([[desk, 'alice'], [phone, 'bob']]);

      await join(desk, app.url, 'alice', room);
      assert.equal(await desk.textContent('#timer'), '–', 'no round with one player');
      await join(phone, app.url, 'bob', room);
      for (const page of [desk, phone]) {
        await page.waitForFunction(() => document.querySelectorAll('#players li').length === 2, null, { timeout: WAIT });
      }

      // ---- round 1 ----
      let [drawer, guesser] = await roles([desk, phone]);
      const word = (await drawer.textContent('#word')).trim();
      assert.match(word, /^[a-z]+$/);
      assert.equal(await guesser.isVisible('#word'), false);
      assert.equal((await guesser.textContent('#word')).trim(), '', 'the guesser never gets the word');

      // the round timer counts down from 30 s
      const t1 = Number(await drawer.getAttribute('#timer', 'data-remaining'));
      assert.ok(t1 > 0 && t1 <= 30, `timer ${t1}`);
      assert.match(await guesser.textContent('#timer'), /^0:[0-3]\d$/);
      await drawer.waitForFunction((t) => Number(document.getElementById('timer').dataset.remaining) < t, t1,
        { timeout: WAIT });

      // the drawer draws a thick dark horizontal line; the guesser's canvas shows it
      await drawer.click('.swatch[data-color="#222222"]');
      await drawer.locator('#width').fill('20');
      await drawLine(drawer, [80, 300], [720, 300]);
      const horizontal = [120, 200, 300, 400, 500, 600, 680].map((x) => [x, 300]);
      const away = [[400, 100], [100, 500], [700, 550], [400, 240]];
      await waitPixels(drawer, horizontal, 'dark', 'the drawer\'s own canvas');
      await waitPixels(guesser, horizontal, 'dark', 'the guesser\'s canvas along the line');
      await waitPixels(guesser, away, 'background', 'the guesser\'s canvas away from the line');

      // a wrong guess is shown to everyone, without the word
      await guesser.fill('#guess', 'definitely-not-it');
      await guesser.click('#send-guess');
      for (const page of [drawer, guesser]) {
        await page.waitForFunction(() => document.getElementById('log').textContent.includes('definitely-not-it'),
          null, { timeout: WAIT });
      }

      // the right guess (any case, spaces around) scores: guesser +10, drawer +5
      const drawerName = names.get(drawer);
      const guesserName = names.get(guesser);
      await guesser.fill('#guess', `  ${word.toUpperCase()} `);
      await guesser.click('#send-guess');
      for (const page of [drawer, guesser]) {
        await waitScore(page, guesserName, 10);
        await waitScore(page, drawerName, 5);
        await page.waitForFunction((w) => document.getElementById('log').textContent.includes(w), word,
          { timeout: WAIT });
      }

      // ---- round 2: the other player draws, on a clean canvas ----
      [drawer, guesser] = await roles([desk, phone]);
      assert.equal(names.get(drawer), guesserName, 'the drawer rotates');
      await waitPixels(guesser, horizontal, 'background', 'the canvas is clean in the next round');
      const word2 = (await drawer.textContent('#word')).trim();
      assert.match(word2, /^[a-z]+$/);
      await drawer.locator('#width').fill('20');
      await drawLine(drawer, [400, 80], [400, 520]);
      const vertical = [100, 200, 300, 400, 500].map((y) => [400, y]);
      await waitPixels(guesser, vertical, 'dark', 'round 2\'s line on the guesser\'s canvas');

      // the guesser reloads: the same player again (score kept, not listed twice), and the
      // round's strokes are back on its canvas
      const reloadedName = names.get(guesser);
      const scoreBefore = await scoreOf(guesser, reloadedName);
      await guesser.reload();
      await guesser.waitForSelector('#game:not([hidden])', { timeout: WAIT });
      await waitScore(guesser, reloadedName, scoreBefore);
      await waitPixels(guesser, vertical, 'dark', 'the strokes after a reload');
      await waitPixels(guesser, horizontal.filter(([x]) => Math.abs(x - 400) > 30), 'background',
        'only this round\'s strokes after a reload');
      for (const page of [drawer, guesser]) {
        await page.waitForFunction(() => {
          const items = [...document.querySelectorAll('#players li')];
          const names = items.map((li) => li.dataset.name);
          return items.length === 2 && new Set(names).size === 2 && !items.some((li) => li.classList.contains('away'));
        }, null, { timeout: WAIT });
      }
      assert.equal(await drawer.isVisible('#word'), true, 'the round went on through the reload');
      assert.equal((await drawer.textContent('#word')).trim(), word2);

      // ---- a socket.io 2.x client (EIO3, WebSocket) joins and guesses the word ----
      const weapp = await runWeapp(app.url, ['--room', room, '--name', 'weapp', '--guess', word2, '--wait', '300']);
      const lines = weapp.out.split('\n');
      const msg = `weapp-client.js output:\n${weapp.out}\n${weapp.err}`;
      assert.equal(weapp.code, 0, msg);
      assert.ok(lines.includes('connected eio=3 transport=websocket'), msg);
      assert.ok(lines.some((l) => l.startsWith('joined {"') && l.includes('"ok":true')), msg);
      const strokes = lines.find((l) => l.startsWith('strokes '));
      assert.ok(strokes, `it got the round's strokes: ${msg}`);
      assert.ok(JSON.parse(strokes.slice('strokes '.length)).points > 10, msg);
      const answer = lines.find((l) => l.startsWith('guess-answer '));
      assert.deepEqual(JSON.parse(answer.slice('guess-answer '.length)), { ok: true, correct: true }, msg);
      const correct = lines.find((l) => l.startsWith('correct '));
      assert.deepEqual(JSON.parse(correct.slice('correct '.length)), { name: 'weapp', word: word2 }, msg);
      for (const page of [desk, phone]) {
        await waitScore(page, 'weapp', 10);
        await page.waitForFunction(() => document.getElementById('log').textContent.includes('weapp guessed it'),
          null, { timeout: WAIT });
      }
    } catch (err) {
      if (app) err.message += `\nserver stderr:\n${app.stderr}`;
      throw err;
    } finally {
      if (browser) await browser.close().catch(() => {});
      if (app) await app.stop();
    }
  });
}
