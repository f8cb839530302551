// scripts/demo as a new user meets it: its output is one short line per step (what apt, npm and
// the build print goes to the log it names), then a banner once the server listens, with the page's
// address, a second player's link (draw: `?new`), how to add the bot, the Admin UI's address; the
// addresses it prints answer, and SIGTERM (Ctrl-C) stops it and its server. Against the Python and
// the Lua servers (env SIO_E2E_LANGS picks). The builds are made before (scripts/test.sh), so here
// the steps find them up to date.
//
//   cd tests/e2e && node --test demo.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LANGS } from './lib.mjs';
import { REPO_ROOT } from '../js/server.mjs';

const START_MS = 120000; // a build may still be needed when run alone
const STOP_MS = 5000;

// Runs scripts/demo with args; resolves once its banner ended (the "Ctrl-C stops" line) to
// {lines (stdout so far), stop() -> {code, signal}, logDir}, or rejects with what it printed.
function startDemo(args) {
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sio-demo-test-'));
  const child = spawn(path.join(REPO_ROOT, 'scripts', 'demo'), args, {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // a group of its own: a failing test still stops the server below it
    env: { ...process.env, SIO_TEST_LOGS: logDir },
  });
  // 'close': the process exited and its stdio closed (the banner's reader, which shares them, too)
  const exited = new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  let out = '';
  let err = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => { err += d; });
  child.stdout.setEncoding('utf8');
  const killGroup = () => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } };
  process.once('exit', killGroup);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { killGroup(); reject(new Error(`no banner in ${START_MS} ms:\n${out}\n${err}`)); }, START_MS);
    exited.then((st) => {
      clearTimeout(timer);
      fs.rmSync(logDir, { recursive: true, force: true });
      reject(new Error(`scripts/demo exited (${JSON.stringify(st)}):\n${out}\n${err}`));
    });
    child.stdout.on('data', (d) => {
      out += d;
      if (!/Ctrl-C stops the server\n/.test(out)) return;
      clearTimeout(timer);
      resolve({
        lines: out.split('\n'),
        stderr: () => err,
        logDir,
        async stop() {
          child.kill('SIGTERM'); // the script's own pid: it stops the server it started
          const t = setTimeout(killGroup, STOP_MS);
          const st = await exited;
          clearTimeout(t);
          process.removeListener('exit', killGroup);
          return st;
        },
      });
    });
  });
}

async function get(url) {
  const res = await fetch(url);
  return { status: res.status, text: await res.text() };
}

// The progress lines before the banner: "demo: <step> ... ok (N s)" and the start/ready lines,
// nothing else (no ninja, cmake, npm or SWIG output), each short.
function checkQuiet(lines, lang) {
  const pre = lines.slice(0, lines.indexOf(''));
  assert.ok(pre.length >= 3 && pre.length <= 6, `a handful of progress lines:\n${pre.join('\n')}`);
  for (const line of pre) {
    assert.match(line, /^demo: (.+ \.\.\. ok \(.*\d s\)|starting the \w+ example \((python|lua) server\)|ready in \d+\.\d s)$/, line);
    assert.ok(line.length <= 80, `short: ${line}`);
  }
  assert.ok(pre.some((l) => l.startsWith('demo: packages')), 'the packages step');
  assert.ok(pre.some((l) => l.startsWith(lang === 'lua' ? 'demo: building siod' : 'demo: building the Python extension')));
  assert.doesNotMatch(pre.join('\n'), /warning|\[\d+\/\d+\]|npm (WARN|notice)/i);
}

for (const lang of LANGS) {
  test(`scripts/demo draw ${lang}: quiet steps, the banner's addresses answer, SIGTERM stops it`, { timeout: START_MS + 30000 }, async () => {
    const demo = await startDemo(['draw', lang, '--port', '0']);
    let stopped = false;
    try {
      const { lines } = demo;
      checkQuiet(lines, lang);
      const text = lines.join('\n');
      const open = text.match(/^ {2}open (http:\/\/127\.0\.0\.1:(\d+))\/ and join a room with a name$/m);
      assert.ok(open, `the open line:\n${text}`);
      const [, base, port] = open;
      assert.notEqual(port, '0');
      // two players in one browser: the ?new link, and a private window / another profile
      assert.match(text, new RegExp(`^ {2}a second player in the same browser: ${base}/\\?new$`, 'm'));
      assert.match(text, /^ {4}\(in another tab or window: a new player; a private window or another browser profile$/m);
      assert.doesNotMatch(text, /two browser windows/);
      // the bot, against this server's address: bot.lua on the siod the demo built, bot.py on the
      // Python package it built
      assert.match(text, /^ {2}play against the bot \(ROOM: the room you joined; then start the game\):$/m);
      if (lang === 'lua') {
        assert.match(text, new RegExp(`^ {4}build/siod examples/draw/bot\\.lua ${base} ROOM$`, 'm'));
      } else {
        const bot = text.match(new RegExp(`^ {4}PYTHONPATH=(build-python/py3\\.\\d+/bindings/python) python3 examples/draw/bot\\.py ${base} ROOM$`, 'm'));
        assert.ok(bot, text);
        assert.ok(fs.existsSync(path.join(REPO_ROOT, bot[1], 'sio', '__init__.py')), `${bot[1]} holds the sio package`);
      }
      // the Admin UI, on by default on 127.0.0.1
      assert.match(text, new RegExp(`^ {2}Admin UI: ${base}/admin/ \\(server URL ${base}, no login\\)$`, 'm'));
      // the log it names holds what the steps printed
      const logLine = text.match(/^ {2}build and install log: (\S+);/m);
      assert.ok(logLine, 'the log line');
      assert.equal(logLine[1], path.join(demo.logDir, 'demo.log'));
      assert.ok(fs.statSync(logLine[1]).isFile());
      // the addresses answer
      const page = await get(`${base}/`);
      assert.equal(page.status, 200);
      assert.match(page.text, /<canvas/i);
      assert.equal((await get(`${base}/?new`)).status, 200);
      const admin = await get(`${base}/admin/`);
      assert.equal(admin.status, 200);
      assert.match(admin.text, /<html/i);
      const st = await demo.stop();
      stopped = true;
      assert.deepEqual(st, { code: 0, signal: null }, demo.stderr());
      await assert.rejects(fetch(`${base}/`), 'the server stopped with the script');
    } finally {
      if (!stopped) await demo.stop();
      fs.rmSync(demo.logDir, { recursive: true, force: true });
    }
  });
}

test('scripts/demo chat: another tab with another nickname, no ?new link', { timeout: START_MS + 30000 }, async () => {
  const lang = LANGS[0];
  const demo = await startDemo(['chat', lang, '--port', '0']);
  try {
    checkQuiet(demo.lines, lang);
    const text = demo.lines.join('\n');
    const open = text.match(/^ {2}open (http:\/\/127\.0\.0\.1:\d+)\/ and join a room with a nickname$/m);
    assert.ok(open, text);
    assert.match(text, /^ {2}a second person: the same address in another tab, with another nickname$/m);
    assert.doesNotMatch(text, /\?new|bot/);
    assert.match(text, /Admin UI: http:\/\/127\.0\.0\.1:\d+\/admin\//);
    assert.equal((await get(`${open[1]}/`)).status, 200);
  } finally {
    assert.deepEqual(await demo.stop(), { code: 0, signal: null });
    fs.rmSync(demo.logDir, { recursive: true, force: true });
  }
});

test('scripts/demo: a server that cannot start is reported, with a non-zero status', { timeout: START_MS }, async () => {
  await assert.rejects(startDemo(['draw', LANGS[0], '--port', '0', '--no-such-flag']),
    /scripts\/demo exited \(\{"code":[1-9]\d*,"signal":null\}\)[\s\S]*demo: the server stopped before it listened/);
});
