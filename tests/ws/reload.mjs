// tests/ws/reload.mjs - SIGHUP with wss clients: a reloaded CRL that revokes
// one client's certificate disconnects that client (MQTT 5 DISCONNECT 0x87,
// then the close), keeps the other connected and working, and a new
// connection with the revoked certificate is refused.
//
//   node tests/ws/reload.mjs --wss-url wss://localhost:PORT/ --pki DIR \
//       --crl-file FILE --crl-new FILE --pid BROKER_PID
//
// DIR holds ca.crt and the two clients' NAME.crt/NAME.key (--keep, --revoke);
// FILE is the broker's crlfile, overwritten with --crl-new before the SIGHUP.
import { readFileSync, copyFileSync } from 'node:fs';
import mqtt from 'mqtt';
import { parseArgs, withTimeout, Results } from './lib.mjs';

const args = parseArgs({
  'wss-url': { required: true, help: 'the wss:// listener' },
  pki: { required: true, help: 'folder with ca.crt and the client certificates' },
  keep: { default: 'agent-a', help: 'the client whose certificate stays valid' },
  revoke: { default: 'agent-b', help: 'the client the new CRL revokes' },
  'crl-file': { required: true, help: "the broker's crlfile" },
  'crl-new': { required: true, help: 'the CRL that revokes --revoke' },
  pid: { required: true, help: "the broker's pid (SIGHUP)" },
  timeout: { default: '5000', help: 'ms for each wait' },
});
const T = Number(args.timeout);
const pki = args.pki.replace(/\/?$/, '/');

function connect(name) {
  const c = mqtt.connect(args['wss-url'], {
    protocolVersion: 5, clientId: `reload-${name}`, reconnectPeriod: 0,
    ca: readFileSync(pki + 'ca.crt'), cert: readFileSync(pki + name + '.crt'),
    key: readFileSync(pki + name + '.key'),
  });
  c.disconnectRc = null;
  c.on('disconnect', (p) => { c.disconnectRc = p.reasonCode; });
  c.on('error', () => {});
  return c;
}

const r = new Results();
const keep = connect(args.keep), gone = connect(args.revoke);
await r.check('both clients connect over wss', async () => {
  await withTimeout(Promise.all([keep, gone].map((c) =>
    new Promise((res) => c.once('connect', res)))), T, 'CONNACKs');
});
await r.check('the reloaded CRL disconnects the revoked client with 0x87', async () => {
  const closed = new Promise((res) => gone.once('close', res));
  copyFileSync(args['crl-new'], args['crl-file']);
  process.kill(Number(args.pid), 'SIGHUP');
  await withTimeout(closed, T, `${args.revoke} to be disconnected`);
  if (gone.disconnectRc !== 0x87) throw new Error(`DISCONNECT reason ${gone.disconnectRc}, wanted 0x87`);
  return `DISCONNECT 0x${gone.disconnectRc.toString(16)}`;
});
await r.check('the other client stays connected and works', async () => {
  if (!keep.connected) throw new Error('disconnected');
  const topic = `reload/${Date.now()}`;
  await withTimeout(new Promise((res, rej) => keep.subscribe(topic, { qos: 1 }, (e) => (e ? rej(e) : res()))), T, 'SUBACK');
  const got = new Promise((res) => keep.once('message', (t, p) => res(p.toString())));
  keep.publish(topic, 'still here', { qos: 1 });
  const p = await withTimeout(got, T, 'its own message');
  if (p !== 'still here') throw new Error(`got ${p}`);
});
await r.check('a new connection with the revoked certificate is refused', async () => {
  const c = connect(args.revoke);
  const out = await withTimeout(new Promise((res) => {
    c.once('connect', () => res('connected'));
    c.once('close', () => res('closed'));
  }), T, 'the refusal');
  c.end(true);
  if (out !== 'closed') throw new Error('it connected');
});
keep.end(true);
gone.end(true);
r.finish();
