#!/usr/bin/env node
// MQTT.js against a broker's WebSocket listener (and its TCP listener for the
// cross-transport checks), MQTT 3.1.1 and 5.0.
//
//   node tests/ws/mqttjs.mjs --ws-url ws://127.0.0.1:18831/ --tcp-port 18830 \
//        [--wss-url wss://127.0.0.1:18832/ --cafile ca.crt [--cert c.crt --key c.key]]
import mqtt from 'mqtt';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { parseArgs, withTimeout, uniq, Results } from './lib.mjs';

const args = parseArgs({
  'ws-url': { required: true, help: 'ws:// URL of the WebSocket listener, e.g. ws://127.0.0.1:8080/' },
  'tcp-port': { required: true, help: 'plain MQTT TCP port on --host' },
  host: { default: '127.0.0.1', help: 'host of the TCP listener' },
  'wss-url': { help: 'wss:// URL of a TLS WebSocket listener (optional)' },
  cafile: { help: 'CA certificate (PEM) to verify the wss:// server' },
  cert: { help: 'client certificate (PEM) for wss://' },
  key: { help: 'client private key (PEM) for wss://' },
  insecure: { flag: true, help: 'do not verify the wss:// server certificate' },
  versions: { default: '4,5', help: 'MQTT protocol versions to test (4 = 3.1.1, 5 = 5.0)' },
  timeout: { default: '10000', help: 'per-wait timeout in ms' },
  'big-size': { default: String(1024 * 1024), help: 'size in bytes of the large message' },
  'big-timeout': { default: '60000', help: 'ms to wait for the large message (mosquitto 2.0.11 ws needs ~26 s for 1 MB)' },
  'big-max-ms': { help: 'fail if the large message takes longer than this many ms (unset: only report)' },
});

const T = Number(args.timeout);
const TCP_URL = `mqtt://${args.host}:${args['tcp-port']}`;
const WS_URL = args['ws-url'];
const r = new Results();
const open = new Set(); // every client we made, to end at exit

// ---------- helpers ----------

function baseOpts(v, extra = {}) {
  return { protocolVersion: v, reconnectPeriod: 0, connectTimeout: T, keepalive: 30, ...extra };
}

// Persistent-session options for each protocol version.
function persistent(v) {
  return v === 5
    ? { clean: false, properties: { sessionExpiryInterval: 300 } }
    : { clean: false };
}

// Connect and wait for CONNACK. A message collector is attached before the
// socket opens so nothing delivered right after CONNACK is missed.
async function connect(url, opts, tls = {}) {
  const c = mqtt.connect(url, { ...opts, ...tls });
  open.add(c);
  c.inbox = [];
  c.waiters = [];
  c.on('message', (topic, payload, packet) => {
    c.inbox.push({ topic, payload, packet });
    c.waiters = c.waiters.filter((w) => !w());
  });
  const connack = await withTimeout(new Promise((resolve, reject) => {
    c.once('connect', resolve);
    c.once('error', reject);
    c.once('close', () => reject(new Error('connection closed before CONNACK')));
  }), T, `CONNACK from ${url}`);
  c.removeAllListeners('close');
  c.removeAllListeners('error');
  c.on('error', () => {}); // reported through the failing step instead
  return { c, connack };
}

// Wait until `n` messages matching pred are in the client's inbox.
function messages(c, pred, n, what, ms = T) {
  return withTimeout(new Promise((resolve) => {
    const check = () => {
      const got = c.inbox.filter(pred);
      if (got.length >= n) { resolve(got); return true; }
      return false;
    };
    if (!check()) c.waiters.push(check);
  }), ms, what || `${n} message(s)`);
}

const onTopic = (t) => (m) => m.topic === t;

// Disconnect; never throws (a test's own error must not be masked): if a
// graceful end does not finish in time, the socket is dropped.
function end(c, force = false) {
  open.delete(c);
  return withTimeout(new Promise((res) => c.end(force, {}, () => res())), T, 'client end')
    .catch(() => c.end(true));
}

function sub(c, filter, qos) {
  return withTimeout(c.subscribeAsync(filter, { qos }), T, `SUBACK for ${filter}`).then((granted) => {
    if (!granted[0] || granted[0].qos !== qos) throw new Error(`SUBACK for ${filter}: ${JSON.stringify(granted)}`);
    return granted;
  });
}

function pub(c, topic, payload, opts) {
  return withTimeout(c.publishAsync(topic, payload, opts), T, `publish ${topic} QoS ${opts.qos} to complete`);
}

function eqBytes(a, b) {
  return Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}

function assert(cond, msg) { if (!cond) throw new Error(msg); }

function tlsOpts() {
  const o = {};
  if (args.cafile) o.ca = readFileSync(args.cafile);
  if (args.cert) o.cert = readFileSync(args.cert);
  if (args.key) o.key = readFileSync(args.key);
  o.rejectUnauthorized = !args.insecure;
  return o;
}

// ---------- tests ----------

async function basicPubSub(url, v, tls = {}, label = 'ws') {
  const { c } = await connect(url, baseOpts(v, { clientId: uniq(`hf-${label}${v}`), clean: true }), tls);
  try {
    const base = uniq(`holdfast/ws/${label}/v${v}`);
    await sub(c, `${base}/#`, 2);
    for (const qos of [0, 1, 2]) {
      const payload = `qos${qos}-${Date.now()}`;
      await pub(c, `${base}/q${qos}`, payload, { qos });
      const [m] = await messages(c, onTopic(`${base}/q${qos}`), 1, `own QoS ${qos} message`);
      assert(m.payload.toString() === payload, `QoS ${qos}: payload ${JSON.stringify(m.payload.toString())}`);
      assert(m.packet.qos === qos, `QoS ${qos}: delivered with QoS ${m.packet.qos}`);
      assert(!m.packet.retain, `QoS ${qos}: retain flag set on a live message`);
    }
  } finally {
    await end(c);
  }
}

async function retained(v) {
  const topic = `${uniq(`holdfast/ws/ret/v${v}`)}/r`;
  const { c: p } = await connect(WS_URL, baseOpts(v, { clientId: uniq(`hf-retp${v}`) }));
  const { c } = await connect(WS_URL, baseOpts(v, { clientId: uniq(`hf-rets${v}`) }));
  try {
    await pub(p, topic, 'kept', { qos: 1, retain: true });
    await sub(c, topic, 1);
    const [m] = await messages(c, onTopic(topic), 1, 'retained message on subscribe');
    assert(m.payload.toString() === 'kept', `payload ${m.payload}`);
    assert(m.packet.retain === true, 'retain flag not set on the retained message');
  } finally {
    await pub(p, topic, '', { qos: 1, retain: true }).catch(() => {});
    await end(p);
    await end(c);
  }
}

// A persistent session goes offline, QoS 1 messages are queued for it by
// another client, it comes back (possibly over another transport) and gets them.
async function sessionRoundTrip(v, firstUrl, secondUrl, thirdUrl) {
  const id = uniq(`hf-sess${v}`);
  const topic = `${uniq(`holdfast/ws/sess/v${v}`)}/q`;
  const opts = baseOpts(v, { clientId: id, ...persistent(v) });
  const { c: pubber } = await connect(TCP_URL, baseOpts(v, { clientId: uniq(`hf-sesspub${v}`) }));
  try {
    let { c } = await connect(firstUrl, opts);
    await sub(c, topic, 1);
    await end(c);
    const hops = [secondUrl, thirdUrl].filter(Boolean);
    let n = 0;
    for (const url of hops) {
      const batch = [];
      for (let i = 0; i < 3; i++) {
        const payload = `queued-${++n}`;
        batch.push(payload);
        await pub(pubber, topic, payload, { qos: 1 });
      }
      let connack;
      ({ c, connack } = await connect(url, opts));
      assert(connack.sessionPresent === true, `reconnect over ${new URL(url).protocol} did not resume the session (sessionPresent false)`);
      const got = await messages(c, onTopic(topic), batch.length, `${batch.length} queued QoS 1 messages over ${new URL(url).protocol}`);
      const texts = got.map((m) => m.payload.toString());
      assert(JSON.stringify(texts) === JSON.stringify(batch), `queued messages ${JSON.stringify(texts)}, expected ${JSON.stringify(batch)}`);
      assert(got.every((m) => m.packet.qos === 1), 'queued messages not delivered at QoS 1');
      await end(c);
    }
  } finally {
    // Drop the session: clean connect, then normal disconnect (v5: expiry 0).
    const cleanup = await connect(TCP_URL, baseOpts(v, { clientId: id, clean: true })).catch(() => null);
    if (cleanup) await end(cleanup.c);
    await end(pubber);
  }
}

async function crossTransport(v) {
  const base = uniq(`holdfast/ws/cross/v${v}`);
  const { c: ws } = await connect(WS_URL, baseOpts(v, { clientId: uniq(`hf-xws${v}`) }));
  const { c: tcp } = await connect(TCP_URL, baseOpts(v, { clientId: uniq(`hf-xtcp${v}`) }));
  try {
    await sub(ws, `${base}/to-ws`, 1);
    await sub(tcp, `${base}/to-tcp`, 1);
    await pub(tcp, `${base}/to-ws`, 'from tcp', { qos: 1 });
    const [a] = await messages(ws, onTopic(`${base}/to-ws`), 1, 'TCP -> WS message');
    assert(a.payload.toString() === 'from tcp', `WS got ${a.payload}`);
    await pub(ws, `${base}/to-tcp`, 'from ws', { qos: 1 });
    const [b] = await messages(tcp, onTopic(`${base}/to-tcp`), 1, 'WS -> TCP message');
    assert(b.payload.toString() === 'from ws', `TCP got ${b.payload}`);
  } finally {
    await end(ws);
    await end(tcp);
  }
}

async function bigMessage(v, url, tls = {}, label = 'ws') {
  const size = Number(args['big-size']);
  const topic = `${uniq(`holdfast/ws/big/v${v}`)}/blob`;
  const { c } = await connect(url, baseOpts(v, { clientId: uniq(`hf-big${v}`) }), tls);
  try {
    await sub(c, topic, 1);
    const blob = randomBytes(size);
    const t0 = process.hrtime.bigint();
    const bigT = Number(args['big-timeout']);
    await withTimeout(c.publishAsync(topic, blob, { qos: 1 }), bigT, `PUBACK for the ${size}-byte message`);
    const tAck = process.hrtime.bigint();
    const [m] = await messages(c, onTopic(topic), 1, `the ${size}-byte message`, bigT);
    const t1 = process.hrtime.bigint();
    assert(m.payload.length === size, `got ${m.payload.length} bytes, expected ${size}`);
    assert(eqBytes(m.payload, blob), 'payload bytes differ');
    const ms = (x) => (Number(x) / 1e6).toFixed(1);
    if (args['big-max-ms'] && Number(t1 - t0) / 1e6 > Number(args['big-max-ms'])) {
      throw new Error(`${size} bytes took ${ms(t1 - t0)} ms (limit ${args['big-max-ms']} ms)`);
    }
    return `${size} bytes over ${label}: PUBACK after ${ms(tAck - t0)} ms, delivered intact after ${ms(t1 - t0)} ms`;
  } finally {
    await end(c);
  }
}

// ---------- run ----------

const versions = String(args.versions).split(',').map((s) => Number(s.trim()));
for (const v of versions) {
  const V = v === 5 ? 'v5' : 'v3.1.1';
  await r.check(`${V} ws: connect, subscribe, QoS 0/1/2 own messages`, () => basicPubSub(WS_URL, v));
  await r.check(`${V} ws: retained message delivered on subscribe`, () => retained(v));
  await r.check(`${V} ws: persistent session gets QoS 1 queued while offline`, () => sessionRoundTrip(v, WS_URL, WS_URL));
  await r.check(`${V} tcp<->ws: messages cross transports both ways`, () => crossTransport(v));
  await r.check(`${V} session moves tcp -> ws -> tcp with queued QoS 1`, () => sessionRoundTrip(v, TCP_URL, WS_URL, TCP_URL));
  await r.check(`${V} ws: 1 MB QoS 1 message arrives intact`, () => bigMessage(v, WS_URL));
  if (args['wss-url']) {
    await r.check(`${V} wss: connect, subscribe, QoS 0/1/2 own messages`, () => basicPubSub(args['wss-url'], v, tlsOpts(), 'wss'));
    await r.check(`${V} wss: 1 MB QoS 1 message arrives intact`, () => bigMessage(v, args['wss-url'], tlsOpts(), 'wss'));
  }
}
if (!args['wss-url']) r.skip('wss:// checks', 'no --wss-url given');
for (const c of open) c.end(true);
r.finish();
