// Proves the scenario suite: starts reference_server.mjs (the Node implementation of SPEC.md) on a
// free port, runs api.test.mjs in the three transport modes (polling, websocket, upgrade), then
// the python-socketio scenario client in the same three modes, and stops the server.
//
// usage: node tests/js/scenarios/run_against_reference.mjs [--url http://127.0.0.1:PORT]
//            [--modes polling,websocket,upgrade] [--no-python]
//
// --url runs against a server that is already running (e.g. the Rust scenario server) instead
// of starting the reference one. The Python client runs when the venv exists (TSIO_PYTHON, else
// .venv/bin/python at the repository root). Exit code 0 when every run passed.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const HERE = dirname(fileURLToPath(import.meta.url));
const JS_DIR = resolve(HERE, '..');
const ROOT = resolve(JS_DIR, '..', '..');
const SERVER_START_MS = 10_000;
const SUITE_MS = 120_000;
const PYTHON_MS = 60_000;

const { values: opts } = parseArgs({
  options: {
    url: { type: 'string' },
    modes: { type: 'string', default: 'polling,websocket,upgrade' },
    'no-python': { type: 'boolean', default: false },
  },
  strict: true,
});
const modes = opts.modes.split(',').filter(Boolean);
for (const mode of modes) {
  if (!['polling', 'websocket', 'upgrade'].includes(mode)) {
    console.error(`unknown mode ${mode}`);
    process.exit(2);
  }
}

/** Runs a command with output passed through; resolves with its exit code (killed after `ms`). */
function run(cmd, args, env, ms) {
  return new Promise((resolveRun) => {
    const child = spawn(cmd, args, { cwd: JS_DIR, env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit'] });
    const timer = setTimeout(() => {
      console.error(`${cmd} ${args.join(' ')}: killed after ${ms} ms`);
      child.kill('SIGKILL');
    }, ms);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolveRun(code ?? (signal ? 128 : 1));
    });
  });
}

/** Starts the reference server; resolves with `{ child, url }` once it printed its port. */
function startReference() {
  return new Promise((resolveStart, reject) => {
    const child = spawn(process.execPath, [join(HERE, 'reference_server.mjs')], {
      cwd: JS_DIR,
      env: { ...process.env, PORT: '0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the reference server did not print its port within ${SERVER_START_MS} ms`));
    }, SERVER_START_MS);
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const match = /^listening (\d+)$/m.exec(out);
      if (match) {
        clearTimeout(timer);
        resolveStart({ child, url: `http://127.0.0.1:${match[1]}` });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the reference server exited early with code ${code}`));
    });
  });
}

/** `# pass N` / `# fail N` from a TAP report. */
function counts(tapFile) {
  const text = existsSync(tapFile) ? readFileSync(tapFile, 'utf8') : '';
  const get = (key) => Number(new RegExp(`^# ${key} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { pass: get('pass'), fail: get('fail'), tests: get('tests') };
}

const python = process.env.TSIO_PYTHON || join(ROOT, '.venv', 'bin', 'python');
const withPython = !opts['no-python'] && existsSync(python);
const tmp = mkdtempSync(join(tmpdir(), 'tsio-scenarios-'));
let server;
const results = [];
try {
  let url = opts.url;
  if (!url) {
    server = await startReference();
    url = server.url;
    console.log(`reference server at ${url}`);
  }
  for (const mode of modes) {
    const tap = join(tmp, `${mode}.tap`);
    const code = await run(
      process.execPath,
      [
        '--test',
        '--test-reporter=spec',
        '--test-reporter-destination=stdout',
        '--test-reporter=tap',
        `--test-reporter-destination=${tap}`,
        join(HERE, 'api.test.mjs'),
      ],
      { TSIO_URL: url, TSIO_TRANSPORTS: mode },
      SUITE_MS,
    );
    const c = counts(tap);
    results.push({ what: `api.test.mjs ${mode}`, ok: code === 0 && c.fail === 0 && c.pass > 0, detail: `${c.pass}/${c.tests} passed` });
  }
  if (withPython) {
    const pyModes = { polling: 'polling', websocket: 'websocket', upgrade: 'polling,websocket' };
    for (const mode of modes) {
      const code = await run(
        python,
        [join(ROOT, 'tests', 'python', 'scenario_client.py'), url, '--transports', pyModes[mode]],
        { PYTHONUNBUFFERED: '1' },
        PYTHON_MS,
      );
      results.push({ what: `scenario_client.py ${mode}`, ok: code === 0, detail: `exit code ${code}` });
    }
  } else {
    console.log(`python-socketio client skipped (${opts['no-python'] ? '--no-python' : `no ${python}`})`);
  }
} finally {
  server?.child.kill('SIGTERM');
  rmSync(tmp, { recursive: true, force: true });
}

console.log('\nsummary:');
for (const r of results) {
  console.log(`  ${r.ok ? 'ok  ' : 'FAIL'} ${r.what}: ${r.detail}`);
}
const failed = results.filter((r) => !r.ok).length;
console.log(failed === 0 ? `all ${results.length} runs passed` : `${failed} of ${results.length} runs failed`);
process.exit(failed === 0 ? 0 : 1);
