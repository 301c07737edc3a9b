#!/usr/bin/env node
// Drive www/ (served by the broker's http_dir) in headless Chromium and check
// it against the broker's plain TCP listener using Debian's mosquitto-clients.
//
//   node tests/ws/browser.mjs --http-url http://127.0.0.1:18831/ --tcp-port 18830
import { chromium } from 'playwright-core';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, fail, run, uniq, withTimeout, Results } from './lib.mjs';

const args = parseArgs({
  'http-url': { required: true, help: 'page URL served by the broker http_dir, e.g. http://127.0.0.1:8080/' },
  'tcp-port': { required: true, help: 'plain MQTT TCP port on --host (for mosquitto_pub / mosquitto_sub)' },
  host: { default: '127.0.0.1', help: 'host of the TCP listener' },
  'ws-url': { help: 'WebSocket URL to type into the page (default: the page\'s own default, which is checked)' },
  chromium: { default: '/usr/bin/chromium', help: 'Chromium executable (never downloaded)' },
  'mqtt-version': { default: '5', help: '4 (3.1.1) or 5' },
  timeout: { default: '10000', help: 'per-step timeout in ms' },
  headed: { flag: true, help: 'show the browser window' },
  'chromium-args': { default: '', help: 'extra Chromium flags, space-separated (e.g. --disable-http2)' },
  'ignore-https-errors': { flag: true, help: 'accept a self-signed certificate for an https:// --http-url (and its wss://)' },
});

const T = Number(args.timeout);
const pageUrl = new URL(args['http-url']);
const expectedDefaultWs = `${pageUrl.protocol === 'https:' ? 'wss' : 'ws'}://${pageUrl.host}/`;
const r = new Results();
const problems = []; // console errors/warnings, page errors, failed requests
const tmp = mkdtempSync(join(tmpdir(), 'holdfast-browser-'));

let browser;
try {
  const t0 = Date.now();
  try {
    browser = await withTimeout(chromium.launch({
      executablePath: args.chromium,
      headless: !args.headed,
      // Running as root in a container: Chromium's sandbox needs user namespaces.
      // --no-sandbox: root; the rest keep Chromium off the network (this
      // machine's is closed: background fetches would be refused by the dozen).
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
        ...String(args['chromium-args']).split(/\s+/).filter(Boolean)],
      timeout: T * 3,
    }), T * 3 + 1000, 'chromium to launch');
  } catch (e) {
    fail(`cannot launch ${args.chromium}: ${e.message.split('\n')[0]}`);
  }
  r.ok('chromium launches headless', `${browser.version()} in ${Date.now() - t0} ms`);

  const context = await browser.newContext({
    viewport: { width: 1280, height: 900 },
    ignoreHTTPSErrors: Boolean(args['ignore-https-errors']),
  });
  const page = await context.newPage();
  page.setDefaultTimeout(T);
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console.${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (q) => problems.push(`request failed: ${q.url()} (${q.failure()?.errorText})`));
  page.on('response', (resp) => {
    if (resp.status() >= 400) problems.push(`HTTP ${resp.status()} for ${resp.url()}`);
  });
  page.on('request', (q) => {
    const u = new URL(q.url());
    if (!['data:', 'blob:'].includes(u.protocol) && u.host !== pageUrl.host) {
      problems.push(`external request: ${q.url()}`);
    }
  });

  await r.check('page loads', async () => {
    const resp = await page.goto(pageUrl.href, { waitUntil: 'load' });
    if (!resp || resp.status() !== 200) throw new Error(`HTTP ${resp && resp.status()}`);
    const title = await page.title();
    if (!/Holdfast/.test(title)) throw new Error(`unexpected title ${JSON.stringify(title)}`);
    const hasMqtt = await page.evaluate(() => typeof window.mqtt?.connect === 'function');
    if (!hasMqtt) throw new Error('vendor/mqtt.min.js did not define window.mqtt');
    // style.css applied? (a server without Content-Type might get it refused)
    const styled = await page.evaluate(() => getComputedStyle(document.querySelector('.card')).borderRadius);
    if (styled !== '10px') throw new Error(`style.css not applied (card border-radius ${styled})`);
    return `HTTP ${resp.status()}, content-type ${JSON.stringify(resp.headers()['content-type'] ?? null)}`;
  });

  if (r.failed) throw new Error('page did not load; later checks skipped');

  await r.check('default WebSocket URL is the page origin', async () => {
    const v = await page.inputValue('#url');
    if (v !== expectedDefaultWs) throw new Error(`got ${v}, expected ${expectedDefaultWs}`);
    return v;
  });

  const clientId = uniq('hf-browser');
  await r.check('connect from the form', async () => {
    if (args['ws-url']) await page.fill('#url', args['ws-url']);
    await page.fill('#client-id', clientId);
    await page.selectOption('#version', String(args['mqtt-version']));
    await page.click('#connect-btn');
    await page.waitForFunction(() => document.querySelector('#status-text').textContent === 'Connected',
      null, { timeout: T });
    return (await page.textContent('#conn-detail')).trim();
  });
  if (r.failed) throw new Error('could not connect; later checks skipped');

  await r.check('$SYS panel fills', async () => {
    await page.waitForFunction(() => Number(document.querySelector('#sys-count').textContent) > 0, null, { timeout: T * 2 });
    const n = await page.textContent('#sys-count');
    const keys = await page.$$eval('#sys-key .sys-item', (items) => items
      .map((i) => `${i.querySelector('dt').textContent}=${i.querySelector('dd').textContent}`)
      .filter((s) => !s.endsWith('=—')));
    return `${n} topics; ${keys.join(', ')}`;
  });

  const topic = `holdfast/browser/${clientId}`;
  await r.check('subscribe from the form', async () => {
    await page.fill('#sub-topic', `${topic}/#`);
    await page.selectOption('#sub-qos', '1');
    await page.click('#sub-btn');
    await page.waitForFunction((f) => [...document.querySelectorAll('#sub-list code')].some((c) => c.textContent === f),
      `${topic}/#`, { timeout: T });
  });

  const textPayload = `hello from mosquitto_pub ${Date.now()} ✓`;
  await r.check('message published over TCP appears in the table', async () => {
    const res = await run('mosquitto_pub', ['-h', args.host, '-p', String(args['tcp-port']), '-q', '1',
      '-t', `${topic}/text`, '-m', textPayload], T);
    if (res.code !== 0) throw new Error(`mosquitto_pub exit ${res.code}: ${res.stderr.trim()}`);
    await page.waitForFunction((p) => [...document.querySelectorAll('#msg-body .payload .text')].some((e) => e.textContent === p),
      textPayload, { timeout: T });
    const row = await page.$$eval('#msg-body tr', (trs) => [...trs[0].children].map((td) => td.textContent));
    if (row[1] !== `${topic}/text`) throw new Error(`topic cell ${row[1]}`);
    if (row[2] !== '1') throw new Error(`QoS cell ${row[2]} (expected 1)`);
    return row.join(' | ');
  });

  await r.check('binary payload is shown as hex', async () => {
    const f = join(tmp, 'bin');
    writeFileSync(f, Buffer.from([0x00, 0x01, 0xfe, 0xff, 0x41]));
    const res = await run('mosquitto_pub', ['-h', args.host, '-p', String(args['tcp-port']), '-q', '0',
      '-t', `${topic}/bin`, '-f', f], T);
    if (res.code !== 0) throw new Error(`mosquitto_pub exit ${res.code}: ${res.stderr.trim()}`);
    await page.waitForFunction(() => [...document.querySelectorAll('#msg-body .payload .hex')].some((e) => e.textContent === '00 01 fe ff 41'),
      null, { timeout: T });
  });

  await r.check('publish form reaches mosquitto_sub over TCP', async () => {
    const payload = `hello from the page ${Date.now()}`;
    const sub = run('mosquitto_sub', ['-h', args.host, '-p', String(args['tcp-port']), '-C', '1', '-W', '10',
      '-v', '-t', `${topic}/fromweb`], T + 2000);
    let done = false;
    sub.finally(() => { done = true; });
    await page.fill('#pub-topic', `${topic}/fromweb`);
    await page.fill('#pub-payload', payload);
    await page.selectOption('#pub-qos', '1');
    // mosquitto_sub gives no "subscribed" signal: publish until it has
    // received one (bounded by its own -W 10 and our timeout).
    const deadline = Date.now() + T;
    while (!done && Date.now() < deadline) {
      await page.click('#pub-btn');
      await Promise.race([sub, new Promise((res) => setTimeout(res, 250))]);
    }
    const res = await sub;
    if (res.code !== 0) throw new Error(`mosquitto_sub exit ${res.code}: ${res.stderr.trim()}`);
    if (res.stdout.trim() !== `${topic}/fromweb ${payload}`) throw new Error(`mosquitto_sub got ${JSON.stringify(res.stdout)}`);
    // The last click may have gone out just before mosquitto_sub exited:
    // wait (bounded) for its acknowledgement to reach the page.
    try {
      await page.waitForFunction(() => /^Published to/.test(document.querySelector('#pub-detail').textContent),
        null, { timeout: T });
    } catch (e) {
      throw new Error(`page says ${JSON.stringify(await page.textContent('#pub-detail'))}`);
    }
    return res.stdout.trim();
  });

  await r.check('retained publish from the page is kept by the broker', async () => {
    const payload = `retained from the page ${Date.now()}`;
    await page.fill('#pub-topic', `${topic}/retained`);
    await page.fill('#pub-payload', payload);
    await page.check('#pub-retain');
    await page.click('#pub-btn');
    await page.waitForFunction(() => /^Published to .*retained/.test(document.querySelector('#pub-detail').textContent),
      null, { timeout: T });
    await page.uncheck('#pub-retain');
    const res = await run('mosquitto_sub', ['-h', args.host, '-p', String(args['tcp-port']), '-C', '1', '-W', '10',
      '-t', `${topic}/retained`], T + 2000);
    if (res.code !== 0 || res.stdout.trim() !== payload) throw new Error(`mosquitto_sub exit ${res.code}: ${JSON.stringify(res.stdout)}`);
    // the page's own subscription also showed it with QoS 1 (capped to granted)
    await page.waitForFunction((p) => [...document.querySelectorAll('#msg-body .payload .text')].some((e) => e.textContent === p),
      payload, { timeout: T });
    await run('mosquitto_pub', ['-h', args.host, '-p', String(args['tcp-port']), '-r', '-n', '-t', `${topic}/retained`], T);
  });

  await r.check('clear button empties the table', async () => {
    await page.click('#msg-clear');
    const n = await page.$$eval('#msg-body tr', (t) => t.length);
    if (n !== 0) throw new Error(`${n} rows left`);
  });

  await r.check('narrow screen (360 px) has no horizontal overflow', async () => {
    await page.setViewportSize({ width: 360, height: 740 });
    const w = await page.evaluate(() => document.documentElement.scrollWidth);
    if (w > 361) throw new Error(`page is ${w}px wide`);
    await page.setViewportSize({ width: 1280, height: 900 });
    return `scrollWidth ${w}`;
  });

  await r.check('disconnect', async () => {
    await page.click('#disconnect-btn');
    await page.waitForFunction(() => document.querySelector('#status-text').textContent === 'Not connected',
      null, { timeout: T });
  });

  await r.check('no console errors/warnings, failed or external requests', async () => {
    if (problems.length) throw new Error(`\n  ${problems.join('\n  ')}`);
  });
} catch (e) {
  r.bad('aborted', e);
} finally {
  if (browser) await withTimeout(browser.close(), 10000, 'browser close').catch(() => {});
  rmSync(tmp, { recursive: true, force: true });
}
r.finish();
