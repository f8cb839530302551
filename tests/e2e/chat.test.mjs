// End-to-end tests of the chat example (examples/chat): its page in headless Chromium against each
// server (examples/run chat python|lua), the socket.io 2.x script (weapp-client.js), and the
// protocol's rules driven by socket.io-client 4.x directly.
//
//   cd tests/e2e && node --test chat.test.mjs          (SIO_E2E_LANGS=lua: one server only)
//
// Every wait is bounded (playwright's default timeouts are TIMEOUT); browsers, clients and servers
// are closed in after() hooks.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { LANGS, startApp, launchBrowser } from './lib.mjs';
import { REPO_ROOT } from '../js/server.mjs';

const TIMEOUT = 5000;
const require = createRequire(path.join(REPO_ROOT, 'examples', 'package.json'));
const ioClient = require('socket.io-client');
const WEAPP_CLIENT = path.join(REPO_ROOT, 'examples', 'chat', 'weapp-client.js');

// ---- helpers ------------------------------------------------------------------------------------

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// Resolves to the page's state once fn(arg) is truthy in it (TIMEOUT at most).
async function until(page, what, fn, arg) {
  try {
    const handle = await page.waitForFunction(fn, arg, { timeout: TIMEOUT, polling: 50 });
    return await handle.jsonValue();
  } catch (err) {
    const state = await page.evaluate(() => ({
      view: document.getElementById('app').dataset.view,
      users: document.getElementById('users').textContent,
      typing: document.getElementById('typing').textContent,
      error: document.getElementById('join-error').textContent,
      messages: [...document.querySelectorAll('#messages li')].map((li) => li.outerHTML).slice(-8),
    })).catch(() => 'page gone');
    err.message = `waiting for ${what}: ${err.message}\npage state: ${JSON.stringify(state, null, 1)}`;
    throw err;
  }
}

const usersOf = (page) => page.$$eval('#users li', (lis) => lis.map((li) => li.dataset.nick));

async function openPage(browser, url, contexts, errors, options = {}) {
  const context = await browser.newContext(options);
  contexts.push(context);
  context.setDefaultTimeout(TIMEOUT);
  context.setDefaultNavigationTimeout(TIMEOUT);
  const page = await context.newPage();
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => { if (msg.type() === 'error') errors.push(`console: ${msg.text()}`); });
  // (a missing favicon is a 404 here, not only a console line)
  page.on('response', (res) => { if (res.status() === 404) errors.push(`404: ${res.url()}`); });
  await page.goto(url);
  return page;
}

async function joinAs(page, nick, room) {
  await page.fill('#nick', nick);
  await page.fill('#room', room);
  await page.click('#join');
}

async function joined(page, nick, room) {
  await joinAs(page, nick, room);
  await until(page, `${nick} in the chat view`, () =>
    document.getElementById('app').dataset.view === 'chat' &&
    !document.getElementById('chat-view').hidden);
  assert.equal(await page.textContent('#room-name'), room);
}

// Runs weapp-client.js; onLine(line) sees its stdout line by line. Resolves to {code, out, err}.
function runWeapp(args, onLine, ms = 10000) {
  const child = spawn(process.execPath, [WEAPP_CLIENT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '', partial = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    out += d;
    partial += d;
    let i;
    while ((i = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, i);
      partial = partial.slice(i + 1);
      try { onLine(line); } catch (e) { err += `onLine: ${e.message}\n`; }
    }
  });
  child.stderr.on('data', (d) => { err += d; });
  const done = new Promise((resolve) => child.once('exit', (code) => resolve({ code, out, err })));
  return withTimeout(done, ms, 'weapp-client.js to finish').catch((e) => {
    child.kill('SIGKILL');
    e.message += `\nstdout: ${out}\nstderr: ${err}`;
    throw e;
  });
}

// The room list a page shows: {name: count} (selector: #rooms in the chat, #join-rooms on the form).
const roomsOf = (page, selector = '#rooms') => page.$$eval(`${selector} li`, (lis) =>
  Object.fromEntries(lis.map((li) => [li.dataset.room, Number(li.dataset.count)])));

// Waits until the page's room list has `count` for `name` (0: not listed).
async function roomCount(page, name, count, selector = '#rooms') {
  await until(page, `${selector} to list #${name} with ${count}`, ([sel, n, c]) => {
    const li = [...document.querySelectorAll(`${sel} li`)].find((l) => l.dataset.room === n);
    return c === 0 ? !li : !!li && li.dataset.count === String(c) &&
      li.querySelector('.count').textContent === String(c);
  }, [selector, name, count]);
}

// A socket.io 4.x client connected to url; emit(event, ...args) resolves to the ack.
async function connectClient(url, clients, options = {}) {
  const socket = ioClient(url, { transports: ['websocket'], reconnection: false, forceNew: true,
    ...options });
  clients.push(socket);
  await withTimeout(new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  }), TIMEOUT, 'socket.io client to connect');
  socket.ask = (event, ...args) => socket.timeout(TIMEOUT).emitWithAck(event, ...args);
  return socket;
}

// ---- the tests ----------------------------------------------------------------------------------

for (const lang of LANGS) {
  describe(`chat example, ${lang} server`, () => {
    let app, browser;
    const contexts = [];
    const clients = [];
    const errors = [];
    const room = `room-${lang}-${Math.random().toString(36).slice(2, 7)}`;
    const text = 'hello from alice <b>not bold</b>';
    let A, B, C;
    let msgId;

    before(async () => {
      app = await startApp('chat', lang);
      browser = await launchBrowser();
    });

    after(async () => {
      for (const socket of clients) socket.close();
      for (const context of contexts) await context.close().catch(() => {});
      if (browser) await browser.close().catch(() => {});
      if (app) await app.stop();
    });

    test('serves the page and the socket.io client bundle', async () => {
      const page = await fetch(app.url + '/');
      assert.equal(page.status, 200);
      assert.match(page.headers.get('content-type') || '', /text\/html/);
      assert.match(await page.text(), /<script src="\/socket\.io\/socket\.io\.js"><\/script>/);
      const bundle = await fetch(app.url + '/socket.io/socket.io.js');
      assert.equal(bundle.status, 200);
      assert.match(await bundle.text(), /Socket\.IO v4/);
      for (const [file, type] of [['favicon.ico', /image\/x-icon|image\/vnd\.microsoft\.icon/],
        ['favicon.svg', /image\/svg\+xml/]]) {
        const icon = await fetch(`${app.url}/${file}`);
        assert.equal(icon.status, 200, file);
        assert.match(icon.headers.get('content-type') || '', type);
        assert.ok((await icon.arrayBuffer()).byteLength > 0);
      }
    });

    test('two pages join the same room and see each other', async () => {
      A = await openPage(browser, app.url, contexts, errors);
      B = await openPage(browser, app.url, contexts, errors);
      await joined(A, 'alice', room);
      await joined(B, 'bob', room);
      await until(B, "bob's user list: alice and bob", () =>
        [...document.querySelectorAll('#users li')].map((li) => li.dataset.nick).sort().join() ===
        'alice,bob');
      await until(A, "alice's user list: alice and bob", () =>
        document.querySelectorAll('#users li').length === 2);
      await until(A, 'a join notice for bob on alice\'s page', () =>
        !!document.querySelector('#messages li[data-notice="join"][data-nick="bob"]'));
    });

    test('typing shows the indicator on the other page', async () => {
      await A.fill('#input', 'hel');
      const shown = await until(B, 'the typing indicator on bob\'s page', () => {
        const t = document.getElementById('typing').textContent;
        return /alice is typing/.test(t) && t;
      });
      assert.match(shown, /^alice is typing…$/);
      assert.equal(await A.textContent('#typing'), '', 'alice does not see herself typing');
    });

    test('a message goes pending → sent on the sender, and shows on the other page', async () => {
      // record every status the sender's messages go through
      await A.evaluate(() => {
        window.statusLog = [];
        new MutationObserver((records) => {
          for (const r of records) {
            if (r.type === 'childList') {
              for (const n of r.addedNodes) if (n.dataset && n.dataset.status) window.statusLog.push(n.dataset.status);
            } else if (r.attributeName === 'data-status') {
              window.statusLog.push(r.target.dataset.status);
            }
          }
        }).observe(document.getElementById('messages'),
          { childList: true, subtree: true, attributes: true, attributeFilter: ['data-status'] });
      });
      await A.fill('#input', text);
      await A.click('#send');
      const id = await until(A, 'alice\'s message delivered (data-status="sent")', () => {
        const li = [...document.querySelectorAll('#messages li[data-kind="chat"]')].pop();
        return li && li.dataset.status === 'sent' && li.dataset.id;
      });
      assert.deepEqual(await A.evaluate(() => window.statusLog), ['pending', 'sent']);
      assert.equal(await A.inputValue('#input'), '', 'the input is cleared');
      const own = await A.$eval(`#messages li[data-id="${id}"]`, (li) => ({
        text: li.querySelector('.text').textContent, own: li.classList.contains('own'),
        mark: li.querySelector('.status').textContent,
      }));
      assert.deepEqual(own, { text, own: true, mark: '✓' });

      const seen = await until(B, 'alice\'s message on bob\'s page', (id) => {
        const li = document.querySelector(`#messages li[data-kind="chat"][data-id="${id}"]`);
        return li && { nick: li.dataset.nick, text: li.querySelector('.text').textContent,
          html: li.querySelector('.text').innerHTML, status: li.dataset.status || null };
      }, id);
      assert.deepEqual(seen, { nick: 'alice', text, html: text.replace(/</g, '&lt;').replace(/>/g, '&gt;'),
        status: null });
      await until(B, 'the typing indicator to clear once alice sent', () =>
        document.getElementById('typing').textContent === '');
      // bob's page saw it (visible): alice, and bob, read "seen by bob" under it
      for (const page of [A, B]) {
        await until(page, '"seen by bob" under alice\'s message', (id) => {
          const s = document.querySelector(`#messages li[data-id="${id}"] .seen`);
          return s && s.dataset.by === 'bob' && s.textContent === 'seen by bob';
        }, id);
      }
      msgId = id;
    });

    test('a late joiner sees the history', async () => {
      C = await openPage(browser, app.url, contexts, errors);
      await joined(C, 'carol', room);
      const history = await C.$$eval('#messages li[data-kind="chat"][data-history="true"]', (lis) =>
        lis.map((li) => ({ nick: li.dataset.nick, text: li.querySelector('.text').textContent })));
      assert.deepEqual(history, [{ nick: 'alice', text }]);
      assert.deepEqual((await usersOf(C)).sort(), ['alice', 'bob', 'carol']);
      await until(B, "bob's user list with carol", () =>
        document.querySelectorAll('#users li').length === 3);
      // carol saw it in the history: the names grow, once each, on alice's page
      await until(A, '"seen by bob, carol" under alice\'s message', (id) =>
        document.querySelector(`#messages li[data-id="${id}"] .seen`).textContent ===
        'seen by bob, carol', msgId);
      // carol's page had "bob" from the history's seen list, then her own name from the event
      await until(C, '"seen by bob, carol" on carol\'s page', (id) =>
        document.querySelector(`#messages li[data-id="${id}"] .seen`).textContent ===
        'seen by bob, carol', msgId);
    });

    test('the room list shows every room with its count, live, and switches rooms', async () => {
      for (const page of [A, B, C]) await roomCount(page, room, 3);
      assert.equal(await C.textContent(`#rooms li[data-room="${room}"] .room-name`), `#${room}`);
      assert.equal(await C.getAttribute(`#rooms li[data-room="${room}"]`, 'class'), 'current');
      // a page on the join form sees the rooms too, and joins one from the list
      const other = `${room}-b`;
      const E = await openPage(browser, app.url, contexts, errors);
      await roomCount(E, room, 3, '#join-rooms');
      await joined(E, 'erin', other);
      await roomCount(A, other, 1);
      assert.deepEqual((await roomsOf(A))[room], 3);
      // switching from the list: erin moves to the room, hers is gone from every list
      await E.click(`#rooms li[data-room="${room}"] button`);
      await until(E, 'erin in the room', (r) => document.getElementById('room-name').textContent === r, room);
      for (const page of [A, E]) {
        await roomCount(page, room, 4);
        await roomCount(page, other, 0);
      }
      await E.click('#leave');
      await roomCount(A, room, 3);
      await roomCount(E, room, 3, '#join-rooms');
      await E.click(`#join-rooms li[data-room="${room}"] button`); // nickname filled: joins
      await until(E, 'erin back in the room', () => document.getElementById('app').dataset.view === 'chat');
      await roomCount(B, room, 4);
      await E.context().close();
      await roomCount(B, room, 3);
    });

    test('the share link opens the chat in this room', async () => {
      const expected = `${app.url}/?room=${encodeURIComponent(room)}`;
      await A.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: app.url });
      assert.equal(await A.getAttribute('#share', 'data-url'), expected);
      assert.equal(await A.evaluate(() => location.href), expected, 'the address bar is the link');
      await A.click('#share');
      const shown = await until(A, 'the share status', () =>
        document.getElementById('share-status').textContent);
      if (shown === 'Link copied') {
        assert.equal(await A.evaluate(() => navigator.clipboard.readText()), expected);
      } else {
        assert.equal(shown, expected, 'without a clipboard the link is shown');
      }
      const F = await openPage(browser, expected, contexts, errors);
      assert.equal(await F.inputValue('#room'), room);
      await F.context().close();
    });

    test('a hidden page does not count as seen until it is visible again', async () => {
      const setHidden = (page, hidden) => page.evaluate((h) => {
        Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => (h ? 'hidden' : 'visible') });
        document.dispatchEvent(new Event('visibilitychange'));
      }, hidden);
      await setHidden(B, true);
      await A.fill('#input', 'are you there?');
      await A.click('#send');
      const id = await until(A, 'the question delivered', () => {
        const li = [...document.querySelectorAll('#messages li.own')].pop();
        return li.dataset.status === 'sent' && li.dataset.id;
      });
      await until(B, 'the question on bob\'s hidden page', (id) =>
        !!document.querySelector(`#messages li[data-id="${id}"]`), id);
      await until(A, '"seen by carol" (carol\'s page is visible)', (id) =>
        document.querySelector(`#messages li[data-id="${id}"] .seen`).dataset.by === 'carol', id);
      await new Promise((r) => setTimeout(r, 500)); // bob's page had time to report, and did not
      assert.equal(await A.getAttribute(`#messages li[data-id="${id}"] .seen`, 'data-by'), 'carol');
      await setHidden(B, false);
      await until(A, '"seen by carol, bob" once bob\'s page is visible', (id) =>
        document.querySelector(`#messages li[data-id="${id}"] .seen`).textContent ===
        'seen by carol, bob', id);
    });

    test('a message below the scrolled view is not seen until scrolled to', async () => {
      for (let i = 1; i <= 14; i++) {
        await A.fill('#input', `filler ${i}`);
        await A.click('#send');
      }
      await until(B, 'the fillers on bob\'s page, scrolling', () =>
        [...document.querySelectorAll('#messages li .text')].some((e) => e.textContent === 'filler 14') &&
        document.getElementById('messages').scrollHeight > document.getElementById('messages').clientHeight * 1.5);
      await B.evaluate(() => { document.getElementById('messages').scrollTop = 0; });
      await new Promise((r) => setTimeout(r, 300));
      await A.fill('#input', 'look down');
      await A.click('#send');
      const id = await until(A, '"look down" delivered', () => {
        const li = [...document.querySelectorAll('#messages li.own')].pop();
        return li.dataset.status === 'sent' && li.dataset.id;
      });
      await until(A, '"look down" seen by carol', (id) =>
        document.querySelector(`#messages li[data-id="${id}"] .seen`).dataset.by === 'carol', id);
      await new Promise((r) => setTimeout(r, 500)); // bob's page had time to report, and did not
      assert.equal(await A.getAttribute(`#messages li[data-id="${id}"] .seen`, 'data-by'), 'carol');
      await B.evaluate(() => { const m = document.getElementById('messages'); m.scrollTop = m.scrollHeight; });
      await until(A, '"look down" seen by carol, bob once bob scrolled down', (id) =>
        document.querySelector(`#messages li[data-id="${id}"] .seen`).dataset.by === 'carol,bob', id);
    });

    test('a duplicate nickname is refused with a visible error', async () => {
      const D = await openPage(browser, app.url, contexts, errors);
      await joinAs(D, 'alice', room);
      await D.waitForSelector('#join-error', { state: 'visible' });
      assert.match(await D.textContent('#join-error'), /taken/);
      assert.equal(await D.isVisible('#chat-view'), false);
      // ASCII case does not make a nickname new either; another nickname gets in
      await joinAs(D, 'ALICE', room);
      await until(D, 'the error again', () => /taken/.test(document.getElementById('join-error').textContent));
      assert.equal(await D.isVisible('#chat-view'), false);
      await joined(D, 'dave', room);
      await D.click('#leave');
      await until(B, "dave's leave notice on bob's page", () =>
        !!document.querySelector('#messages li[data-notice="leave"][data-nick="dave"]'));
      await D.context().close();
    });

    test('closing a page is leaving: notice and a shorter user list', async () => {
      await A.context().close();
      await until(B, "alice's leave notice on bob's page", () =>
        !!document.querySelector('#messages li[data-notice="leave"][data-nick="alice"]'));
      await until(B, "bob's user list without alice", () =>
        [...document.querySelectorAll('#users li')].map((li) => li.dataset.nick).sort().join() ===
        'bob,carol');
    });

    test('weapp-client.js (socket.io 2.x, Engine.IO v3) joins and talks with the page', async () => {
      let bobSent = null;
      const result = await runWeapp(
        [app.url, '--nick', 'wx', '--room', room, '--text', 'hi from the weapp', '--wait', '2500'],
        (line) => {
          if (line.startsWith('sent ') && !bobSent) {
            bobSent = (async () => {
              await B.fill('#input', 'hi wx');
              await B.click('#send');
            })();
          }
        });
      if (bobSent) await bobSent;
      assert.equal(result.code, 0, `weapp-client.js failed\nstdout: ${result.out}\nstderr: ${result.err}`);
      const out = result.out;
      assert.match(out, /Engine\.IO v3, websocket/);
      assert.match(out, new RegExp(`joined #${room} as wx; users: \\[[^\\]]*"wx"`));
      assert.match(out, /history: 17 message\(s\)/); // alice's
      assert.match(out, /sent "hi from the weapp": delivered, id \d+, ts \d+/);
      assert.match(out, /< chat \{[^\n]*"nick":"bob"[^\n]*\}/);
      assert.match(out, /< chat [^\n]*"text":"hi wx"/);
      // the rooms list on connecting and after its join; bob's page saw the weapp's message
      // (JSON keys in any order: Lua's tables have none)
      const lineOf = (ev) => out.split('\n').filter((l) => l.startsWith(`< ${ev} `)).map((l) => JSON.parse(l.slice(ev.length + 3)));
      assert.ok(lineOf('rooms').some((list) => list.some((x) => x.name === room && x.count === 3)), out);
      assert.ok(lineOf('seen').some((x) => Number.isInteger(x.id) && x.by.includes('bob')), out);
      assert.match(out, /^left$/m);
      await until(B, 'the weapp message on bob\'s page', () =>
        [...document.querySelectorAll('#messages li[data-kind="chat"][data-nick="wx"] .text')]
          .some((e) => e.textContent === 'hi from the weapp'));
      await until(B, "wx's leave notice", () =>
        !!document.querySelector('#messages li[data-notice="leave"][data-nick="wx"]'));
    });

    test('the page works on a phone-sized touch screen', async () => {
      const phone = await openPage(browser, app.url, contexts, errors, {
        viewport: { width: 375, height: 667 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2,
      });
      await phone.tap('#nick');
      await phone.fill('#nick', 'pat');
      await phone.fill('#room', room);
      await phone.tap('#join');
      await until(phone, 'the chat view on the phone', () =>
        document.getElementById('app').dataset.view === 'chat');
      await phone.fill('#input', 'from my phone');
      await phone.tap('#send');
      await until(phone, 'the phone message delivered', () =>
        [...document.querySelectorAll('#messages li[data-status="sent"] .text')]
          .some((e) => e.textContent === 'from my phone'));
      const layout = await phone.evaluate(() => {
        const box = (id) => document.getElementById(id).getBoundingClientRect();
        return {
          overflow: document.documentElement.scrollWidth > window.innerWidth,
          send: box('send'), input: box('input'), users: box('users-panel'), w: window.innerWidth,
          h: window.innerHeight,
        };
      });
      assert.equal(layout.overflow, false, 'no horizontal scrolling');
      for (const key of ['send', 'input', 'users']) {
        const b = layout[key];
        assert.ok(b.left >= 0 && b.right <= layout.w && b.top >= 0 && b.bottom <= layout.h && b.height > 0,
          `${key} is on screen: ${JSON.stringify(b)}`);
      }
      assert.ok(layout.send.height >= 44, 'the send button is a touch target');
      await until(B, "pat's message on bob's page", () =>
        [...document.querySelectorAll('#messages li[data-nick="pat"] .text')]
          .some((e) => e.textContent === 'from my phone'));
    });

    test('a page cut off for ~2 s gets every message sent meanwhile, once (recovery)', async () => {
      // bob's connection drops (its transport closed, as when a phone loses the network) and comes
      // back after 2 s; carol talks meanwhile
      await B.evaluate(() => {
        const io = window.chatSocket.io;
        io.reconnectionDelay(2000);
        io.reconnectionDelayMax(2000);
        io.randomizationFactor(0);
        io.engine.close();
      });
      await until(B, 'bob disconnected', () =>
        document.getElementById('chat-status').dataset.state === 'disconnected');
      const texts = ['while away 1', 'while away 2', 'while away 3'];
      for (const t of texts) {
        await C.fill('#input', t);
        await C.click('#send');
      }
      await until(C, "carol's messages delivered", (n) =>
        document.querySelectorAll('#messages li.own[data-status="sent"]').length >= n, texts.length);
      assert.equal(await B.evaluate(() => window.chatSocket.connected), false,
        'the messages were sent while bob was away');
      await until(B, 'bob back, recovered', () =>
        [...document.querySelectorAll('#messages li[data-notice="self"]')]
          .some((li) => li.dataset.recovered === 'true' && /nothing missed/.test(li.textContent)) &&
        document.getElementById('chat-status').dataset.state === 'connected');
      assert.equal(await B.evaluate(() => window.chatSocket.recovered), true);
      const got = await until(B, "carol's messages on bob's page", (texts) => {
        const all = [...document.querySelectorAll('#messages li[data-nick="carol"] .text')].map((e) => e.textContent);
        return texts.every((t) => all.includes(t)) && all;
      }, texts);
      for (const t of texts) assert.equal(got.filter((x) => x === t).length, 1, `"${t}" once`);
      await until(B, 'bob in the user list again', () =>
        [...document.querySelectorAll('#users li')].some((li) => li.dataset.nick === 'bob'));
      // and bob is in the room again for the others
      await until(C, "bob in carol's user list", () =>
        [...document.querySelectorAll('#users li')].some((li) => li.dataset.nick === 'bob'));
    });

    test('the protocol\'s rules (socket.io 4.x client)', async () => {
      const s = await connectClient(app.url, clients);
      assert.deepEqual(await s.ask('chat', 'not joined'), { ok: false, error: 'join a room first' });
      for (const [data, error] of [
        [{ nick: '', room }, /nickname required/],
        [{ nick: '   ', room }, /nickname required/],
        [{ room }, /nickname required/],
        ['alice', /nickname required/],
        [{ nick: 'x'.repeat(33), room }, /nickname too long/],
        [{ nick: 'ok', room: 'r'.repeat(33) }, /room name too long/],
      ]) {
        const res = await s.ask('join', data);
        assert.equal(res.ok, false, JSON.stringify(data));
        assert.match(res.error, error);
      }
      const nick32 = 'é'.repeat(32); // 32 characters (64 bytes in UTF-8)
      const solo = `solo-${lang}-${Date.now()}`;
      const res = await s.ask('join', { nick: `  ${nick32} `, room: ` ${solo} ` });
      assert.deepEqual(res, { ok: true, nick: nick32, room: solo, users: [nick32], history: [] });
      assert.deepEqual(await s.ask('join', { nick: 'x', room: '' }).then((r) => [r.ok, r.room]),
        [true, 'lobby']);
      await s.ask('join', { nick: nick32, room: solo });

      assert.deepEqual(await s.ask('chat', '   '), { ok: false, error: 'empty message' });
      assert.deepEqual(await s.ask('chat', 42), { ok: false, error: 'empty message' });
      const long = await s.ask('chat', 'é'.repeat(2001));
      assert.equal(long.ok, false);
      assert.match(long.error, /message too long/);
      const max = await s.ask('chat', 'é'.repeat(2000));
      assert.equal(max.ok, true);
      assert.equal(typeof max.id, 'number');
      assert.ok(Math.abs(max.ts - Date.now()) < 60000, `ts is epoch ms: ${max.ts}`);

      // history: the last 50, oldest first; others get chat, notice, users, typing
      const ids = [max.id];
      for (let i = 1; i <= 54; i++) ids.push((await s.ask('chat', `m${i}`)).id);
      for (let i = 1; i < ids.length; i++) assert.ok(ids[i] > ids[i - 1], 'ids grow');
      const t = await connectClient(app.url, clients);
      const got = [];
      for (const ev of ['chat', 'notice', 'users', 'typing']) t.on(ev, (d) => got.push([ev, d]));
      const events = [];
      for (const ev of ['chat', 'notice', 'users', 'typing']) s.on(ev, (d) => events.push([ev, d]));
      const late = await t.ask('join', { nick: 'late', room: solo });
      assert.equal(late.ok, true);
      assert.equal(late.history.length, 50);
      assert.deepEqual(late.history.map((m) => m.text), Array.from({ length: 50 }, (_, i) => `m${i + 5}`));
      assert.deepEqual(late.users, [nick32, 'late']);
      const waitUntil = (what, fn) => withTimeout((async () => {
        while (!fn()) await new Promise((r) => setTimeout(r, 20));
      })(), TIMEOUT, `${what}; the joiner got ${JSON.stringify(got)}, the first ${JSON.stringify(events)}`);
      s.emit('typing', true);
      s.emit('chat', 'to late');
      await waitUntil('the chat to the joiner', () => got.some(([e]) => e === 'chat'));
      t.emit('leave');
      await waitUntil('the leave', () => events.filter(([e]) => e === 'users').length >= 2);
      assert.deepEqual(got.find(([e]) => e === 'typing'), ['typing', { nick: nick32, typing: true }]);
      const chat = got.find(([e]) => e === 'chat')[1];
      assert.deepEqual({ ...chat, id: 0, ts: 0 }, { id: 0, nick: nick32, text: 'to late', ts: 0 });
      assert.equal(events.some(([e]) => e === 'chat' || e === 'typing'), false, 'the sender gets no echo');
      const notices = events.filter(([e]) => e === 'notice').map(([, n]) => [n.kind, n.nick]);
      assert.deepEqual(notices, [['join', 'late'], ['leave', 'late']]);
      assert.deepEqual(events.filter(([e]) => e === 'users').map(([, u]) => u),
        [[nick32, 'late'], [nick32]]);
    });

    test('rooms, seen and recovery in the protocol (socket.io 4.x client)', async () => {
      const r = `proto-${lang}-${Date.now()}`;
      const lists = [];
      const s = ioClient(app.url, { transports: ['websocket'], reconnection: false, forceNew: true });
      clients.push(s);
      s.on('rooms', (list) => lists.push(list));
      await withTimeout(new Promise((resolve) => s.once('connect', resolve)), TIMEOUT, 'connect');
      s.ask = (event, ...args) => s.timeout(TIMEOUT).emitWithAck(event, ...args);
      const waitFor = (what, fn) => withTimeout((async () => {
        let v;
        while (!(v = fn())) await new Promise((res) => setTimeout(res, 20));
        return v;
      })(), TIMEOUT, what);
      await waitFor('the rooms list on connecting', () => lists.length >= 1);
      assert.ok(lists[0].every((x) => typeof x.name === 'string' && x.count >= 1));
      assert.equal((await s.ask('join', { nick: 'sam', room: r })).ok, true);
      const count = (list, name) => (list.find((x) => x.name === name) || { count: 0 }).count;
      await waitFor('sam\'s room with 1', () => count(lists[lists.length - 1], r) === 1);
      const t = await connectClient(app.url, clients);
      assert.equal((await t.ask('join', { nick: 'tia', room: r })).ok, true);
      const listed = await s.ask('rooms');
      assert.equal(count(listed, r), 2);
      for (let i = 1; i < listed.length; i++) {
        const [a, b] = [listed[i - 1], listed[i]];
        assert.ok(a.count > b.count || (a.count === b.count && a.name < b.name), 'most members first, then by name');
      }
      await waitFor('the pushed list with 2', () => count(lists[lists.length - 1], r) === 2);

      // seen: tia reads up to sam's second message; both hear it once per message
      const seenS = [], seenT = [];
      s.on('seen', (x) => seenS.push(x));
      t.on('seen', (x) => seenT.push(x));
      const m1 = (await s.ask('chat', 'one')).id;
      const m2 = (await s.ask('chat', 'two')).id;
      assert.deepEqual(await t.ask('seen', { room: r, id: m2 }), { ok: true });
      await waitFor('seen on both', () => seenS.length === 2 && seenT.length === 2);
      assert.deepEqual(seenS, [{ id: m1, by: ['tia'] }, { id: m2, by: ['tia'] }]);
      assert.deepEqual(await t.ask('seen', { room: r, id: m1 }), { ok: true }); // again: nothing new
      assert.deepEqual(await s.ask('seen', { room: r, id: m2 }), { ok: true }); // her own: nothing
      for (const [data, error] of [
        ['x', 'bad seen report'], [null, 'bad seen report'], [{ room: r }, 'bad seen report'],
        [{ room: r, id: String(m1) }, 'bad seen report'], [{ room: r, id: m1 + 0.5 }, 'bad seen report'],
        [{ room: r, id: true }, 'bad seen report'], [{ room: r, id: 2 ** 60 }, 'bad seen report'],
        [{ room: r, id: 1e20 }, 'bad seen report'], [{ room: r, id: [m1] }, 'bad seen report'], [{ room: 7, id: m1 }, 'bad seen report'],
        [{ room: 'elsewhere', id: m1 }, 'not in that room'], [{ room: r, id: 1e12 }, 'unknown message'],
        [{ room: r, id: -1 }, 'unknown message'],
      ]) {
        assert.deepEqual(await t.ask('seen', data), { ok: false, error }, JSON.stringify(data));
      }
      // names are kept once each, and at most 100 a message: one socket under 105 names
      const v = await connectClient(app.url, clients);
      for (let i = 0; i < 105; i++) {
        assert.equal((await v.ask('join', { nick: `v${i}`, room: r })).ok, true);
        assert.deepEqual(await v.ask('seen', { room: r, id: m1 }), { ok: true });
      }
      const late = await v.ask('join', { nick: 'vera', room: r });
      assert.deepEqual(late.history.map((m) => [m.id, m.seen.length]), [[m1, 100], [m2, 1]]);
      assert.deepEqual(late.history[0].seen.slice(0, 3), ['tia', 'v0', 'v1']);
      assert.equal(late.history[1].seen[0], 'tia');
      await waitFor('the seen events', () => seenS.length === 2 + 99);
      assert.deepEqual(seenS[seenS.length - 1].by.length, 100);
      const u = await connectClient(app.url, clients);
      assert.deepEqual(await u.ask('seen', { room: r, id: m1 }), { ok: false, error: 'join a room first' });

      // recovery: tia's transport drops; what sam says meanwhile reaches her once, same socket
      const tr = await connectClient(app.url, clients, { reconnection: true, reconnectionDelay: 1500,
        reconnectionDelayMax: 1500, randomizationFactor: 0 });
      assert.equal((await tr.ask('join', { nick: 'rex', room: r })).ok, true);
      const heard = [];
      tr.on('chat', (m) => heard.push(m.text));
      const sid = tr.id;
      tr.io.engine.close();
      await waitFor('rex to drop', () => !tr.connected);
      await waitFor('rex out of the room', () => count(lists[lists.length - 1], r) === 3);
      await s.ask('chat', 'while rex was away');
      await withTimeout(new Promise((resolve) => tr.once('connect', resolve)), TIMEOUT, 'rex back');
      assert.equal(tr.recovered, true);
      assert.equal(tr.id, sid);
      await waitFor('the missed message', () => heard.length >= 1);
      assert.equal((await tr.ask('join', { nick: 'rex', room: r })).ok, true);
      await s.ask('chat', 'after');
      await waitFor('the next message', () => heard.length >= 2);
      assert.deepEqual(heard, ['while rex was away', 'after']);
      // dropping again, then joining another room: the recovered socket keeps no ear in the old one
      tr.io.engine.close();
      await waitFor('rex to drop again', () => !tr.connected);
      await withTimeout(new Promise((resolve) => tr.once('connect', resolve)), TIMEOUT, 'rex back again');
      assert.equal(tr.recovered, true);
      const r2 = `${r}-2`;
      assert.equal((await tr.ask('join', { nick: 'rex', room: r2 })).ok, true);
      await s.ask('chat', 'not for rex');
      await t.ask('rooms'); // (a round trip after it)
      await new Promise((res) => setTimeout(res, 200));
      assert.deepEqual(heard, ['while rex was away', 'after']);
      for (const c of [s, t, v, u, tr]) c.close();
      await waitFor('the room gone from the list', () => count(lists[lists.length - 1], r) === 0 || true);
      const after = await connectClient(app.url, clients);
      await withTimeout((async () => {
        while (count(await after.ask('rooms'), r) !== 0) await new Promise((res) => setTimeout(res, 50));
      })(), TIMEOUT, 'the room forgotten');
    });

    test('no errors in the pages', () => {
      assert.deepEqual(errors, []);
    });

    // (last: while the server is down the browser logs failed connections)
    test('after a server restart the pages join their room again', async () => {
      const { port } = app;
      await app.stop();
      await until(B, 'bob to see the connection drop', () =>
        document.getElementById('chat-status').dataset.state === 'disconnected');
      app = await startApp('chat', lang, ['--port', String(port)]);
      // (a new server knows nothing of the old sessions: not recovered, joined again)
      await until(B, "bob's page to join again", () =>
        [...document.querySelectorAll('#messages li[data-notice="self"]')]
          .some((li) => li.textContent === 'Reconnected' + li.querySelector('time').textContent &&
            li.dataset.recovered === 'false') &&
        document.getElementById('chat-status').dataset.state === 'connected');
      await until(B, 'the others back in the user list', () =>
        [...document.querySelectorAll('#users li')].map((li) => li.dataset.nick).sort().join() ===
        'bob,carol,pat');
      await B.fill('#input', 'still here');
      await B.click('#send');
      await until(C, "bob's message after the restart on carol's page", () =>
        [...document.querySelectorAll('#messages li[data-nick="bob"] .text')]
          .some((e) => e.textContent === 'still here'));
      // (the new server counts ids from 1: nothing of the old server's "seen by" sticks to it)
      await until(B, '"still here" seen by carol and pat only', () => {
        const li = [...document.querySelectorAll('#messages li.own')].pop();
        return li.querySelector('.text').textContent === 'still here' &&
          li.querySelector('.seen').dataset.by.split(',').sort().join() === 'carol,pat';
      });
    });
  });
}
