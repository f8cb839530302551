// Starts the server under test for the JS integration tests.
//
// The command comes from env SIO_SERVER (split on spaces); the default is the
// C build of the contract server, `examples/contract/run c`. A relative program
// path is resolved from the repository root, and the server runs with the
// repository root as its working directory. `--port 0` is always added, then
// the caller's extra arguments.
//
// startServer(args, {command}) takes the command from `command` instead of SIO_SERVER when given
// (the cluster tests start C and Node nodes side by side); {env} adds to the server's environment.
//
// startServer(args) resolves once the server printed
// `listening on http://HOST:PORT` (or https://, with --tls-cert: url says which; 10 s at most) to {port, url, stop()};
// stop() sends SIGTERM and waits for the process to exit (SIGKILL after 5 s).
// The process's stderr is kept (last 20 kB, `server.stderr`) and also shown
// live when env SIO_SERVER_STDERR is set.

import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

const DEFAULT_COMMAND = 'examples/contract/run c';
const START_TIMEOUT_MS = 10000;
const STOP_TIMEOUT_MS = 5000;

const running = new Set();

// Last resort if a test file dies without stopping its servers: do not leave
// server processes behind.
process.on('exit', () => {
  for (const child of running) {
    try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ }
  }
});

function serverCommand(command) {
  const words = (command || process.env.SIO_SERVER || DEFAULT_COMMAND).split(' ').filter((w) => w !== '');
  if (words.length === 0) throw new Error('SIO_SERVER is empty');
  const [program, ...rest] = words;
  const resolved = program.includes('/') ? path.resolve(REPO_ROOT, program) : program;
  return [resolved, rest];
}

export async function startServer(args = [], { command, env } = {}) {
  const [program, baseArgs] = serverCommand(command);
  const argv = [...baseArgs, '--port', '0', ...args];
  // A process group of its own, so that stop() reaches a wrapper script's children too.
  const child = spawn(program, argv, {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    ...(env ? { env: { ...process.env, ...env } } : {}),
  });
  running.add(child);

  let exitStatus = null;
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      exitStatus = { code, signal };
      resolve(exitStatus);
    });
  });

  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => {
    stderr += d;
    if (stderr.length > 20000) stderr = stderr.slice(-20000);
    if (process.env.SIO_SERVER_STDERR) process.stderr.write(d);
  });

  const listening = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      fail(new Error(`server did not print its listening line within ${START_TIMEOUT_MS} ms`));
    }, START_TIMEOUT_MS);
    function cleanup() {
      clearTimeout(timer);
      child.stdout.off('data', onData);
      child.off('error', onError);
      child.off('exit', onExit);
    }
    function fail(err) {
      cleanup();
      try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
      err.message += `\ncommand: ${program} ${argv.join(' ')}\nstdout: ${out}\nstderr: ${stderr}`;
      reject(err);
    }
    function onData(d) {
      out += d;
      const m = /listening on ((https?):\/\/([^\s:/]+):(\d+))\s*\n/.exec(out);
      if (m) {
        cleanup();
        // keep draining stdout so that the server never blocks on a full pipe
        child.stdout.resume();
        resolve({ scheme: m[2], host: m[3], port: Number(m[4]) });
      }
    }
    function onError(err) { fail(err); }
    function onExit(code, signal) {
      fail(new Error(`server exited before listening (code ${code}, signal ${signal})`));
    }
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', onData);
    child.once('error', onError);
    child.once('exit', onExit);
  });

  let stopping = null;
  async function stop() {
    if (stopping) return stopping;
    stopping = (async () => {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      try { process.kill(-child.pid, 'SIGTERM'); } catch { /* gone */ }
      let timer;
      const killed = new Promise((resolve) => {
        timer = setTimeout(() => {
          try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
          resolve();
        }, STOP_TIMEOUT_MS);
      });
      await Promise.race([exited, killed]);
      clearTimeout(timer);
      return exited;
    })();
    return stopping;
  }

  const port = listening.port;
  return {
    port,
    pid: child.pid, // the server's own (wrappers exec it)
    url: `${listening.scheme}://127.0.0.1:${port}`,
    stop,
    // how the process ended; resolves once it exited
    exited,
    // null while the process runs, then {code, signal}
    get exitStatus() { return exitStatus; },
    get stderr() { return stderr; },
  };
}
