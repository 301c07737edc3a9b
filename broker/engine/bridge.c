/* broker/engine/bridge.c - bridges: a local durable session whose client is
 * the remote broker, reached by dialling out (bridge.h).
 *
 * Life of a bridge: hf_bridges_start() makes its session and subscribes it
 * to the local side of every `out`/`both` topic (No Local, so what the
 * bridge itself brought in never goes back; Retain As Published), then a
 * timer dials the first address. Dialled, the connection becomes an
 * ordinary client (client.c) that sends CONNECT instead of waiting for one;
 * on the remote's CONNACK the session is attached to it exactly as a
 * resuming client's is: what was in flight is sent again in order, then
 * the queue streams from the store as the remote's window allows. PUBACK,
 * PUBREC and PUBCOMP from the remote take entries off the queue through
 * the same code as a subscriber's. When the connection ends the session
 * stays (the outbox keeps filling, on disk) and the timer dials again after
 * restart_timeout (constant, or backing off between base and cap).
 *
 * Invariant (engine and store): the bridge's outbox is its session's
 * queue, nothing else; every entry of it is written in the transaction of
 * the PUBLISH that made it (route.c) and deleted in the transaction that
 * handles the remote's final acknowledgment (ack.c), so the store's queue
 * records for the session are exactly the messages acknowledged locally
 * and not yet acknowledged by the remote. dur_check.c checks sessions,
 * bridges' included, after every crash and restart round.
 *
 * Loop thread only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "broker.h"
#include "client.h"
#include "connect.h"
#include "durable.h"
#include "msg.h"
#include "outq.h"
#include "route.h"
#include "session.h"
#include "subscribe.h"

enum br_state {
	BR_IDLE = 0,   /* waiting for the timer to dial */
	BR_DIALING,    /* the dialler has it */
	BR_CONNECTING, /* connected, CONNECT sent, waiting for CONNACK */
	BR_UP,         /* CONNACK 0 received: the session is attached */
	BR_STOPPED,    /* shutting down */
};

struct hf_bridge {
	struct hf_broker *b;
	const struct hf_bridge_conf *conf;
	struct hf_session *s;
	struct hf_client *c; /* the connection, from accept to closed */
	uv_timer_t timer;    /* the next dial, or the next PINGREQ */
	bool timer_ready;
	enum br_state state;
	size_t addr;       /* the address dialled last (conf->addrs) */
	uint32_t delay_ms; /* the last restart delay (backoff) */
	uint16_t sub_pid, unsub_pid;
	bool probing; /* a dial to the main address while on another */
	int64_t up_since;     /* monotonic ms */
	int64_t outbox_since; /* monotonic ms the outbox was last empty */
	uint64_t connects, failures, dropped;
	uint8_t *tbuf; /* a mapped topic */
	size_t tcap;
	char why[160]; /* why the last attempt or connection ended */
};

static const struct hf_bridge_addr *
cur_addr(const struct hf_bridge *br)
{
	return &br->conf->addrs[br->addr];
}

const struct hf_bridge_conf *
hf_bridge_conf(const struct hf_bridge *br)
{
	return br->conf;
}

struct hf_bridge *
hf_bridge_of(const struct hf_client *c)
{
	if (!c->policy || !c->policy->outgoing)
		return NULL;
	struct hf_broker *b = c->b;
	for (size_t i = 0; i < b->n_bridges; i++)
		if (b->bridges[i].c == c)
			return &b->bridges[i];
	return NULL;
}

/* ---- notifications ------------------------------------------------------ */

/* The local notification: retained "1" or "0" on notification_topic. */
static void
notify_local(struct hf_bridge *br, bool up)
{
	if (!br->conf->notifications)
		return;
	struct hf_msg *m = hf_msg_new_simple(br->conf->notification_topic,
	                                     up ? "1" : "0", 1, 1, true);
	if (!m)
		return;
	hf_publish_route(br->b, m, NULL, false);
	hf_msg_unref(m);
}

/* The same on the remote (unless notifications_local_only): a retained
 * PUBLISH at QoS 0 (its will, set in CONNECT, says "0" when the link
 * breaks). */
static void
notify_remote(struct hf_bridge *br, bool up)
{
	const struct hf_bridge_conf *bc = br->conf;
	if (!bc->notifications || bc->notifications_local_only || !br->c)
		return;
	struct hf_packet p;
	memset(&p, 0, sizeof(p));
	p.type = HF_PUBLISH;
	p.u.publish.retain = true;
	p.u.publish.topic.p = (const uint8_t *)bc->notification_topic;
	p.u.publish.topic.len = strlen(bc->notification_topic);
	p.u.publish.payload.p = (const uint8_t *)(up ? "1" : "0");
	p.u.publish.payload.len = 1;
	hf_client_send(br->c, &p);
}

/* ---- dialling ------------------------------------------------------------ */

static void timer_cb(uv_timer_t *t);
static int bridge_accept(void *ctx, struct hf_conn *conn);

/* Decorrelated jitter between base and cap (mosquitto's restart_timeout
 * with two values), or the constant base. */
static uint32_t
next_delay(struct hf_bridge *br)
{
	const struct hf_bridge_conf *bc = br->conf;
	uint32_t base = bc->restart_base * 1000u;
	if (!bc->restart_cap)
		return base;
	uint32_t cap = bc->restart_cap * 1000u;
	uint32_t prev = br->delay_ms ? br->delay_ms : base;
	uint64_t hi = (uint64_t)prev * 3;
	if (hi > cap)
		hi = cap;
	uint32_t d = base;
	if (hi > base)
		d = base + (uint32_t)((uint64_t)rand() % (hi - base + 1));
	br->delay_ms = d;
	return d;
}

static void
schedule(struct hf_bridge *br, uint64_t ms)
{
	if (br->state == BR_STOPPED || !br->timer_ready)
		return;
	br->state = BR_IDLE;
	uv_timer_start(&br->timer, timer_cb, ms, 0);
}

static void
dial_failed(void *ctx, const char *why)
{
	struct hf_bridge *br = ctx;
	struct hf_broker *b = br->b;
	if (br->state != BR_DIALING)
		return;
	const struct hf_bridge_addr *a = cur_addr(br);
	snprintf(br->why, sizeof(br->why), "%s", why);
	br->failures++;
	hf_log_ev(&b->log, HF_LOG_NOTICE, "bridge_failed", br->conf->name, NULL,
	          "Bridge %s: connecting to %s:%u failed: %s.", br->conf->name,
	          a->host, a->port, why);
	/* The next address after a failure, in both modes. */
	br->addr = (br->addr + 1) % br->conf->n_addrs;
	schedule(br, next_delay(br));
}

static int
start_dial(struct hf_bridge *br, const struct hf_bridge_addr *a,
           struct hf_acceptor acc, void (*failed)(void *, const char *),
           char *err, size_t errlen)
{
	struct hf_broker *b = br->b;
	const struct hf_bridge_conf *bc = br->conf;
	struct hf_dial_tls tls = {
	    .cafile = bc->cafile,
	    .capath = bc->capath,
	    .certfile = bc->certfile,
	    .keyfile = bc->keyfile,
	    .insecure = bc->insecure,
	    .tls_version = bc->tls_version,
	};
	bool use_tls = bc->cafile || bc->capath;
	return b->dialer.dial(b->dialer.dctx, a->host, a->port,
	                      use_tls ? &tls : NULL, acc, failed, br, err,
	                      errlen);
}

static void
dial(struct hf_bridge *br)
{
	struct hf_broker *b = br->b;
	const struct hf_bridge_conf *bc = br->conf;
	const struct hf_bridge_addr *a = cur_addr(br);
	if (!b->dialer.dial) {
		hf_log(&b->log, HF_LOG_ERR,
		       "Error: bridge %s cannot dial: no dialler.", bc->name);
		return;
	}
	struct hf_acceptor acc = {bridge_accept, br};
	char err[160] = "";
	br->state = BR_DIALING;
	hf_log_ev(&b->log, HF_LOG_NOTICE, "bridge_connecting", bc->name, NULL,
	          "Connecting bridge %s (%s:%u)", bc->name, a->host, a->port);
	if (start_dial(br, a, acc, dial_failed, err, sizeof(err)) != 0)
		dial_failed(br, err[0] ? err : "cannot dial");
}

/* Connected to a fallback address (round_robin false): the main one is
 * tried about once per keepalive_interval, and when it answers the link
 * moves back to it (mosquitto's bridges do the same). The probe is a bare
 * dial, closed at once. */
static int
probe_accept(void *ctx, struct hf_conn *conn)
{
	struct hf_bridge *br = ctx;
	(void)conn;
	br->probing = false;
	if (br->state == BR_UP && br->c && br->addr != 0) {
		const struct hf_bridge_addr *m = &br->conf->addrs[0];
		snprintf(br->why, sizeof(br->why),
		         "the main address %s:%u answers again", m->host,
		         m->port);
		hf_client_close(br->c, -1);
	}
	return -1; /* the probe's connection is closed by net */
}

static void
probe_failed(void *ctx, const char *why)
{
	struct hf_bridge *br = ctx;
	(void)why;
	br->probing = false;
}

static void
probe_main(struct hf_bridge *br)
{
	if (br->probing || br->addr == 0 || br->conf->round_robin ||
	    !br->b->dialer.dial)
		return;
	char err[160];
	br->probing = start_dial(br, &br->conf->addrs[0],
	                         (struct hf_acceptor){probe_accept, br},
	                         probe_failed, err, sizeof(err)) == 0;
}

/* Keep the link alive: a PINGREQ every keepalive_interval while up (the
 * engine's keepalive check closes it when nothing comes back). */
static void
ping(struct hf_bridge *br)
{
	if (!br->c || br->state != BR_UP)
		return;
	struct hf_packet p;
	memset(&p, 0, sizeof(p));
	p.type = HF_PINGREQ;
	hf_client_send(br->c, &p);
}

static void
timer_cb(uv_timer_t *t)
{
	struct hf_bridge *br = t->data;
	if (br->state == BR_IDLE)
		dial(br);
	else if (br->state == BR_UP) {
		ping(br);
		probe_main(br);
	}
}

/* The CONNECT the remote gets, as mosquitto's bridge sends it. */
static void
send_connect(struct hf_bridge *br)
{
	const struct hf_bridge_conf *bc = br->conf;
	struct hf_packet p;
	memset(&p, 0, sizeof(p));
	p.type = HF_CONNECT;
	struct hf_connect *k = &p.u.connect;
	k->proto_ver = bc->protocol_version;
	k->bridge = bc->try_private && bc->protocol_version != HF_PROTO_V5;
	k->clean_start = bc->cleansession;
	k->keepalive = bc->keepalive_interval;
	k->client_id.p = (const uint8_t *)bc->remote_clientid;
	k->client_id.len = strlen(bc->remote_clientid);
	if (bc->remote_username) {
		k->has_username = true;
		k->username.p = (const uint8_t *)bc->remote_username;
		k->username.len = strlen(bc->remote_username);
	}
	if (bc->remote_password) {
		k->has_password = true;
		k->password.p = (const uint8_t *)bc->remote_password;
		k->password.len = strlen(bc->remote_password);
	}
	if (bc->notifications && !bc->notifications_local_only) {
		k->will = true;
		k->will_qos = 1;
		k->will_retain = true;
		k->will_topic.p = (const uint8_t *)bc->notification_topic;
		k->will_topic.len = strlen(bc->notification_topic);
		k->will_payload.p = (const uint8_t *)"0";
		k->will_payload.len = 1;
	}
	if (bc->protocol_version == HF_PROTO_V5) {
		if (bc->session_expiry_interval) {
			k->props.present |= HF_PP_SESSION_EXPIRY;
			k->props.session_expiry = bc->session_expiry_interval;
		}
		if (bc->receive_maximum && bc->receive_maximum != 65535) {
			k->props.present |= HF_PP_RECEIVE_MAX;
			k->props.receive_max = bc->receive_maximum;
		}
		if (bc->max_packet_size) {
			k->props.present |= HF_PP_MAX_PACKET_SIZE;
			k->props.max_packet_size = bc->max_packet_size;
		}
	}
	hf_client_send(br->c, &p);
}

static int
bridge_accept(void *ctx, struct hf_conn *conn)
{
	struct hf_bridge *br = ctx;
	struct hf_broker *b = br->b;
	if (br->state != BR_DIALING || b->shutting_down)
		return -1;
	if (hf_engine_accept(b, conn) != 0) {
		dial_failed(br, "out of memory");
		return -1;
	}
	struct hf_client *c = conn->owner;
	br->c = c;
	br->state = BR_CONNECTING;
	c->proto = br->conf->protocol_version;
	c->keepalive = br->conf->keepalive_interval;
	send_connect(br);
	return 0;
}

/* ---- the remote's answers ----------------------------------------------- */

/* One SUBSCRIBE for the remote side of every `in`/`both` topic, and, when
 * the remote keeps the session (cleansession false) and
 * bridge_attempt_unsubscribe is on, one UNSUBSCRIBE for the `out`-only ones
 * (a remote session may hold them from an earlier configuration). */
static void
send_subscriptions(struct hf_bridge *br)
{
	const struct hf_bridge_conf *bc = br->conf;
	struct hf_wbuf subs = {0}, unsubs = {0};
	uint32_t n_sub = 0, n_unsub = 0;
	bool v5 = bc->protocol_version == HF_PROTO_V5;
	for (size_t i = 0; i < bc->n_topics; i++) {
		const struct hf_bridge_topic *t = &bc->topics[i];
		size_t len = strlen(t->remote_topic);
		uint8_t hdr[2] = {(uint8_t)(len >> 8), (uint8_t)len};
		if (t->dir & HF_BRIDGE_IN) {
			uint8_t opts = t->qos;
			if (v5) /* no echo of what we send it; flags kept */
				opts |= HF_SUBOPT_NO_LOCAL | HF_SUBOPT_RAP;
			if (hf_wbuf_put(&subs, hdr, 2) != HF_OK ||
			    hf_wbuf_put(&subs, t->remote_topic, len) != HF_OK ||
			    hf_wbuf_put(&subs, &opts, 1) != HF_OK)
				goto oom;
			n_sub++;
		} else if (bc->attempt_unsubscribe && !bc->cleansession) {
			if (hf_wbuf_put(&unsubs, hdr, 2) != HF_OK ||
			    hf_wbuf_put(&unsubs, t->remote_topic, len) != HF_OK)
				goto oom;
			n_unsub++;
		}
	}
	struct hf_packet p;
	if (n_unsub && (br->unsub_pid = hf_session_alloc_pid(br->s))) {
		memset(&p, 0, sizeof(p));
		p.type = HF_UNSUBSCRIBE;
		p.u.subscribe.pid = br->unsub_pid;
		p.u.subscribe.entries.p = unsubs.p;
		p.u.subscribe.entries.len = unsubs.len;
		p.u.subscribe.n = n_unsub;
		hf_client_send(br->c, &p);
	}
	if (n_sub && (br->sub_pid = hf_session_alloc_pid(br->s))) {
		memset(&p, 0, sizeof(p));
		p.type = HF_SUBSCRIBE;
		p.u.subscribe.pid = br->sub_pid;
		p.u.subscribe.entries.p = subs.p;
		p.u.subscribe.entries.len = subs.len;
		p.u.subscribe.n = n_sub;
		hf_client_send(br->c, &p);
	}
	hf_wbuf_free(&subs);
	hf_wbuf_free(&unsubs);
	return;
oom:
	hf_wbuf_free(&subs);
	hf_wbuf_free(&unsubs);
	hf_client_close(br->c, HF_RC_UNSPECIFIED);
}

static const char *
connack_reason(uint8_t proto, uint8_t rc)
{
	if (proto != HF_PROTO_V5) {
		static const char *const v3[] = {
		    "accepted",
		    "unacceptable protocol version",
		    "identifier rejected",
		    "server unavailable",
		    "bad user name or password",
		    "not authorised"};
		return rc < 6 ? v3[rc] : "unknown";
	}
	switch (rc) {
	case HF_RC_UNSUPPORTED_PROTOCOL:
		return "unsupported protocol version";
	case HF_RC_CLIENT_ID_INVALID:
		return "client identifier not valid";
	case HF_RC_BAD_USER_OR_PASSWORD:
		return "bad user name or password";
	case HF_RC_NOT_AUTHORIZED:
		return "not authorized";
	case HF_RC_SERVER_UNAVAILABLE:
		return "server unavailable";
	case HF_RC_SERVER_BUSY:
		return "server busy";
	case HF_RC_BANNED:
		return "banned";
	default:
		return "refused";
	}
}

/* The bridge's window to the remote (bridge_max_inflight, or chosen):
 * mosquitto 2.0 closes a 3.1.1 connection that has more than its
 * max_inflight_messages (20) QoS 2 messages awaiting PUBREL, so a 3.1.1
 * bridge with a QoS 2 `out` line keeps to 20; otherwise 100 messages in
 * flight, five times a client's default, because a remote that syncs
 * before it acknowledges (a Holdfast core) takes a window per commit.
 * An MQTT 5 remote's Receive Maximum caps it (hf_bridge_connack). */
static uint32_t
bridge_window(const struct hf_bridge_conf *bc)
{
	if (bc->max_inflight)
		return bc->max_inflight;
	if (bc->protocol_version != HF_PROTO_V5)
		for (size_t i = 0; i < bc->n_topics; i++)
			if ((bc->topics[i].dir & HF_BRIDGE_OUT) &&
			    bc->topics[i].qos == 2)
				return 20;
	return 100;
}

void
hf_bridge_connack(struct hf_client *c, const struct hf_connack *p)
{
	struct hf_bridge *br = hf_bridge_of(c);
	struct hf_broker *b = c->b;
	if (!br || br->state != BR_CONNECTING) {
		hf_client_close(c, -1);
		return;
	}
	const struct hf_bridge_conf *bc = br->conf;
	const struct hf_bridge_addr *a = cur_addr(br);
	if (p->rc != 0) {
		snprintf(br->why, sizeof(br->why),
		         "the remote refused the connection: %s (0x%02x)",
		         connack_reason(c->proto, p->rc), p->rc);
		hf_log_ev(&b->log, HF_LOG_WARNING, "bridge_refused", bc->name,
		          NULL,
		          "Bridge %s: %s:%u refused the connection: %s "
		          "(0x%02x).",
		          bc->name, a->host, a->port,
		          connack_reason(c->proto, p->rc), p->rc);
		hf_client_close(c, -1);
		return;
	}
	struct hf_session *s = br->s;
	if (s->client) { /* cannot happen: one connection per bridge */
		hf_client_close(c, -1);
		return;
	}
	hf_client_set_state(c, HF_C_CONNECTED);
	c->last_rx = hf_now_ms(b);
	b->n_clients_connected++;
	b->stats.connections_total++;
	uint32_t window = bridge_window(bc);
	if (c->proto == HF_PROTO_V5) {
		if ((p->props.present & HF_PP_RECEIVE_MAX) &&
		    p->props.receive_max < window)
			window = p->props.receive_max;
		if (p->props.present & HF_PP_MAX_PACKET_SIZE)
			c->max_packet = p->props.max_packet_size;
		if ((p->props.present & HF_PP_SERVER_KEEP_ALIVE) &&
		    p->props.server_keep_alive)
			c->keepalive = p->props.server_keep_alive;
	}
	c->recv_max = (uint16_t)window;
	s->client = c;
	s->last_ack_ms = hf_now_ms(b);
	c->s = s;
	br->state = BR_UP;
	br->up_since = hf_now_ms(b);
	br->delay_ms = 0;
	br->connects++;
	br->why[0] = '\0';
	hf_log_ev(&b->log, HF_LOG_NOTICE, "bridge_connected", bc->name, NULL,
	          "Bridge %s connected to %s:%u (remote session %s; %u "
	          "messages in the outbox).",
	          bc->name, a->host, a->port,
	          p->session_present ? "resumed" : "new",
	          (unsigned)(s->n_inflight + s->n_queued));
	send_subscriptions(br);
	notify_remote(br, true);
	notify_local(br, true);
	/* What was in flight first, in order, then the queue. */
	if (p->session_present)
		hf_session_resend(s);
	else
		hf_session_resend_fresh(s);
	hf_session_pump(s);
	if (br->timer_ready && c->keepalive)
		uv_timer_start(&br->timer, timer_cb, c->keepalive * 1000u,
		               c->keepalive * 1000u);
}

void
hf_bridge_suback(struct hf_client *c, uint8_t type, const struct hf_suback *p)
{
	struct hf_bridge *br = hf_bridge_of(c);
	if (!br)
		return;
	const struct hf_bridge_conf *bc = br->conf;
	uint16_t *pid = type == HF_SUBACK ? &br->sub_pid : &br->unsub_pid;
	if (p->pid != *pid || !*pid)
		return;
	hf_session_free_pid(br->s, *pid);
	*pid = 0;
	if (type != HF_SUBACK)
		return;
	uint32_t k = 0;
	for (size_t i = 0; i < bc->n_topics && k < p->n; i++) {
		const struct hf_bridge_topic *t = &bc->topics[i];
		if (!(t->dir & HF_BRIDGE_IN))
			continue;
		uint8_t rc = p->rcs[k++];
		if (rc >= 0x80)
			hf_log_ev(&c->b->log, HF_LOG_WARNING,
			          "bridge_subscribe", bc->name, NULL,
			          "Bridge %s: the remote refused the "
			          "subscription to %s (0x%02x).",
			          bc->name, t->remote_topic, rc);
	}
}

void
hf_bridge_closed(struct hf_client *c)
{
	struct hf_bridge *br = hf_bridge_of(c);
	if (!br)
		return;
	struct hf_broker *b = br->b;
	const struct hf_bridge_conf *bc = br->conf;
	bool was_up = br->state == BR_UP;
	br->c = NULL;
	br->sub_pid = br->unsub_pid = 0;
	if (br->timer_ready)
		uv_timer_stop(&br->timer);
	if (br->state == BR_STOPPED)
		return;
	if (was_up) {
		const struct hf_bridge_addr *a = cur_addr(br);
		hf_log_ev(&b->log, HF_LOG_NOTICE, "bridge_disconnected",
		          bc->name, NULL,
		          "Bridge %s disconnected from %s:%u%s%s (%u messages "
		          "in the outbox).",
		          bc->name, a->host, a->port, br->why[0] ? ": " : "",
		          br->why,
		          (unsigned)(br->s->n_inflight + br->s->n_queued));
		notify_local(br, false);
		/* Not round robin: back to the main address. */
		if (!bc->round_robin)
			br->addr = 0;
		else
			br->addr = (br->addr + 1) % bc->n_addrs;
		br->delay_ms = 0;
	} else {
		const struct hf_bridge_addr *a = cur_addr(br);
		hf_log_ev(&b->log, HF_LOG_NOTICE, "bridge_failed", bc->name,
		          NULL,
		          "Bridge %s: connection to %s:%u ended before "
		          "CONNACK%s%s.",
		          bc->name, a->host, a->port, br->why[0] ? ": " : "",
		          br->why);
		br->failures++;
		br->addr = (br->addr + 1) % bc->n_addrs;
	}
	schedule(br, next_delay(br));
}

/* ---- topics -------------------------------------------------------------- */

static bool
put_topic(struct hf_bridge *br, const char *prefix, const uint8_t *rest,
          size_t rest_len, struct hf_bytes *out)
{
	size_t pl = strlen(prefix), n = pl + rest_len;
	if (n > 65535)
		return false;
	if (n > br->tcap) {
		uint8_t *nb = realloc(br->tbuf, n ? n : 1);
		if (!nb)
			return false;
		br->tbuf = nb;
		br->tcap = n;
	}
	memcpy(br->tbuf, prefix, pl);
	if (rest_len)
		memcpy(br->tbuf + pl, rest, rest_len);
	out->p = br->tbuf;
	out->len = n;
	return true;
}

/* Map a topic from one side to the other through the first topic line of
 * direction dir whose `from` side matches: from_prefix is taken off and
 * to_prefix put on (for a pattern "", the prefixes are whole topics). */
static bool
map_topic(struct hf_bridge *br, unsigned dir, bool in, const uint8_t *t,
          size_t len, struct hf_bytes *out)
{
	const struct hf_bridge_conf *bc = br->conf;
	for (size_t i = 0; i < bc->n_topics; i++) {
		const struct hf_bridge_topic *bt = &bc->topics[i];
		if (!(bt->dir & dir))
			continue;
		const char *from = in ? bt->remote_topic : bt->local_topic;
		const char *fp = in ? bt->remote_prefix : bt->local_prefix;
		const char *tp = in ? bt->local_prefix : bt->remote_prefix;
		if (!hf_topic_matches((const uint8_t *)from, strlen(from), t,
		                      len))
			continue;
		if (bt->pattern[0] == '\0')
			return put_topic(br, tp, NULL, 0, out);
		size_t fl = strlen(fp);
		if (len < fl)
			continue;
		return put_topic(br, tp, t + fl, len - fl, out);
	}
	return false;
}

bool
hf_bridge_topic_in(struct hf_client *c, struct hf_bytes *topic)
{
	struct hf_bridge *br = hf_bridge_of(c);
	if (!br)
		return true;
	struct hf_bytes out;
	if (!map_topic(br, HF_BRIDGE_IN, true, topic->p, topic->len, &out))
		return false;
	*topic = out;
	return true;
}

bool
hf_bridge_topic_out(struct hf_client *c, const uint8_t *t, size_t len,
                    struct hf_bytes *out)
{
	struct hf_bridge *br = hf_bridge_of(c);
	if (!br)
		return false;
	return map_topic(br, HF_BRIDGE_OUT, false, t, len, out);
}

bool
hf_bridge_outgoing_retain(const struct hf_client *c)
{
	struct hf_bridge *br = hf_bridge_of(c);
	return !br || br->conf->outgoing_retain;
}

/* ---- start and stop ------------------------------------------------------ */

/* The session's subscriptions become exactly the local side of the `out`
 * topics: what an earlier configuration left is removed. */
static int
sync_subscriptions(struct hf_bridge *br)
{
	struct hf_session *s = br->s;
	const struct hf_bridge_conf *bc = br->conf;
	for (uint32_t i = s->n_subs; i-- > 0;) {
		const struct hf_subrec *r = &s->subs[i];
		bool want = false;
		for (size_t k = 0; k < bc->n_topics && !want; k++)
			want =
			    (bc->topics[k].dir & HF_BRIDGE_OUT) &&
			    strcmp(bc->topics[k].local_topic, r->filter) == 0;
		if (!want)
			hf_session_unsubscribe(s, (const uint8_t *)r->filter,
			                       r->len);
	}
	for (size_t k = 0; k < bc->n_topics; k++) {
		const struct hf_bridge_topic *t = &bc->topics[k];
		if (!(t->dir & HF_BRIDGE_OUT))
			continue;
		uint8_t opts =
		    (uint8_t)(t->qos | HF_SUBOPT_NO_LOCAL | HF_SUBOPT_RAP);
		if (hf_session_subscribe(s, (const uint8_t *)t->local_topic,
		                         strlen(t->local_topic), opts) != 0)
			return -1;
	}
	return 0;
}

static int
start_one(struct hf_broker *b, struct hf_bridge *br,
          const struct hf_bridge_conf *bc)
{
	br->b = b;
	br->conf = bc;
	const char *id = bc->local_clientid;
	size_t idlen = strlen(id);
	struct hf_session *s = hf_map_get(&b->sessions, id, idlen);
	if (s && bc->local_cleansession) {
		/* A clean local session: what an earlier run queued goes. */
		hf_session_free(s, false);
		s = NULL;
	}
	if (!s && !(s = hf_session_new(b, (const uint8_t *)id, idlen)))
		return -1;
	br->s = s;
	s->bridge = br;
	s->proto = bc->protocol_version;
	s->expiry = UINT32_MAX;
	s->persistent = true;
	s->offline_since = hf_now_ms(b);
	if (!s->next_pid)
		s->next_pid = 1;
	if (sync_subscriptions(br) != 0)
		return -1;
	hf_dur_session_save(s, true);
	br->outbox_since = hf_now_ms(b);
	if (uv_timer_init(b->loop, &br->timer) != 0)
		return -1;
	br->timer.data = br;
	br->timer_ready = true;
	notify_local(br, false);
	hf_log_ev(&b->log, HF_LOG_INFO, "bridge_start", bc->name, NULL,
	          "Bridge %s: local session %s, %u messages in the outbox.",
	          bc->name, s->id, (unsigned)(s->n_inflight + s->n_queued));
	schedule(br, 0);
	return 0;
}

int
hf_bridges_start(struct hf_broker *b)
{
	const struct hf_config *conf = b->conf;
	if (!conf->n_bridges)
		return 0;
	b->bridges = calloc(conf->n_bridges, sizeof(*b->bridges));
	if (!b->bridges) {
		hf_log(&b->log, HF_LOG_ERR, "Error: out of memory.");
		return -1;
	}
	b->n_bridges = conf->n_bridges;
	for (size_t i = 0; i < conf->n_bridges; i++) {
		if (start_one(b, &b->bridges[i], &conf->bridges[i]) != 0) {
			hf_log(&b->log, HF_LOG_ERR,
			       "Error: bridge %s could not start (out of "
			       "memory).",
			       conf->bridges[i].name);
			return -1;
		}
	}
	return 0;
}

static void
timer_closed(uv_handle_t *h)
{
	(void)h;
}

void
hf_bridges_stop(struct hf_broker *b)
{
	for (size_t i = 0; i < b->n_bridges; i++) {
		struct hf_bridge *br = &b->bridges[i];
		if (br->state == BR_STOPPED)
			continue;
		bool up = br->state == BR_UP;
		br->state = BR_STOPPED;
		if (br->timer_ready) {
			uv_timer_stop(&br->timer);
			uv_close((uv_handle_t *)&br->timer, timer_closed);
			br->timer_ready = false;
		}
		if (!br->c)
			continue;
		if (up) {
			notify_remote(br, false);
			struct hf_packet p;
			memset(&p, 0, sizeof(p));
			p.type = HF_DISCONNECT;
			hf_client_send(br->c, &p);
			br->c->disconnect_clean = true;
		}
		hf_client_close(br->c, -1);
	}
}

void
hf_bridges_free(struct hf_broker *b)
{
	for (size_t i = 0; i < b->n_bridges; i++)
		free(b->bridges[i].tbuf);
	free(b->bridges);
	b->bridges = NULL;
	b->n_bridges = 0;
}

/* ---- visibility ---------------------------------------------------------- */

void
hf_bridge_dropped(struct hf_bridge *br, unsigned n)
{
	if (!n)
		return;
	uint64_t before = br->dropped;
	br->dropped += n;
	if (before == 0 || before / 10000 != br->dropped / 10000)
		hf_log_ev(&br->b->log, HF_LOG_WARNING, "bridge_dropped",
		          br->conf->name, NULL,
		          "Bridge %s: outbox full, oldest messages dropped "
		          "(bridge_outbox_overflow drop_oldest): %llu so far.",
		          br->conf->name, (unsigned long long)br->dropped);
}

/* The age of the outbox's oldest message: from its store record (when it
 * was queued, wall clock); for an outbox not in the store (no persistence,
 * or older records), the time since the outbox was last empty, an upper
 * bound. */
static double
outbox_age_s(struct hf_bridge *br, int64_t now)
{
	struct hf_session *s = br->s;
	if (!s->n_inflight && !s->n_queued) {
		br->outbox_since = now;
		return 0;
	}
	int64_t at = hf_dur_oldest_queued_at(s), wall = hf_wall_ms();
	if (at > 0)
		return at < wall ? (double)(wall - at) / 1000.0 : 0;
	return (double)(now - br->outbox_since) / 1000.0;
}

int
hf_bridges_metrics(struct hf_broker *b, struct hf_wbuf *out)
{
	if (!b->n_bridges)
		return 0;
	static const char *const head =
	    "# HELP holdfast_bridge_connected 1 while the bridge is "
	    "connected to its remote.\n"
	    "# TYPE holdfast_bridge_connected gauge\n"
	    "# HELP holdfast_bridge_outbox_messages Messages acknowledged "
	    "here and not yet by the remote.\n"
	    "# TYPE holdfast_bridge_outbox_messages gauge\n"
	    "# HELP holdfast_bridge_outbox_bytes Their payload bytes.\n"
	    "# TYPE holdfast_bridge_outbox_bytes gauge\n"
	    "# HELP holdfast_bridge_outbox_oldest_seconds Age of the "
	    "outbox's oldest message.\n"
	    "# TYPE holdfast_bridge_outbox_oldest_seconds gauge\n"
	    "# HELP holdfast_bridge_connects_total Connections made.\n"
	    "# TYPE holdfast_bridge_connects_total counter\n"
	    "# HELP holdfast_bridge_failures_total Attempts that failed.\n"
	    "# TYPE holdfast_bridge_failures_total counter\n"
	    "# HELP holdfast_bridge_outbox_dropped_total Oldest messages "
	    "dropped for room (bridge_outbox_overflow drop_oldest).\n"
	    "# TYPE holdfast_bridge_outbox_dropped_total counter\n";
	if (hf_wbuf_put(out, head, strlen(head)) != HF_OK)
		return -1;
	int64_t now = hf_now_ms(b);
	for (size_t i = 0; i < b->n_bridges; i++) {
		struct hf_bridge *br = &b->bridges[i];
		const struct hf_session *s = br->s;
		char line[768];
		const char *n = br->conf->name;
		int len = snprintf(
		    line, sizeof(line),
		    "holdfast_bridge_connected{bridge=\"%s\"} %d\n"
		    "holdfast_bridge_outbox_messages{bridge=\"%s\"} %u\n"
		    "holdfast_bridge_outbox_bytes{bridge=\"%s\"} %llu\n"
		    "holdfast_bridge_outbox_oldest_seconds{bridge=\"%s\"} "
		    "%.3f\n"
		    "holdfast_bridge_connects_total{bridge=\"%s\"} %llu\n"
		    "holdfast_bridge_failures_total{bridge=\"%s\"} %llu\n"
		    "holdfast_bridge_outbox_dropped_total{bridge=\"%s\"} "
		    "%llu\n",
		    n, br->state == BR_UP ? 1 : 0, n,
		    (unsigned)(s->n_inflight + s->n_queued), n,
		    (unsigned long long)(s->queued_bytes + s->inflight_bytes),
		    n, outbox_age_s(br, now), n,
		    (unsigned long long)br->connects, n,
		    (unsigned long long)br->failures, n,
		    (unsigned long long)br->dropped);
		if (len < 0 || (size_t)len >= sizeof(line) ||
		    hf_wbuf_put(out, line, (size_t)len) != HF_OK)
			return -1;
	}
	return 0;
}

void
hf_bridges_sys(struct hf_broker *b,
               void (*put)(struct hf_broker *b, const char *topic,
                           const char *value))
{
	int64_t now = hf_now_ms(b);
	for (size_t i = 0; i < b->n_bridges; i++) {
		struct hf_bridge *br = &b->bridges[i];
		const struct hf_session *s = br->s;
		char topic[256], v[32];
		const char *n = br->conf->name;
		snprintf(topic, sizeof(topic),
		         "$SYS/broker/bridge/%s/connected", n);
		put(b, topic, br->state == BR_UP ? "1" : "0");
		snprintf(topic, sizeof(topic),
		         "$SYS/broker/bridge/%s/outbox/messages", n);
		snprintf(v, sizeof(v), "%u",
		         (unsigned)(s->n_inflight + s->n_queued));
		put(b, topic, v);
		snprintf(topic, sizeof(topic),
		         "$SYS/broker/bridge/%s/outbox/bytes", n);
		snprintf(
		    v, sizeof(v), "%llu",
		    (unsigned long long)(s->queued_bytes + s->inflight_bytes));
		put(b, topic, v);
		snprintf(topic, sizeof(topic),
		         "$SYS/broker/bridge/%s/outbox/oldest_seconds", n);
		snprintf(v, sizeof(v), "%.0f", outbox_age_s(br, now));
		put(b, topic, v);
	}
}
