// Small shared helpers for the WebSocket test scripts (no test framework).
import { spawn } from 'node:child_process';

// Parse --name value / --name=value / --flag into an object. Every option can
// also come from the environment as HOLDFAST_<NAME> (dashes -> underscores).
export function parseArgs(spec, argv = process.argv.slice(2)) {
  const out = {};
  for (const [name, def] of Object.entries(spec)) {
    const env = process.env['HOLDFAST_' + name.toUpperCase().replace(/-/g, '_')];
    out[name] = env !== undefined ? env : def.default;
  }
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    if (a === '--help' || a === '-h') {
      usage(spec);
      process.exit(0);
    }
    if (!a.startsWith('--')) fail(`unexpected argument: ${a}`);
    a = a.slice(2);
    let val;
    const eq = a.indexOf('=');
    if (eq >= 0) { val = a.slice(eq + 1); a = a.slice(0, eq); }
    if (!(a in spec)) { usage(spec); fail(`unknown option --${a}`); }
    if (spec[a].flag) { out[a] = val === undefined ? true : val !== 'false' && val !== '0'; continue; }
    if (val === undefined) {
      if (i + 1 >= argv.length) fail(`--${a} needs a value`);
      val = argv[++i];
    }
    out[a] = val;
  }
  for (const [name, def] of Object.entries(spec)) {
    if (def.required && (out[name] === undefined || out[name] === '')) {
      usage(spec);
      fail(`missing --${name} (or HOLDFAST_${name.toUpperCase().replace(/-/g, '_')})`);
    }
  }
  return out;
}

function usage(spec) {
  const lines = Object.entries(spec).map(([n, d]) =>
    `  --${n}${d.flag ? '' : ' VALUE'}${d.required ? ' (required)' : ''}${d.default !== undefined ? ` [${d.default}]` : ''}\n      ${d.help || ''}`);
  process.stderr.write(`options (also env HOLDFAST_<NAME>):\n${lines.join('\n')}\n`);
}

export function fail(msg) {
  process.stderr.write(`FAIL: ${msg}\n`);
  process.exit(1);
}

// Reject after ms with a message saying what we were waiting for.
export function withTimeout(promise, ms, what) {
  let t;
  const timeout = new Promise((_, rej) => {
    t = setTimeout(() => rej(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(t));
}

// Wait for an event on an emitter (first argument list), bounded.
export function once(emitter, event, ms, what) {
  return withTimeout(new Promise((resolve, reject) => {
    const onEv = (...args) => { cleanup(); resolve(args); };
    const onErr = (err) => { cleanup(); reject(err); };
    const cleanup = () => { emitter.off(event, onEv); if (event !== 'error') emitter.off('error', onErr); };
    emitter.on(event, onEv);
    if (event !== 'error') emitter.on('error', onErr);
  }), ms, what || `'${event}'`);
}

// Run a command; resolve {code, stdout, stderr}. Killed after ms.
export function run(cmd, args, ms = 15000) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    const t = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`${cmd} ${args.join(' ')}: no exit after ${ms} ms`)); }, ms);
    p.on('error', (e) => { clearTimeout(t); reject(new Error(`cannot run ${cmd}: ${e.message}`)); });
    p.on('close', (code) => { clearTimeout(t); resolve({ code, stdout, stderr }); });
  });
}

export function uniq(prefix) {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

// Tiny result collector that prints a closing "N passed, N failed" line.
export class Results {
  constructor() { this.passed = 0; this.failed = 0; this.skipped = 0; }
  ok(name, extra) { this.passed++; console.log(`ok   ${name}${extra ? ` — ${extra}` : ''}`); }
  bad(name, err) {
    this.failed++;
    console.log(`FAIL ${name} — ${err && err.message ? err.message : err}`);
  }
  skip(name, why) { this.skipped++; console.log(`skip ${name} — ${why}`); }
  async check(name, fn) {
    try {
      const extra = await fn();
      this.ok(name, typeof extra === 'string' ? extra : undefined);
    } catch (e) {
      this.bad(name, e);
    }
  }
  finish() {
    console.log(`${this.passed} passed, ${this.failed} failed${this.skipped ? `, ${this.skipped} skipped` : ''}`);
    process.exit(this.failed ? 1 : 0);
  }
}
