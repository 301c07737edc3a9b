#!/usr/bin/env node
// Misbehaving WebSocket clients, written with raw `net` sockets (no library),
// against a broker's ws:// listener. For each case the script records what the
// server does (HTTP status, WebSocket close code, whether the socket closes
// within --close-timeout) and then checks that MQTT.js clients on the same
// listener still work: a bystander connected since the start and a fresh one.
//
//   node tests/ws/abuse.mjs --ws-url ws://127.0.0.1:8080/ --expect holdfast
//   node tests/ws/abuse.mjs --ws-url ws://127.0.0.1:18831/ --expect mosquitto
//   node tests/ws/abuse.mjs --ws-url ... --expect report      # record only
//
// Expectations are per case, as '|'-separated outcomes:
//   http:4xx  http:404 ...   an HTTP response with that status (x = any digit)
//   ws:1002 ... / ws:any     a WebSocket close frame with that code
//   close                    TCP closed without a close frame / HTTP response
//   open                     nothing happened within --close-timeout
//   any                      anything
// and with --require-close (default on for the holdfast profile) the socket
// must also be closed by the server within --close-timeout.
// --override 'case=tokens;case=tokens' replaces single cases.
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import { parseArgs, fail, withTimeout, uniq, Results } from './lib.mjs';

const args = parseArgs({
  'ws-url': { required: true, help: 'ws:// URL of the listener, e.g. ws://127.0.0.1:8080/' },
  expect: { default: 'holdfast', help: 'expectation profile: holdfast | mosquitto | report' },
  override: { help: "per-case expectations, e.g. 'no-subprotocol=http:4xx;text-frame=close'" },
  'require-close': { help: 'true/false: server must close the socket within --close-timeout (default: from profile)' },
  'close-timeout': { default: '5000', help: 'ms the server has to react to each abuse case' },
  'get-path': { default: '/holdfast-no-such-file.txt', help: 'path for the plain GET (not served by any http_dir)' },
  only: { help: 'comma-separated case names to run (default: all)' },
  timeout: { default: '10000', help: 'timeout in ms for the MQTT.js health checks' },
});

const CLOSE_MS = Number(args['close-timeout']);
const T = Number(args.timeout);
const wsUrl = new URL(args['ws-url']);
if (wsUrl.protocol !== 'ws:') fail('--ws-url must be ws:// (raw sockets, no TLS)');
const HOST = wsUrl.hostname;
const PORT = Number(wsUrl.port || 80);
const PATH = wsUrl.pathname + wsUrl.search;

const FRAME_ERR = 'ws:1002|ws:1003|ws:1007|ws:1008|ws:1009|close';
const PROFILES = {
  // Final expectations for Holdfast.
  holdfast: {
    requireClose: true,
    cases: {
      'get-no-upgrade': 'http:4xx',
      'no-subprotocol': 'http:4xx',
      'wrong-subprotocol': 'http:4xx',
      'wrong-version': 'http:4xx',
      'text-frame': FRAME_ERR,
      'huge-length': FRAME_ERR,
      'fragment-flood': FRAME_ERR,
      garbage: FRAME_ERR,
      'abrupt-close': 'any',
    },
  },
  // What Debian's mosquitto 2.0.11 (libwebsockets 4.1) was seen to do.
  mosquitto: {
    requireClose: false,
    cases: {
      'get-no-upgrade': 'http:404',
      'no-subprotocol': 'http:101-open',
      'wrong-subprotocol': 'close',
      'wrong-version': 'http:101-open',
      'text-frame': 'close',
      'huge-length': 'close',
      'fragment-flood': 'open',
      garbage: 'ws:1002',
      'abrupt-close': 'any',
    },
  },
  report: { requireClose: false, cases: {} },
};

const profile = PROFILES[args.expect];
if (!profile) fail(`unknown --expect ${args.expect} (holdfast | mosquitto | report)`);
const expectations = { ...profile.cases };
if (args.override) {
  for (const part of String(args.override).split(';').filter(Boolean)) {
    const [k, v] = part.split('=');
    if (!k || !v) fail(`bad --override part ${part}`);
    expectations[k.trim()] = v.trim();
  }
}
const requireClose = args['require-close'] !== undefined
  ? !['false', '0', 'no'].includes(String(args['require-close'])) : profile.requireClose;

// ---------- raw WebSocket plumbing ----------

function upgradeRequest({ protocol = 'mqtt', version = '13', extra = '' } = {}) {
  const key = randomBytes(16).toString('base64');
  return `GET ${PATH} HTTP/1.1\r\nHost: ${HOST}:${PORT}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: ${version}\r\n` +
    (protocol !== null ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : '') + extra + '\r\n';
}

// A client frame (always masked, as RFC 6455 requires of clients).
function frame(opcode, payload, { fin = true, announce } = {}) {
  const len = announce !== undefined ? announce : payload.length;
  let head;
  if (len < 126) {
    head = Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | len]);
  } else if (len < 65536) {
    head = Buffer.alloc(4);
    head[0] = (fin ? 0x80 : 0) | opcode; head[1] = 0x80 | 126; head.writeUInt16BE(len, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = (fin ? 0x80 : 0) | opcode; head[1] = 0x80 | 127; head.writeBigUInt64BE(BigInt(len), 2);
  }
  const mask = randomBytes(4);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] ^= mask[i & 3];
  return Buffer.concat([head, mask, body]);
}

// Open a raw connection and watch it. Returns an object with
// send(), upgraded (promise of the HTTP response), and result() which
// resolves with what the server did within CLOSE_MS of the last action.
function rawConn() {
  const sock = net.connect({ host: HOST, port: PORT });
  sock.setNoDelay(true);
  const st = {
    http: null, httpHead: '', wsClose: null, closed: false, closedAt: 0, error: null,
    buf: Buffer.alloc(0), framesIn: [], lastSendAt: Date.now(), selfReset: false,
  };
  let resolveHttp;
  const httpDone = new Promise((r) => { resolveHttp = r; });
  let closeWaiters = [];
  sock.on('data', (d) => {
    st.buf = Buffer.concat([st.buf, d]);
    if (st.http === null) {
      const i = st.buf.indexOf('\r\n\r\n');
      if (i < 0) return;
      st.httpHead = st.buf.subarray(0, i).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(st.httpHead);
      st.http = m ? Number(m[1]) : -1;
      st.buf = st.buf.subarray(i + 4);
      resolveHttp(st.http);
      if (st.http !== 101) return; // the rest is the HTTP body
    }
    if (st.http === 101) parseFrames();
  });
  function parseFrames() {
    for (;;) {
      const b = st.buf;
      if (b.length < 2) return;
      const op = b[0] & 0x0f;
      let len = b[1] & 0x7f;
      let off = 2;
      if (len === 126) { if (b.length < 4) return; len = b.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (b.length < 10) return; len = Number(b.readBigUInt64BE(2)); off = 10; }
      if (b[1] & 0x80) off += 4; // servers must not mask, tolerate anyway
      if (b.length < off + len) return;
      const payload = b.subarray(off, off + len);
      st.buf = b.subarray(off + len);
      st.framesIn.push(op);
      if (op === 0x8 && st.wsClose === null) {
        st.wsClose = payload.length >= 2 ? payload.readUInt16BE(0) : 'none';
        st.wsReason = payload.subarray(2).toString('utf8');
        // complete the closing handshake like a real client would
        try { sock.write(frame(0x8, payload.subarray(0, 2))); sock.end(); } catch { /* ignore */ }
        closeWaiters.forEach((w) => w());
      }
    }
  }
  const onClosed = () => {
    if (!st.closed) { st.closed = true; st.closedAt = Date.now(); }
    resolveHttp(st.http);
    closeWaiters.forEach((w) => w());
  };
  sock.on('error', (e) => { st.error = e.code || e.message; });
  sock.on('close', onClosed);
  const connected = withTimeout(new Promise((res, rej) => {
    sock.once('connect', res);
    sock.once('error', rej);
  }), T, `TCP connect to ${HOST}:${PORT}`);

  return {
    sock, st, connected,
    send(data) {
      return new Promise((res) => {
        if (sock.destroyed || sock.writableEnded) { res(false); return; }
        st.lastSendAt = Date.now();
        sock.write(data, (err) => res(!err));
      });
    },
    httpResponse(ms = CLOSE_MS) {
      return withTimeout(httpDone, ms, 'the HTTP response').catch(() => null);
    },
    // Wait until the server closes (or sends a close frame) or ms pass.
    async result(ms = CLOSE_MS) {
      if (!st.closed) {
        await new Promise((res) => {
          const t = setTimeout(res, ms);
          closeWaiters.push(() => {
            // after a close frame, give the TCP close a moment (bounded)
            if (st.closed) { clearTimeout(t); res(); }
            else if (st.wsClose !== null) { clearTimeout(t); setTimeout(res, Math.min(1000, ms)).unref(); }
          });
        });
      }
      closeWaiters = [];
      const out = {
        http: st.http, wsClose: st.wsClose, closed: st.closed,
        ms: st.closed ? Math.max(0, st.closedAt - st.lastSendAt) : null, error: st.error,
        selfReset: st.selfReset,
        head: st.httpHead.split('\r\n')[0],
      };
      sock.destroy();
      return out;
    },
  };
}

function describe(o) {
  const parts = [];
  if (o.http !== null && o.http !== undefined) parts.push(`HTTP ${o.http === -1 ? '(unparsable)' : o.http}`);
  if (o.wsClose !== null && o.wsClose !== undefined) parts.push(`WS close ${o.wsClose}`);
  if (o.selfReset) parts.push('client reset the connection mid-frame');
  else if (o.closed) parts.push(`socket closed after ${o.ms} ms${o.error ? ` (${o.error})` : ''}`);
  else parts.push(`socket still open after ${CLOSE_MS} ms`);
  // (times are from our last write)
  return parts.join(', ');
}

function matches(o, tokens) {
  return tokens.split('|').some((tok) => {
    tok = tok.trim();
    if (tok === 'any') return true;
    if (tok === 'open') return !o.closed && o.wsClose === null && (o.http === null || o.http === 101);
    if (tok === 'close') return o.closed && o.wsClose === null && (o.http === null || o.http === 101);
    if (tok === 'http:101-open') return o.http === 101 && !o.closed && o.wsClose === null;
    if (tok.startsWith('http:')) {
      const pat = tok.slice(5);
      return o.http !== null && o.http !== 101 &&
        new RegExp(`^${pat.replace(/x/g, '\\d')}$`).test(String(o.http));
    }
    if (tok.startsWith('ws:')) {
      const code = tok.slice(3);
      return o.wsClose !== null && (code === 'any' || String(o.wsClose) === code);
    }
    throw new Error(`unknown expectation token ${tok}`);
  });
}

async function upgradeOk(c) {
  await c.connected;
  await c.send(upgradeRequest());
  const status = await c.httpResponse(T);
  if (status !== 101) throw new Error(`valid upgrade got HTTP ${status} (${c.st.httpHead.split('\r\n')[0]})`);
}

// ---------- the cases ----------

const CASES = {
  'get-no-upgrade': async (c) => {
    await c.connected;
    await c.send(`GET ${args['get-path']} HTTP/1.1\r\nHost: ${HOST}:${PORT}\r\nConnection: close\r\n\r\n`);
    await c.httpResponse();
  },
  'no-subprotocol': async (c) => {
    await c.connected;
    await c.send(upgradeRequest({ protocol: null }));
    await c.httpResponse();
  },
  'wrong-subprotocol': async (c) => {
    await c.connected;
    await c.send(upgradeRequest({ protocol: 'foo' }));
    await c.httpResponse();
  },
  'wrong-version': async (c) => {
    await c.connected;
    await c.send(upgradeRequest({ version: '8' }));
    await c.httpResponse();
  },
  'text-frame': async (c) => {
    await upgradeOk(c);
    await c.send(frame(0x1, Buffer.from('hello, I am text')));
  },
  'huge-length': async (c) => {
    await upgradeOk(c);
    // binary frame announcing 2^40 bytes, followed by a few bytes of it
    await c.send(Buffer.concat([frame(0x2, Buffer.alloc(0), { announce: 2 ** 40 }), Buffer.alloc(64, 0x10)]));
  },
  'fragment-flood': async (c) => {
    await upgradeOk(c);
    // Start an MQTT CONNECT whose remaining length (200000) is never reached,
    // so only the fragment handling is exercised, then 100000 one-byte
    // continuation frames, none of them final.
    const parts = [frame(0x2, Buffer.from([0x10, 0xc0, 0x9a, 0x0c]), { fin: false })];
    const one = Buffer.from([0]);
    for (let i = 0; i < 100000; i++) parts.push(frame(0x0, one, { fin: false }));
    await c.send(Buffer.concat(parts));
  },
  garbage: async (c) => {
    await upgradeOk(c);
    // fixed pseudo-random bytes (reproducible), first byte 0xff: FIN+RSV1-3, opcode 0xf
    const g = Buffer.alloc(512);
    let x = 0x2545f491;
    for (let i = 0; i < g.length; i++) { x = (x * 1103515245 + 12345) >>> 0; g[i] = x >>> 24; }
    g[0] = 0xff;
    await c.send(g);
  },
  'abrupt-close': async (c) => {
    await upgradeOk(c);
    // a binary frame announcing 1000 bytes (an MQTT CONNECT), then we vanish
    const head = frame(0x2, Buffer.alloc(0), { announce: 1000 });
    await c.send(Buffer.concat([head, Buffer.from([0x10, 0xe6, 0x07, 0x00, 0x04, 0x4d, 0x51])]));
    c.st.selfReset = true;
    c.sock.resetAndDestroy();
  },
};

// ---------- health checks ----------

async function mqttClient(id) {
  const c = mqtt.connect(wsUrl.href, { clientId: id, reconnectPeriod: 0, connectTimeout: T, protocolVersion: 4 });
  await withTimeout(new Promise((res, rej) => {
    c.once('connect', res);
    c.once('error', rej);
    c.once('close', () => rej(new Error('closed before CONNACK')));
  }), T, `MQTT.js CONNACK (${id})`);
  c.removeAllListeners('error');
  c.removeAllListeners('close');
  c.on('error', () => {});
  return c;
}

async function roundTrip(c, topic) {
  const payload = `ping ${Date.now()} ${Math.random()}`;
  const got = new Promise((res) => {
    const h = (t, p) => { if (t === topic && p.toString() === payload) { c.off('message', h); res(); } };
    c.on('message', h);
  });
  await withTimeout(c.subscribeAsync(topic, { qos: 1 }), T, 'SUBACK');
  await withTimeout(c.publishAsync(topic, payload, { qos: 1 }), T, 'PUBACK');
  await withTimeout(got, T, 'own message');
}

// ---------- run ----------

const r = new Results();
const names = args.only ? String(args.only).split(',').map((s) => s.trim()) : Object.keys(CASES);
for (const n of names) if (!CASES[n]) fail(`unknown case ${n}; cases: ${Object.keys(CASES).join(', ')}`);

console.log(`# ${wsUrl.href}  profile=${args.expect}  require-close=${requireClose}  close-timeout=${CLOSE_MS} ms`);
let bystander;
try {
  bystander = await mqttClient(uniq('hf-abuse-bystander'));
} catch (e) {
  fail(`the listener does not work before any abuse: ${e.message}`);
}
const byTopic = `${uniq('holdfast/abuse')}/bystander`;
const summary = [];

for (const name of names) {
  const c = rawConn();
  let outcome;
  try {
    await CASES[name](c);
    outcome = await c.result();
  } catch (e) {
    outcome = { ...(await c.result(0)), setupError: e.message };
  }
  const desc = outcome.setupError ? `setup failed: ${outcome.setupError}; ${describe(outcome)}` : describe(outcome);
  summary.push([name, desc]);
  const exp = expectations[name];
  if (outcome.setupError) {
    r.bad(`${name}: ${desc}`, 'could not perform the case');
  } else if (!exp || args.expect === 'report') {
    r.ok(`${name}: ${desc}`, 'recorded');
  } else {
    const okOutcome = matches(outcome, exp) && (!requireClose || outcome.closed || name === 'abrupt-close');
    if (okOutcome) r.ok(`${name}: ${desc}`);
    else r.bad(`${name}: ${desc}`, `expected ${exp}${requireClose ? ' and the socket closed' : ''} within ${CLOSE_MS} ms`);
  }

  // the listener still serves MQTT.js clients
  await r.check(`${name}: bystander client still works`, () => roundTrip(bystander, byTopic));
  await r.check(`${name}: new client connects and works`, async () => {
    const f = await mqttClient(uniq('hf-abuse-fresh'));
    try { await roundTrip(f, `${byTopic}/fresh`); } finally { f.end(true); }
  });
}

bystander.end(true);
console.log('\n# what the server did');
for (const [n, d] of summary) console.log(`#   ${n.padEnd(18)} ${d}`);
r.finish();
