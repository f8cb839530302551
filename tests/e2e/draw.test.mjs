// End to end: the draw-and-guess example (examples/draw, protocol v2) in headless Chromium, against
// the Python and the Lua server (env SIO_E2E_LANGS picks). Two tests a server:
//
// - "a full game": two pages and the bot (examples/draw/bot.lua under build/siod) play 3 rounds with
//   the host's own words and fast timers (the pages guess the bot's words by trying the host's list):
//   every player draws once a round, "close!" for a near miss,
//   revealed letters in the hint, the turn-end screen with the word and the points, every turn's
//   points as the rules say (a guesser 50..100, the drawer 25 per right guesser), the final board
//   (sorted, the sums of the turns), and "Play again" (host only) resetting the scores.
// - "the tools and the room": no "offline" before Join, /favicon.ico, `?new` (a second player in the
//   same browser context), the brush preview, undo / eraser / fill changing the other page's pixels,
//   a spectator joining mid-turn (its badge, the replayed canvas, its guess refused), the phone
//   layout (390x844, touch) keeping the canvas and the focused guess box in view (also with the
//   keyboard open: a shorter viewport), the host kicking a player, skipping a turn, a reload of a
//   `?new` tab coming back as the same player, the log's notices, and a socket.io 2.x client.
//
//   cd tests/e2e && node --test draw.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { LANGS, startApp, launchBrowser } from './lib.mjs';
import { REPO_ROOT } from '../js/server.mjs';

const WAIT = 5000; // every wait for the page or the server is bounded by this
const ROUND_SECONDS = 5; // the full game's turns (--round-seconds)
const PAUSE_SECONDS = 1.5; // and the turn-end screens (--pause-seconds)
const WORDS = ['banana', 'flower', 'spider']; // the host's own words: >= 6 letters, two letters revealed
const RED = [0xe0, 0x31, 0x31];

// Logical canvas points (800x600) of a page's #canvas: "dark", "background", "red" or "other".
async function pixels(page, points) {
  return page.evaluate(([pts, red]) => {
    const ctx = document.getElementById('canvas').getContext('2d');
    return pts.map(([x, y]) => {
      const [r, g, b, a] = ctx.getImageData(x, y, 1, 1).data;
      if (a === 0) return 'empty';
      if (r + g + b < 240) return 'dark';
      if (r > 245 && g > 245 && b > 245) return 'background';
      if (Math.abs(r - red[0]) + Math.abs(g - red[1]) + Math.abs(b - red[2]) < 12) return 'red';
      return 'other';
    });
  }, [points, RED]);
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
  await page.mouse.move(...at(x2, y2), { steps: 20 });
  await page.mouse.up();
}

async function clickCanvas(page, [x, y]) {
  const box = await page.locator('#canvas').boundingBox();
  await page.mouse.click(box.x + (x / 800) * box.width, box.y + (y / 600) * box.height);
}

async function join(page, name, room) {
  if (room !== undefined) await page.fill('#room', room);
  await page.fill('#name', name);
  await page.click('#join');
  await page.waitForSelector(`#players li[data-name="${name}"]`, { timeout: WAIT });
}

async function waitLog(page, text) {
  await page.waitForFunction((t) => document.getElementById('log').textContent.includes(t), text,
    { timeout: WAIT });
}

async function phase(page) {
  return page.getAttribute('#game', 'data-phase');
}

// Waits until `page` is in a turn other than `previous` ("round.turn"), or the game is over.
async function nextTurn(page, previous, timeout) {
  await page.waitForFunction((prev) => {
    const g = document.getElementById('game');
    const info = document.getElementById('round-info');
    const key = `${info.dataset.round}.${info.dataset.turn}`;
    return g.dataset.phase === 'game_over' || (g.dataset.phase === 'drawing' && key !== prev);
  }, previous, { timeout });
  if (await phase(page) === 'game_over') return null;
  const info = await page.evaluate(() => ({ ...document.getElementById('round-info').dataset }));
  return { key: `${info.round}.${info.turn}`, round: Number(info.round), turn: Number(info.turn), drawer: info.drawer };
}

// The turn-end screen's results: [{name, points, score}].
async function results(page, key, timeout) {
  await page.waitForSelector(`#turn-end[data-key="${key}"]`, { state: 'attached', timeout });
  return page.$$eval('#results li', (lis) => lis.map((li) => ({
    name: li.dataset.name, points: Number(li.dataset.points), score: Number(li.dataset.score),
  })));
}

function startBot(url, room, name) {
  const siod = path.join(REPO_ROOT, 'build/siod');
  if (!fs.existsSync(siod)) throw new Error('build/siod is missing: build the project first');
  const child = spawn(siod, [path.join(REPO_ROOT, 'examples/draw/bot.lua'), url, room, '--name', name, '--pace', '700'], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.output = '';
  child.stdout.on('data', (d) => { child.output += d; });
  child.stderr.on('data', (d) => { child.output += d; });
  return child;
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

// A word at edit distance 1 from `word` (its last letter changed).
function nearMiss(word) {
  const last = word[word.length - 1];
  return word.slice(0, -1) + (last === 'z' ? 'y' : 'z');
}

for (const lang of LANGS) {
  test(`draw and guess: a full game of 3 rounds, 2 pages and the bot, ${lang} server`, { timeout: 150000 }, async () => {
    let app = null;
    let browser = null;
    let bot = null;
    try {
      app = await startApp('draw', lang, ['--round-seconds', String(ROUND_SECONDS), '--pause-seconds', String(PAUSE_SECONDS)]);
      browser = await launchBrowser();
      const room = `game-${lang}-${Date.now().toString(36)}`;
      const ann = await (await browser.newContext({ viewport: { width: 1200, height: 900 } })).newPage();
      const ben = await (await browser.newContext({ viewport: { width: 1000, height: 800 } })).newPage();
      const pages = new Map([['ann', ann], ['ben', ben]]);

      await ann.goto(app.url);
      await join(ann, 'ann', room);
      // ann made the room: she is its host, with the game's settings; Start needs a second player
      await ann.waitForSelector('#players li[data-name="ann"].host', { timeout: WAIT });
      assert.equal(await ann.isVisible('#host-controls'), true);
      assert.equal(await ann.isDisabled('#start'), true);

      await ben.goto(`${app.url}/?room=${encodeURIComponent(room)}`);
      assert.equal(await ben.inputValue('#room'), room, 'a ?room= link fills the room in');
      await join(ben, 'ben');
      assert.equal(await ben.isVisible('#host-controls'), false, 'only the host has the game settings');
      assert.match(await ben.textContent('#lobby-wait'), /ann/);
      bot = startBot(app.url, room, 'bot');
      for (const page of [ann, ben]) {
        await page.waitForFunction(() => document.querySelectorAll('#players li').length === 3, null, { timeout: 2 * WAIT });
      }
      await waitLog(ann, 'ben joined');

      // a list too short is refused, and the host is told why
      await ann.fill('#words', 'one, two');
      await ann.click('#start');
      await ann.waitForFunction(() => document.getElementById('start-error').textContent.trim() !== '', null, { timeout: WAIT });
      assert.equal(await phase(ann), 'lobby');
      await ann.fill('#rounds', '3');
      await ann.fill('#words', WORDS.join(', '));
      await ann.click('#start');

      const totals = new Map([['ann', 0], ['ben', 0], ['bot', 0]]);
      const drawersByRound = new Map();
      let closeChecked = false;
      let hintChecked = false;
      let previous = '';
      for (;;) {
        const turn = await nextTurn(ann, previous, (ROUND_SECONDS + PAUSE_SECONDS) * 1000 + WAIT);
        if (!turn) break;
        previous = turn.key;
        if (!drawersByRound.has(turn.round)) drawersByRound.set(turn.round, []);
        drawersByRound.get(turn.round).push(turn.drawer);
        assert.match(await ann.textContent('#round-info'), new RegExp(`^Round ${turn.round} of 3`));

        let guessedBy = null;
        if (pages.has(turn.drawer)) {
          const drawer = pages.get(turn.drawer);
          const [guesserName, guesser] = [...pages].find(([n]) => n !== turn.drawer);
          await drawer.waitForSelector('#word:not([hidden])', { timeout: WAIT });
          const word = (await drawer.textContent('#word')).trim();
          assert.ok(WORDS.includes(word), `the host's own words: ${word}`);
          assert.equal(await guesser.isVisible('#word'), false, 'only the drawer sees the word');
          const hint = await guesser.getAttribute('#hint', 'data-hint');
          assert.equal(hint.length, word.length, `the hint ${hint} has the word's length`);
          if (!closeChecked) {
            await guesser.fill('#guess', nearMiss(word));
            await guesser.click('#send-guess');
            await guesser.waitForFunction(() => /close!/.test(document.getElementById('feedback').textContent),
              null, { timeout: WAIT });
            assert.doesNotMatch(await drawer.textContent('#log'), /close!/, '"close!" is for the guesser only');
            closeChecked = true;
          }
          await guesser.fill('#guess', word.toUpperCase());
          await guesser.click('#send-guess');
          await guesser.waitForFunction(() => /You got it/.test(document.getElementById('feedback').textContent),
            null, { timeout: WAIT });
          await waitLog(drawer, `${guesserName} guessed the word!`);
          guessedBy = guesserName;
          // the turn-end screen shows the word
          await ann.waitForSelector('#turn-end:not([hidden])', { timeout: (ROUND_SECONDS + 1) * 1000 });
          assert.equal((await ann.textContent('#turn-word')).trim(), word);
        } else {
          if (!hintChecked) {
            // the bot draws: letters are revealed as the time runs (one at 1/2, one more at 3/4)
            await ann.waitForFunction(() => /[a-z]/.test(document.getElementById('hint').dataset.hint || ''),
              null, { timeout: ROUND_SECONDS * 1000 });
            const hint = await ann.getAttribute('#hint', 'data-hint');
            assert.match(hint, /^[a-z_]{6}$/);
            assert.ok(hint.includes('_'), 'the last hidden letter is never revealed');
            hintChecked = true;
          }
          // the pages do not see the bot's word, but it is one of the host's: both try them all
          await Promise.all([ann, ben].map(async (page) => {
            for (const w of WORDS) {
              if (await phase(page) !== 'drawing') break;
              await page.fill('#guess', w);
              await page.click('#send-guess');
              if (await page.waitForFunction(() => /You got it/.test(document.getElementById('feedback').textContent),
                null, { timeout: 400 }).then(() => true, () => false)) break;
            }
          }));
          guessedBy = 'both';
        }

        const res = await results(ann, turn.key, (ROUND_SECONDS + 1) * 1000 + WAIT);
        assert.equal(res.length, 3, JSON.stringify(res));
        const right = res.filter((r) => r.name !== turn.drawer && r.points > 0);
        for (const r of right) assert.ok(r.points >= 50 && r.points <= 100, `a guesser's points: ${JSON.stringify(r)}`);
        if (guessedBy === 'both') assert.equal(right.length, 2, `both pages scored: ${JSON.stringify(res)}`);
        else if (guessedBy) assert.ok(right.some((r) => r.name === guessedBy), `${guessedBy} scored: ${JSON.stringify(res)}`);
        const drawerRes = res.find((r) => r.name === turn.drawer);
        assert.equal(drawerRes.points, 25 * right.length, `the drawer's points: ${JSON.stringify(res)}`);
        for (let i = 1; i < res.length; i++) assert.ok(res[i - 1].points >= res[i].points, 'sorted by points');
        for (const r of res) {
          totals.set(r.name, totals.get(r.name) + r.points);
          assert.equal(r.score, totals.get(r.name), `${r.name}'s score is the sum of its points`);
        }
      }

      // every player drew once a round
      assert.deepEqual([...drawersByRound.keys()], [1, 2, 3]);
      for (const [round, drawers] of drawersByRound) {
        assert.deepEqual([...drawers].sort(), ['ann', 'ben', 'bot'], `round ${round}'s drawers`);
      }
      assert.ok(closeChecked && hintChecked);

      // the final board, on both pages: sorted, with the sums of the turns
      const want = [...totals].sort((a, b) => b[1] - a[1]);
      for (const page of [ann, ben]) {
        await page.waitForSelector('#game-over:not([hidden])', { timeout: WAIT });
        const board = await page.$$eval('#leaderboard li', (lis) => lis.map((li) => [li.dataset.name, Number(li.dataset.score)]));
        assert.deepEqual(board.map((b) => b[1]), want.map((w) => w[1]), JSON.stringify(board));
        for (const [name, score] of board) assert.equal(score, totals.get(name));
        assert.match(await page.textContent('#winner'), want[0][1] === want[1][1] ? /tie/ : /wins|You win/);
      }
      await waitLog(ben, 'Game over');
      await waitLog(ben, 'Round 3 of 3');
      assert.equal(await ben.isVisible('#play-again'), false, 'only the host plays again');
      assert.equal(await ann.isVisible('#play-again'), true);

      // play again: a new game, from round 1, with the scores reset
      await ann.click('#play-again');
      for (const page of [ann, ben]) {
        await page.waitForFunction(() => document.getElementById('game').dataset.phase === 'drawing' &&
          document.getElementById('round-info').dataset.round === '1' &&
          [...document.querySelectorAll('#players li')].every((li) => li.dataset.score === '0'), null, { timeout: WAIT });
        assert.equal(await page.isVisible('#game-over'), false);
      }
    } catch (err) {
      if (app) err.message += `\nserver stderr:\n${app.stderr}`;
      if (bot) err.message += `\nbot output:\n${bot.output.slice(-3000)}`;
      throw err;
    } finally {
      if (bot) bot.kill('SIGTERM');
      if (browser) await browser.close().catch(() => {});
      if (app) await app.stop();
    }
  });

  test(`draw and guess: the tools and the room, ${lang} server`, { timeout: 120000 }, async () => {
    let app = null;
    let browser = null;
    try {
      app = await startApp('draw', lang, ['--round-seconds', '60', '--pause-seconds', '1']);
      browser = await launchBrowser();
      const room = `tools-${lang}-${Date.now().toString(36)}`;
      const desktop = await browser.newContext({ viewport: { width: 1200, height: 900 } });
      const ann = await desktop.newPage();
      const errors = []; // console errors (a 404 included) and uncaught exceptions, of every page
      const watch = (page, name) => {
        page.on('console', (m) => { if (m.type() === 'error') errors.push(`${name}: ${m.text()}`); });
        page.on('pageerror', (e) => errors.push(`${name}: ${e.message}`));
        return page;
      };
      watch(ann, 'ann');

      // before Join: no connection on purpose, so no red "offline"
      await ann.goto(app.url);
      await ann.waitForTimeout(300);
      assert.equal((await ann.textContent('#status')).trim(), 'not joined yet', 'a neutral state before joining');
      assert.equal(await ann.getAttribute('#status', 'class'), 'status', 'not red');
      assert.doesNotMatch(await ann.textContent('body'), /offline/);
      const icon = await ann.request.get(`${app.url}/favicon.ico`);
      assert.equal(icon.status(), 200, '/favicon.ico');
      assert.match(icon.headers()['content-type'], /^image\//);
      assert.equal((await ann.request.get(`${app.url}/favicon.svg`)).status(), 200);

      await ann.fill('#room', room);
      const secondPlayer = await ann.getAttribute('#new-window', 'href'); // the form's "second player" link
      assert.equal(secondPlayer, `/?new&room=${encodeURIComponent(room)}`);
      await join(ann, 'ann', room);
      assert.equal(await ann.textContent('#status'), 'online');
      // the share button gives the room's link
      await ann.click('#share');
      await ann.waitForFunction(() => document.getElementById('share').dataset.url, null, { timeout: WAIT });
      assert.equal(await ann.getAttribute('#share', 'data-url'), `${app.url}/?room=${encodeURIComponent(room)}`);

      // ?new: a second player in the same browser context (same localStorage), the first stays in
      const ben = watch(await desktop.newPage(), 'ben');
      await ben.goto(`${app.url}${secondPlayer}`);
      await join(ben, 'ben');
      for (const page of [ann, ben]) {
        await page.waitForFunction(() => document.querySelectorAll('#players li:not(.away)').length === 2, null, { timeout: WAIT });
      }
      assert.equal(await ann.isVisible('#game'), true, 'the first tab is still in the game');
      const annId = await ann.getAttribute('#players li.me', 'data-id');
      const benId = await ben.getAttribute('#players li.me', 'data-id');
      assert.notEqual(annId, benId);
      await waitLog(ann, 'ben joined');
      // the banner's plain `/?new` link: the room is the one this browser played last
      const third = await desktop.newPage();
      await third.goto(`${app.url}/?new`);
      assert.equal(await third.inputValue('#room'), room);
      await third.close();

      // a game of 1 round; ann (first to join) draws first
      await ann.fill('#rounds', '1');
      await ann.click('#start');
      await ann.waitForSelector('#word:not([hidden])', { timeout: WAIT });
      const word = (await ann.textContent('#word')).trim();
      assert.equal(await ann.isVisible('#tools'), true);
      assert.equal(await ben.isVisible('#tools'), false);

      // the brush preview follows the size
      await ann.locator('#width').fill('6');
      const small = (await ann.locator('#brush-preview').boundingBox()).width;
      await ann.locator('#width').fill('30');
      const big = (await ann.locator('#brush-preview').boundingBox()).width;
      assert.ok(big > 3 * small, `brush preview ${small} -> ${big}`);

      // two lines, then undo: the second goes away on ben's canvas, the first stays
      await ann.click('.swatch[data-color="#222222"]');
      await ann.locator('#width').fill('20');
      await drawLine(ann, [80, 300], [720, 300]);
      await drawLine(ann, [400, 80], [400, 520]);
      const horizontal = [120, 200, 300, 500, 600, 680].map((x) => [x, 300]);
      const vertical = [[400, 120], [400, 200], [400, 400], [400, 480]];
      await waitPixels(ben, [...horizontal, ...vertical], 'dark', 'both lines on ben\'s canvas');
      await ann.click('#undo');
      await waitPixels(ben, vertical, 'background', 'undo removed the second line on ben\'s canvas');
      await waitPixels(ben, horizontal, 'dark', 'undo kept the first line');
      await waitPixels(ann, vertical, 'background', 'undo on the drawer\'s own canvas');

      // the eraser across the line at x=200
      await ann.click('#tool-eraser');
      await ann.locator('#width').fill('40');
      await drawLine(ann, [200, 240], [200, 360]);
      await waitPixels(ben, [[200, 300]], 'background', 'the eraser on ben\'s canvas');
      await waitPixels(ben, [[120, 300], [600, 300]], 'dark', 'the eraser only where it went');

      // fill: the background above the line turns red (and below it: the line has a gap now), then undo
      await ann.click('.swatch[data-color="#e03131"]');
      await ann.click('#tool-fill');
      await clickCanvas(ann, [400, 100]);
      const area = [[400, 100], [50, 50], [750, 550], [400, 500]];
      await waitPixels(ben, area, 'red', 'the fill on ben\'s canvas');
      await waitPixels(ben, [[600, 300]], 'dark', 'the fill stops at the line');
      await ann.keyboard.press('Control+z'); // the keyboard's undo
      await waitPixels(ben, area, 'background', 'undo of the fill on ben\'s canvas');
      await clickCanvas(ann, [400, 100]);
      await waitPixels(ben, area, 'red', 'the fill again');

      // a spectator joins mid-turn, on a phone: the canvas is replayed (strokes, eraser, fill)
      const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
      const pat = watch(await phone.newPage(), 'pat');
      await pat.goto(`${app.url}/?room=${encodeURIComponent(room)}`);
      await join(pat, 'pat');
      for (const page of [ann, ben, pat]) {
        await page.waitForSelector('#players li[data-name="pat"].spectator .badge.spectator', { timeout: WAIT });
      }
      await waitPixels(pat, area, 'red', 'the replayed fill');
      await waitPixels(pat, [[120, 300], [600, 300]], 'dark', 'the replayed line');
      await waitPixels(pat, [[200, 300], ...vertical.slice(0, 1)], 'red', 'the replay without the undone line, with the erased gap filled');
      await pat.tap('#guess');
      await pat.fill('#guess', word);
      await pat.click('#send-guess');
      await pat.waitForFunction(() => /spectating/.test(document.getElementById('feedback').textContent), null, { timeout: WAIT });
      assert.equal(await ben.getAttribute(`#players li[data-name="pat"]`, 'data-score'), '0');

      // the phone layout: the canvas and the focused guess box in view, also with the keyboard open
      async function inView(page, height) {
        await page.locator('#guess').focus();
        await page.waitForFunction((h) => {
          const c = document.getElementById('canvas').getBoundingClientRect();
          const g = document.getElementById('guess').getBoundingClientRect();
          const vh = window.visualViewport ? window.visualViewport.height : window.innerHeight;
          return vh <= h + 1 && c.top >= -1 && c.height > 100 && g.top >= c.bottom - 1 && g.bottom <= vh + 1 &&
            document.activeElement.id === 'guess';
        }, height, { timeout: WAIT }).catch(async () => {
          const boxes = await page.evaluate(() => ({
            canvas: document.getElementById('canvas').getBoundingClientRect().toJSON(),
            guess: document.getElementById('guess').getBoundingClientRect().toJSON(),
            vh: window.visualViewport.height,
            active: document.activeElement.id,
          }));
          assert.fail(`phone layout at height ${height}: ${JSON.stringify(boxes)}`);
        });
      }
      await inView(pat, 844);
      // the on-screen keyboard takes the rest: the canvas shrinks (the page follows visualViewport's
      // height, --vvh) and the page scrolls so that the canvas and the guess box are in view
      await pat.setViewportSize({ width: 390, height: 380 });
      await pat.waitForFunction(() => document.documentElement.style.getPropertyValue('--vvh') === '380px', null, { timeout: WAIT });
      await inView(pat, 380);
      await pat.setViewportSize({ width: 390, height: 844 });

      // the host kicks pat: pat is back at the form, told why, and cannot come back
      assert.equal(await ben.locator('#players .kick').count(), 0, 'only the host has kick buttons');
      await ann.click('#players li[data-name="pat"] .kick');
      await pat.waitForSelector('#join-form:not([hidden])', { timeout: WAIT });
      assert.match(await pat.textContent('#notice'), /removed you/);
      for (const page of [ann, ben]) {
        await page.waitForFunction(() => !document.querySelector('#players li[data-name="pat"]'), null, { timeout: WAIT });
      }
      await waitLog(ben, 'pat was kicked');
      await pat.click('#join');
      await pat.waitForFunction(() => /Could not join: the host removed you/.test(document.getElementById('notice').textContent),
        null, { timeout: WAIT });

      // the host skips the turn: the turn-end screen shows the word on both pages
      await ann.click('#players li[data-name="ann"] .skip');
      for (const page of [ann, ben]) {
        await page.waitForSelector('#turn-end:not([hidden])', { timeout: WAIT });
        assert.equal((await page.textContent('#turn-word')).trim(), word);
        assert.match(await page.textContent('#turn-reason'), /skipped/);
      }

      // ben's turn; ben's ?new tab reloads and comes back as ben (same id, still drawing)
      await ben.waitForSelector('#word:not([hidden])', { timeout: WAIT });
      await waitPixels(ann, area, 'background', 'a clean canvas for the next turn');
      const word2 = (await ben.textContent('#word')).trim();
      await ben.locator('#width').fill('20');
      await drawLine(ben, [100, 500], [700, 500]);
      await waitPixels(ann, [[300, 500], [500, 500]], 'dark', 'ben\'s line on ann\'s canvas');
      await ben.reload();
      await ben.waitForSelector('#word:not([hidden])', { timeout: WAIT });
      assert.equal(await ben.getAttribute('#players li.me', 'data-id'), benId);
      assert.equal((await ben.textContent('#word')).trim(), word2);
      await waitPixels(ben, [[300, 500], [500, 500]], 'dark', 'the turn\'s strokes after a reload');
      assert.equal(await ann.locator('#players li').count(), 2, 'not listed twice');
      await waitLog(ann, 'ben left'); // (the reload: gone, then back)

      // a socket.io 2.x client (EIO3, WebSocket) joins mid-turn: a spectator, with the turn's strokes
      const weapp = await runWeapp(app.url, ['--room', room, '--name', 'weapp', '--guess', word2, '--wait', '300']);
      const lines = weapp.out.split('\n');
      const msg = `weapp-client.js output:\n${weapp.out}\n${weapp.err}`;
      assert.ok(lines.includes('connected eio=3 transport=websocket'), msg);
      assert.ok(lines.some((l) => l.startsWith('joined {"') && l.includes('"ok":true')), msg);
      const strokes = lines.find((l) => l.startsWith('strokes '));
      assert.ok(strokes, `it got the turn's strokes: ${msg}`);
      const answer = lines.find((l) => l.startsWith('guess-answer '));
      const refused = JSON.parse(answer.slice('guess-answer '.length));
      assert.deepEqual([refused.ok, refused.error], [false, 'spectating'], msg);
      assert.equal(weapp.code, 1, `it exits 1 as its guess was refused: ${msg}`);
      await waitLog(ann, 'weapp joined');
      assert.deepEqual(errors, [], 'no console errors');

      // a second tab without ?new is the same player: it takes over, the first goes back to the form
      // (told why), and the session stays the new tab's (its reload comes back in)
      const again = await desktop.newPage();
      await again.goto(app.url);
      await again.waitForSelector('#game:not([hidden])', { timeout: WAIT });
      assert.equal(await again.getAttribute('#players li.me', 'data-id'), annId);
      await ann.waitForSelector('#join-form:not([hidden])', { timeout: WAIT });
      assert.match(await ann.textContent('#notice'), /another tab/);
      await again.reload();
      await again.waitForSelector('#game:not([hidden])', { timeout: WAIT });
      assert.equal(await again.getAttribute('#players li.me', 'data-id'), annId);
    } catch (err) {
      if (app) err.message += `\nserver stderr:\n${app.stderr}`;
      throw err;
    } finally {
      if (browser) await browser.close().catch(() => {});
      if (app) await app.stop();
    }
  });
}
