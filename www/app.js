/* Holdfast broker monitor: plain browser JavaScript, no build step.
 * Uses the vendored MQTT.js bundle (vendor/mqtt.min.js), which defines the
 * global `mqtt`. Loaded as a classic deferred script so that it also works
 * when the HTTP server sends no Content-Type (module scripts would need one). */
(function () {
  'use strict';

  var MSG_CAP = 500;          // rows kept in the message table
  var PAYLOAD_SHOWN = 2048;   // characters of payload rendered per row
  var SYS_FILTER = '$SYS/broker/#';

  // Key $SYS counters, in display order. Several brokers use slightly
  // different names; the first topic that has arrived wins.
  var SYS_KEYS = [
    { label: 'Clients connected', topics: ['$SYS/broker/clients/connected', '$SYS/broker/clients/active'] },
    { label: 'Messages received', topics: ['$SYS/broker/messages/received', '$SYS/broker/publish/messages/received'] },
    { label: 'Messages sent', topics: ['$SYS/broker/messages/sent', '$SYS/broker/publish/messages/sent'] },
    { label: 'Msgs in / min', topics: ['$SYS/broker/load/messages/received/1min'] },
    { label: 'Msgs out / min', topics: ['$SYS/broker/load/messages/sent/1min'] },
    { label: 'Subscriptions', topics: ['$SYS/broker/subscriptions/count'] },
    { label: 'Retained', topics: ['$SYS/broker/retained messages/count', '$SYS/broker/retained/count'] },
    { label: 'Uptime', topics: ['$SYS/broker/uptime'], format: formatUptime },
    { label: 'Version', topics: ['$SYS/broker/version'] }
  ];

  var $ = function (id) { return document.getElementById(id); };
  var el = {
    status: $('status'), statusText: $('status-text'), connDetail: $('conn-detail'),
    connectForm: $('connect-form'), url: $('url'), clientId: $('client-id'),
    version: $('version'), username: $('username'), password: $('password'),
    connectBtn: $('connect-btn'), disconnectBtn: $('disconnect-btn'),
    sysEnabled: $('sys-enabled'), sysKey: $('sys-key'), sysAll: $('sys-all'), sysCount: $('sys-count'),
    subForm: $('sub-form'), subTopic: $('sub-topic'), subQos: $('sub-qos'), subBtn: $('sub-btn'), subList: $('sub-list'),
    pubForm: $('pub-form'), pubTopic: $('pub-topic'), pubPayload: $('pub-payload'), pubQos: $('pub-qos'),
    pubRetain: $('pub-retain'), pubBtn: $('pub-btn'), pubDetail: $('pub-detail'),
    msgBody: $('msg-body'), msgCount: $('msg-count'), msgEmpty: $('msg-empty'), msgClear: $('msg-clear'),
    msgPause: $('msg-pause'), msgCap: $('msg-cap')
  };

  var client = null;
  var everConnected = false;   // for the current client object
  var userEnded = false;
  var subs = new Map();        // filter -> granted qos (user subscriptions)
  var sysValues = new Map();   // topic -> string
  var sysRows = new Map();     // topic -> <tr>
  var sysKeyCells = [];        // parallel to SYS_KEYS: <dd>
  var msgTotal = 0;

  // ---------- helpers ----------

  function defaultUrl() {
    var loc = window.location;
    if (loc.protocol === 'http:' || loc.protocol === 'https:') {
      return (loc.protocol === 'https:' ? 'wss://' : 'ws://') + loc.host + '/';
    }
    return 'ws://127.0.0.1:8080/';
  }

  function randomId() {
    var b = new Uint8Array(4);
    window.crypto.getRandomValues(b);
    return 'holdfast-web-' + Array.prototype.map.call(b, function (x) {
      return x.toString(16).padStart(2, '0');
    }).join('');
  }

  function pad(n, w) { return String(n).padStart(w || 2, '0'); }

  function timeNow() {
    var d = new Date();
    return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds()) + '.' + pad(d.getMilliseconds(), 3);
  }

  function formatUptime(v) {
    var m = /^(\d+)/.exec(v);
    if (!m) return v;
    var s = parseInt(m[1], 10);
    var d = Math.floor(s / 86400); s -= d * 86400;
    var h = Math.floor(s / 3600); s -= h * 3600;
    var mi = Math.floor(s / 60); s -= mi * 60;
    return (d ? d + 'd ' : '') + (d || h ? h + 'h ' : '') + (d || h || mi ? mi + 'm ' : '') + s + 's';
  }

  var utf8 = new TextDecoder('utf-8', { fatal: true });

  // Returns { text, hex } : text when the payload is valid, printable UTF-8.
  function describePayload(bytes) {
    var text = null;
    try { text = utf8.decode(bytes); } catch (e) { text = null; }
    // Printable: no C0 controls other than tab / LF / CR, no DEL, no C1 controls.
    if (text !== null && /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/.test(text)) text = null;
    if (text !== null) return { text: text, hex: false };
    var n = Math.min(bytes.length, Math.ceil(PAYLOAD_SHOWN / 3));
    var parts = new Array(n);
    for (var i = 0; i < n; i++) parts[i] = bytes[i].toString(16).padStart(2, '0');
    return { text: parts.join(' '), hex: true };
  }

  function formatBytes(n) {
    if (n < 1024) return n + ' B';
    if (n < 1048576) return (n / 1024).toFixed(1) + ' KiB';
    return (n / 1048576).toFixed(2) + ' MiB';
  }

  // MQTT topic filter matching, including the rule that a leading wildcard
  // does not match topics starting with '$'.
  function topicMatches(filter, topic) {
    var f = filter.split('/');
    var t = topic.split('/');
    if (topic.charAt(0) === '$' && (f[0] === '#' || f[0] === '+')) return false;
    for (var i = 0; i < f.length; i++) {
      if (f[i] === '#') return true;
      if (i >= t.length) return false;
      if (f[i] !== '+' && f[i] !== t[i]) return false;
    }
    return f.length === t.length;
  }

  function validFilter(f) {
    if (!f || f.indexOf('\u0000') >= 0) return false;
    var lv = f.split('/');
    for (var i = 0; i < lv.length; i++) {
      if (lv[i].indexOf('#') >= 0 && (lv[i] !== '#' || i !== lv.length - 1)) return false;
      if (lv[i].indexOf('+') >= 0 && lv[i] !== '+') return false;
    }
    return true;
  }

  function errText(err) {
    if (!err) return 'unknown error';
    var s = err.message || String(err);
    if (err.code !== undefined && s.indexOf(String(err.code)) < 0) s += ' (code ' + err.code + ')';
    return s;
  }

  // ---------- status ----------

  function setStatus(kind, text, detail) {
    el.status.className = 'status status-' + kind;
    el.statusText.textContent = text;
    if (detail !== undefined) el.connDetail.textContent = detail;
    var up = kind === 'ok';
    var busy = kind === 'busy' || kind === 'warn';
    el.subBtn.disabled = !up;
    el.pubBtn.disabled = !up;
    el.connectBtn.disabled = up || busy;
    el.disconnectBtn.disabled = !(up || busy);
    var lock = up || busy;
    [el.url, el.clientId, el.version, el.username, el.password].forEach(function (i) { i.disabled = lock; });
  }

  // ---------- connection ----------

  function connect() {
    var url = el.url.value.trim();
    if (!/^wss?:\/\//i.test(url)) {
      setStatus('error', 'Not connected', 'The URL must start with ws:// or wss://');
      return;
    }
    if (!el.clientId.value.trim()) el.clientId.value = randomId();
    var version = parseInt(el.version.value, 10);
    var opts = {
      protocolVersion: version,
      clientId: el.clientId.value.trim(),
      clean: true,
      keepalive: 30,
      connectTimeout: 10000,
      reconnectPeriod: 3000,
      resubscribe: false  // we re-subscribe ourselves on every (re)connect
    };
    if (el.username.value) opts.username = el.username.value;
    if (el.password.value) opts.password = el.password.value;

    teardown();
    userEnded = false;
    everConnected = false;
    setStatus('busy', 'Connecting…', 'Connecting to ' + url + ' as ' + opts.clientId +
      ' (MQTT ' + (version === 5 ? '5.0' : '3.1.1') + ')');

    var c;
    try {
      c = window.mqtt.connect(url, opts);
    } catch (e) {
      setStatus('error', 'Not connected', 'Cannot connect: ' + errText(e));
      return;
    }
    client = c;

    c.on('connect', function (connack) {
      if (c !== client) return;
      everConnected = true;
      var extra = connack && connack.sessionPresent ? ' (session present)' : '';
      setStatus('ok', 'Connected', 'Connected to ' + url + ' as ' + opts.clientId + extra);
      if (el.sysEnabled.checked) subscribeSys();
      // MQTT.js re-subscribes on reconnect; on a first connect we do it here.
      subs.forEach(function (qos, filter) { doSubscribe(filter, qos, true); });
    });
    c.on('reconnect', function () {
      if (c !== client) return;
      setStatus('warn', 'Reconnecting…');
    });
    c.on('offline', function () {
      if (c !== client || userEnded) return;
      setStatus('warn', 'Offline, retrying…', 'Connection to ' + url + ' lost; retrying every 3 s.');
    });
    c.on('error', function (err) {
      if (c !== client) return;
      // A refused CONNECT (bad credentials, not authorised, …) is final.
      el.connDetail.textContent = 'Error: ' + errText(err);
      if (!everConnected) stop('error', 'Connection failed', 'Error: ' + errText(err));
    });
    c.on('close', function () {
      if (c !== client) return;
      if (userEnded) return;
      if (!everConnected) stop('error', 'Connection failed', 'Could not connect to ' + url + '. Check the URL and that the listener speaks WebSockets.');
    });
    c.on('disconnect', function (packet) {
      if (c !== client) return;
      var rc = packet && packet.reasonCode;
      el.connDetail.textContent = 'Broker sent DISCONNECT' + (rc !== undefined ? ' (reason ' + rc + ')' : '');
    });
    c.on('message', onMessage);
  }

  function stop(kind, text, detail) {
    userEnded = true;
    teardown();
    setStatus(kind, text, detail);
  }

  function teardown() {
    if (!client) return;
    var c = client;
    client = null;
    c.removeAllListeners('message');
    c.end(true);
  }

  function disconnect() {
    if (!client) return;
    userEnded = true;
    var c = client;
    client = null;
    setStatus('busy', 'Disconnecting…');
    c.end(false, {}, function () {
      setStatus('idle', 'Not connected', 'Disconnected.');
    });
    // If the network is gone, end() may not call back promptly.
    window.setTimeout(function () {
      if (!client && el.statusText.textContent === 'Disconnecting…') {
        c.end(true);
        setStatus('idle', 'Not connected', 'Disconnected.');
      }
    }, 3000);
  }

  // ---------- subscriptions ----------

  function subscribeSys() {
    if (!client || !client.connected) return;
    client.subscribe(SYS_FILTER, { qos: 0 }, function (err, granted) {
      if (err || (granted && granted[0] && granted[0].qos >= 128)) {
        el.connDetail.textContent = 'Could not subscribe to ' + SYS_FILTER +
          (err ? ': ' + errText(err) : ' (refused by the broker)');
      }
    });
  }

  function unsubscribeSys() {
    if (client && client.connected) client.unsubscribe(SYS_FILTER);
  }

  function doSubscribe(filter, qos, quiet) {
    if (!client || !client.connected) return;
    client.subscribe(filter, { qos: qos }, function (err, granted) {
      var g = granted && granted[0];
      if (err || !g || g.qos >= 128) {
        subs.delete(filter);
        renderSubs();
        el.connDetail.textContent = 'Subscribe to ' + filter + ' failed: ' +
          (err ? errText(err) : 'refused by the broker (code ' + (g ? g.qos : '?') + ')');
        return;
      }
      subs.set(filter, g.qos);
      renderSubs();
      if (!quiet) el.connDetail.textContent = 'Subscribed to ' + filter + ' (granted QoS ' + g.qos + ')';
    });
  }

  function renderSubs() {
    el.subList.textContent = '';
    subs.forEach(function (qos, filter) {
      var li = document.createElement('li');
      var code = document.createElement('code');
      code.textContent = filter;
      var q = document.createElement('span');
      q.className = 'tag';
      q.textContent = 'QoS ' + qos;
      var b = document.createElement('button');
      b.type = 'button';
      b.className = 'small';
      b.textContent = 'Unsubscribe';
      b.setAttribute('aria-label', 'Unsubscribe from ' + filter);
      b.addEventListener('click', function () {
        subs.delete(filter);
        renderSubs();
        if (client && client.connected) client.unsubscribe(filter);
      });
      li.append(code, q, b);
      el.subList.appendChild(li);
    });
  }

  // ---------- messages ----------

  function onMessage(topic, payload, packet) {
    var isSys = topic.indexOf('$SYS/broker/') === 0;
    if (isSys && el.sysEnabled.checked) onSys(topic, payload);
    var matched = false;
    subs.forEach(function (q, filter) { if (!matched && topicMatches(filter, topic)) matched = true; });
    if (matched && !el.msgPause.checked) addRow(topic, payload, packet);
  }

  function addRow(topic, payload, packet) {
    var tr = document.createElement('tr');
    var bytes = payload instanceof Uint8Array ? payload : new Uint8Array(payload);
    var p = describePayload(bytes);

    var tdTime = document.createElement('td');
    tdTime.className = 'mono nowrap';
    tdTime.textContent = timeNow();

    var tdTopic = document.createElement('td');
    tdTopic.className = 'mono topic';
    tdTopic.textContent = topic;

    var tdQos = document.createElement('td');
    tdQos.className = 'num';
    tdQos.textContent = String(packet.qos);

    var tdRet = document.createElement('td');
    tdRet.className = 'center';
    if (packet.retain) {
      var r = document.createElement('span');
      r.className = 'tag tag-retained';
      r.textContent = 'retained';
      tdRet.appendChild(r);
    } else {
      tdRet.textContent = '–';
    }

    var tdPay = document.createElement('td');
    tdPay.className = 'payload';
    var body = document.createElement('span');
    body.className = p.hex ? 'mono hex' : 'mono text';
    var shown = p.text;
    var cut = shown.length > PAYLOAD_SHOWN;
    if (cut) shown = shown.slice(0, PAYLOAD_SHOWN);
    body.textContent = bytes.length === 0 ? '' : shown;
    var meta = document.createElement('span');
    meta.className = 'meta';
    meta.textContent = (p.hex ? 'hex · ' : '') + formatBytes(bytes.length) + (cut ? ' · truncated' : '') +
      (bytes.length === 0 ? ' (empty)' : '');
    tdPay.append(body, meta);

    tr.append(tdTime, tdTopic, tdQos, tdRet, tdPay);
    el.msgBody.insertBefore(tr, el.msgBody.firstChild);
    while (el.msgBody.childElementCount > MSG_CAP) el.msgBody.removeChild(el.msgBody.lastElementChild);
    msgTotal++;
    updateMsgCount();
  }

  function updateMsgCount() {
    var shown = el.msgBody.childElementCount;
    el.msgCount.textContent = shown === msgTotal ? String(msgTotal) : shown + ' of ' + msgTotal;
    el.msgEmpty.hidden = shown > 0;
  }

  // ---------- $SYS ----------

  function buildSysKey() {
    SYS_KEYS.forEach(function (k) {
      var wrap = document.createElement('div');
      wrap.className = 'sys-item';
      var dt = document.createElement('dt');
      dt.textContent = k.label;
      var dd = document.createElement('dd');
      dd.textContent = '—';
      wrap.append(dt, dd);
      el.sysKey.appendChild(wrap);
      sysKeyCells.push(dd);
    });
  }

  function flash(node) {
    node.classList.remove('flash');
    void node.offsetWidth; // restart the animation
    node.classList.add('flash');
  }

  function onSys(topic, payload) {
    var bytes = payload instanceof Uint8Array ? payload : new Uint8Array(payload);
    var p = describePayload(bytes);
    var value = p.hex ? '0x ' + p.text : p.text;
    var old = sysValues.get(topic);
    sysValues.set(topic, value);

    var row = sysRows.get(topic);
    if (!row) {
      row = document.createElement('tr');
      var a = document.createElement('td');
      a.className = 'mono topic';
      a.textContent = topic.slice('$SYS/broker/'.length);
      a.title = topic;
      var b = document.createElement('td');
      b.className = 'mono';
      row.append(a, b);
      sysRows.set(topic, row);
      // keep rows sorted by topic
      var keys = Array.from(sysRows.keys()).sort();
      var idx = keys.indexOf(topic);
      var next = idx + 1 < keys.length ? sysRows.get(keys[idx + 1]) : null;
      el.sysAll.insertBefore(row, next);
      el.sysCount.textContent = String(sysRows.size);
    }
    if (old !== value) {
      row.lastChild.textContent = value;
      if (old !== undefined) flash(row.lastChild);
    }

    SYS_KEYS.forEach(function (k, i) {
      if (k.topics.indexOf(topic) < 0) return;
      // prefer the first listed topic if both exist
      for (var j = 0; j < k.topics.length; j++) {
        if (sysValues.has(k.topics[j])) {
          if (k.topics[j] !== topic) return;
          break;
        }
      }
      var shown = k.format ? k.format(value) : value;
      if (sysKeyCells[i].textContent !== shown) {
        sysKeyCells[i].textContent = shown;
        sysKeyCells[i].classList.toggle('long', shown.length > 14);
        sysKeyCells[i].title = topic;
        if (old !== undefined) flash(sysKeyCells[i]);
      }
    });
  }

  // ---------- wiring ----------

  function init() {
    if (!window.mqtt || typeof window.mqtt.connect !== 'function') {
      setStatus('error', 'Unavailable', 'vendor/mqtt.min.js did not load.');
      el.connectBtn.disabled = true;
      return;
    }
    el.url.value = defaultUrl();
    el.clientId.value = randomId();
    el.msgCap.textContent = String(MSG_CAP);
    buildSysKey();
    updateMsgCount();
    setStatus('idle', 'Not connected', '');

    el.connectForm.addEventListener('submit', function (ev) { ev.preventDefault(); connect(); });
    el.disconnectBtn.addEventListener('click', disconnect);

    el.subForm.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var filter = el.subTopic.value.trim();
      if (!validFilter(filter)) {
        el.connDetail.textContent = 'Invalid topic filter: ' + filter;
        return;
      }
      doSubscribe(filter, parseInt(el.subQos.value, 10), false);
    });

    el.pubForm.addEventListener('submit', function (ev) {
      ev.preventDefault();
      if (!client || !client.connected) return;
      var topic = el.pubTopic.value.trim();
      if (!topic || /[+#\u0000]/.test(topic)) {
        el.pubDetail.textContent = 'A topic name must be non-empty and contain no + or #.';
        return;
      }
      var qos = parseInt(el.pubQos.value, 10);
      var retain = el.pubRetain.checked;
      el.pubDetail.textContent = 'Publishing…';
      client.publish(topic, el.pubPayload.value, { qos: qos, retain: retain }, function (err) {
        el.pubDetail.textContent = err
          ? 'Publish failed: ' + errText(err)
          : 'Published to ' + topic + ' (QoS ' + qos + (retain ? ', retained' : '') + ') at ' + timeNow();
      });
    });

    el.msgClear.addEventListener('click', function () {
      el.msgBody.textContent = '';
      msgTotal = 0;
      updateMsgCount();
    });

    el.sysEnabled.addEventListener('change', function () {
      if (el.sysEnabled.checked) subscribeSys(); else unsubscribeSys();
    });

    window.addEventListener('beforeunload', function () { if (client) client.end(true); });
  }

  init();
})();
