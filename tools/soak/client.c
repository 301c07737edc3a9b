/*
 * tools/soak/client.c - one simulated MQTT client: its connection, its
 * protocol exchanges and its life cycle (see soak.h).
 *
 * Design: a client is a small state machine (off -> TCP connect -> CONNECT
 * sent -> SUBSCRIBE sent -> ready -> closing -> off) driven by two inputs:
 * epoll events on its socket (sk_client_event) and its deadline in the heap
 * (sk_client_tick), which does everything time-based: connecting again,
 * publishing at the client's rate, PINGREQ, going offline, the slow
 * subscriber's reading modes. Output is appended to the client's buffer and
 * written once per loop turn (main.c flushes the dirty list).
 *
 * The QoS exchanges follow the specifications from the client's side:
 * a publisher keeps each QoS 1/2 message in its window until PUBACK, or
 * PUBREC then PUBCOMP, and after a reconnection resends PUBLISH with DUP
 * for those awaiting PUBACK/PUBREC and PUBREL for those awaiting PUBCOMP
 * [MQTT-4.4.0-1]; a subscriber answers QoS 1 with PUBACK and QoS 2 with
 * PUBREC, remembering the packet id until PUBREL, and a QoS 2 PUBLISH with
 * a remembered id is the same delivery again, not a new one [MQTT-4.3.3].
 *
 * A connection the broker closes is an error, except for the one case the
 * README documents: a 3.1.1 publisher whose QoS 1/2 message meets a full
 * queue is disconnected instead of refused; only the 3.1.1 publisher of
 * the slow subscriber's topics can meet one (the other queues are kept
 * small by construction), so only its disconnections are expected.
 *
 * Threading/ownership: single-threaded; a client owns its socket and
 * buffers.
 */
#include "soak.h"

#include <errno.h>
#include <math.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define NS          1000000000ull
#define MS          1000000ull
#define FL_ACK      0
#define FL_COMP     1
#define READ_MAX    (256 * 1024) /* bytes read per event, for fairness */
#define TRICKLE_B   200          /* slow subscriber: bytes per trickle read */
#define TRICKLE_NS  (100 * MS)   /* ... every 100 ms: 2 KB/s */
#define CONNECT_TMO (30 * NS)
#define CLOSE_TMO   (5 * NS)
#define PING_TMO    (20 * NS)

static const char *const kind_name[K_NKINDS] = {
    "publisher", "subscriber", "transient", "churner", "slow", "idle"};

static int
is_up(const struct sk_client *c)
{
	return c->state == ST_SUBACK || c->state == ST_READY ||
	       c->state == ST_CLOSING;
}

static void
mark_dirty(struct sk *k, struct sk_client *c)
{
	if (!c->dirty) {
		c->dirty = 1;
		k->dirty[k->ndirty++] = c;
	}
}

void
sk_set_interest(struct sk *k, struct sk_client *c)
{
	struct epoll_event ev;
	uint32_t want;

	if (c->fd < 0)
		return;
	want = (c->reading ? EPOLLIN : 0) |
	       (c->state == ST_TCP || c->out.len ? EPOLLOUT : 0);
	if (want == c->events)
		return;
	ev.events = want;
	ev.data.ptr = c;
	epoll_ctl(k->epfd, EPOLL_CTL_MOD, c->fd, &ev);
	c->events = (uint8_t)want;
}

/* Close the socket and forget the connection's buffers (not its session
 * state: packet ids, flights and QoS 2 ids outlive the connection). */
static void
conn_drop(struct sk *k, struct sk_client *c, int rst)
{
	if (c->fd < 0)
		return;
	if (is_up(c))
		k->connected--;
	if (c->state == ST_TCP || c->state == ST_CONNACK)
		k->connecting--;
	if (rst) {
		struct linger l = {1, 0};

		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	}
	epoll_ctl(k->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->state = ST_OFF;
	c->events = 0;
	c->pinging = 0;
	c->crash_at = 0;
	c->in.len = c->in.off = 0;
	c->out.len = c->out.off = 0;
	k->tot.closes++;
}

/* Offline durations by kind; the subscribers' are bounded so that their
 * queues stay well under max_queued_messages (population() computed
 * max_off). */
static double
offline_for(struct sk *k, struct sk_client *c)
{
	double lo, hi;

	switch (c->kind) {
	case K_SUB:
		if (sk_uniform(k, 0, 1) < 0.7)
			return sk_uniform(
			    k, 0.5, c->sub->max_off < 5 ? c->sub->max_off : 5);
		return sk_uniform(k, c->sub->max_off / 2, c->sub->max_off);
	case K_TRANS:
		if (c->version == 5) {
			/* short: the session must be resumed; long: it must
			 * have expired (checked at CONNACK) */
			if (sk_uniform(k, 0, 1) < 0.5)
				return sk_uniform(k, 0.5, c->expiry - 3.0);
			return sk_uniform(k, c->expiry + 3.0, c->expiry + 20.0);
		}
		return sk_uniform(k, 0.5, c->sub->max_off);
	case K_CHURN:
		return sk_uniform(k, 1, 10);
	default:
		lo = 1, hi = 2;
		return sk_uniform(k, lo, hi);
	}
}

static double
online_for(struct sk *k, const struct sk_client *c)
{
	switch (c->kind) {
	case K_SUB:
		return sk_uniform(k, 10, 60);
	case K_TRANS:
		return sk_uniform(k, 5, 30);
	case K_CHURN:
		return sk_uniform(k, 3, 20);
	default:
		return 0; /* stays */
	}
}

/* Whether the kind still comes and goes in this phase. */
static int
cycles(const struct sk *k, const struct sk_client *c)
{
	if (k->phase != PH_RUN)
		return 0;
	return c->kind == K_SUB || c->kind == K_TRANS || c->kind == K_CHURN;
}

static void
reconnect_later(struct sk *k, struct sk_client *c, uint64_t now, double s)
{
	c->offline_until = now + (uint64_t)(s * NS);
	sk_sched(k, c, c->offline_until);
}

/* The broker ended the connection, or it broke. */
static void
conn_lost(struct sk *k, struct sk_client *c, const char *why)
{
	uint64_t now = sk_now();

	if (c->state == ST_CLOSING) {
		/* the EOF we waited for after our DISCONNECT */
		conn_drop(k, c, 0);
		if (c->want)
			sk_sched(k, c, c->offline_until);
		return;
	}
	if (c->kind == K_PUB && c->version == 4 && c->pub->slow_topic &&
	    c->state == ST_READY)
		k->v3_refusal_closes++;
	else
		sk_error(k, &k->e_unexpected_close,
		         "%s (%s, state %d): connection lost: %s", c->id,
		         kind_name[c->kind], c->state, why);
	conn_drop(k, c, 0);
	if (c->want)
		reconnect_later(k, c, now,
		                c->kind == K_PUB ? sk_uniform(k, 1, 2) : 1);
}

void
sk_client_flush(struct sk *k, struct sk_client *c)
{
	c->dirty = 0;
	if (c->fd < 0 || c->state == ST_TCP)
		return;
	while (c->out.len) {
		ssize_t n = send(c->fd, c->out.data + c->out.off, c->out.len,
		                 MSG_NOSIGNAL);

		if (n > 0) {
			hf_bench_buf_consume(&c->out, (size_t)n);
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		conn_lost(k, c, n < 0 ? strerror(errno) : "send returned 0");
		return;
	}
	sk_set_interest(k, c);
}

static void
out_packet(struct sk *k, struct sk_client *c, uint64_t now)
{
	c->last_send = now;
	mark_dirty(k, c);
}

static void
conn_open(struct sk *k, struct sk_client *c, uint64_t now)
{
	struct epoll_event ev;
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		sk_error(k, &k->e_connect_fail, "%s: socket: %s", c->id,
		         strerror(errno));
		reconnect_later(k, c, now, 1);
		return;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&k->addr, sizeof(k->addr)) < 0 &&
	    errno != EINPROGRESS) {
		sk_error(k, &k->e_connect_fail, "%s: connect: %s", c->id,
		         strerror(errno));
		close(c->fd);
		c->fd = -1;
		reconnect_later(k, c, now, 1);
		return;
	}
	ev.events = EPOLLOUT;
	ev.data.ptr = c;
	epoll_ctl(k->epfd, EPOLL_CTL_ADD, c->fd, &ev);
	c->events = EPOLLOUT;
	c->state = ST_TCP;
	c->t_open = now;
	c->reading = 1;
	k->connecting++;
	k->tot.connects++;
	c->connects++;
	sk_sched(k, c, now + CONNECT_TMO);
}

static void
send_connect(struct sk *k, struct sk_client *c, uint64_t now)
{
	struct hf_bench_connect cc;

	cc.version = c->version;
	cc.client_id = c->id;
	cc.clean = c->clean;
	cc.keepalive = c->keepalive;
	cc.session_expiry = c->version == 5 && !c->clean ? c->expiry : 0;
	hf_bench_put_connect(&c->out, &cc);
	c->state = ST_CONNACK;
	out_packet(k, c, now);
}

static void
send_subscribe(struct sk *k, struct sk_client *c, uint64_t now)
{
	hf_bench_put_subscribe(&c->out, c->version, 1, c->sub->filter,
	                       c->sub->qos);
	c->state = ST_SUBACK;
	out_packet(k, c, now);
}

/* ---- publisher */

static uint16_t
pub_alloc_id(struct sk_pub *p)
{
	for (;;) {
		uint16_t id = p->next_id;
		int used = 0;

		p->next_id = (uint16_t)(id == 65535 ? 1 : id + 1);
		for (int i = 0; i < p->nfl; i++)
			used |= p->fl[i].id == id;
		if (!used)
			return id;
	}
}

static void
put_pub(struct sk *k, struct sk_client *c, uint16_t id, uint64_t seq,
        uint64_t ts, int retain, int dup)
{
	struct sk_pub *p = c->pub;
	uint8_t *start;

	hf_bench_put_publish(&c->out, &p->tpl, id, c->idx, seq, ts);
	start = c->out.data + c->out.off + c->out.len - p->tpl.total;
	*start |= (uint8_t)((retain ? 0x01 : 0) | (dup ? 0x08 : 0));
	out_packet(k, c, sk_now());
}

/* Exponential gaps: a Poisson process at the publisher's rate. */
static uint64_t
pub_gap(struct sk *k, const struct sk_pub *p)
{
	double u = sk_uniform(k, 1e-9, 1);

	return (uint64_t)(-log(u) / p->rate * (double)NS);
}

static void
pub_fill(struct sk *k, struct sk_client *c, uint64_t now)
{
	struct sk_pub *p = c->pub;
	int budget = 64;

	if (k->phase != PH_RUN || c->state != ST_READY)
		return;
	/* a window that was full for a while does not turn into a burst */
	if (p->next_at + NS < now)
		p->next_at = now;
	while (p->next_at <= now && budget-- > 0) {
		uint64_t seq;
		int retain;
		uint16_t id = 0;

		if (p->qos && p->nfl >= p->window)
			return;
		seq = ++p->seq;
		retain =
		    p->retain_every && seq % (uint64_t)p->retain_every == 0;
		if (p->qos) {
			struct sk_flight *f = &p->fl[p->nfl++];

			id = pub_alloc_id(p);
			f->seq = seq;
			f->ts = now;
			f->id = id;
			f->stage = FL_ACK;
			f->retain = (uint8_t)retain;
		}
		put_pub(k, c, id, seq, now, retain, 0);
		p->n_sent++;
		k->tot.sent++;
		p->next_at += pub_gap(k, p);
	}
}

/* After a reconnection: everything unacknowledged again, in order. */
static void
pub_resend(struct sk *k, struct sk_client *c)
{
	struct sk_pub *p = c->pub;

	for (int i = 0; i < p->nfl; i++) {
		struct sk_flight *f = &p->fl[i];

		if (f->stage == FL_ACK)
			put_pub(k, c, f->id, f->seq, f->ts, f->retain, 1);
		else
			hf_bench_put_ack(&c->out, HFB_PUBREL, f->id);
		p->n_resent++;
	}
	if (p->nfl)
		out_packet(k, c, sk_now());
}

static struct sk_flight *
flight_find(struct sk_pub *p, uint16_t id)
{
	for (int i = 0; i < p->nfl; i++)
		if (p->fl[i].id == id)
			return &p->fl[i];
	return NULL;
}

static void
flight_done(struct sk *k, struct sk_client *c, struct sk_flight *f)
{
	struct sk_pub *p = c->pub;
	int i = (int)(f - p->fl);

	memmove(&p->fl[i], &p->fl[i + 1],
	        (size_t)(p->nfl - i - 1) * sizeof(*f));
	p->nfl--;
	sk_sched(k, c, sk_now()); /* room in the window */
}

static void
pub_acked(struct sk *k, struct sk_pub *p, uint64_t seq, int rc)
{
	if (rc < 0x80) {
		if (!sk_bits_set(&p->acked, seq)) {
			p->n_acked++;
			k->tot.acked++;
		}
		if (rc == 0x10)
			p->n_nomatch++;
	} else if (!sk_bits_set(&p->refused, seq)) {
		p->n_refused++;
		k->tot.refused++;
	}
}

static int
on_ack(struct sk *k, struct sk_client *c, int type, const uint8_t *body,
       size_t len)
{
	struct sk_pub *p = c->pub;
	struct sk_flight *f;
	uint16_t id;
	int rc;

	if (hf_bench_get_ack(body, len, &id, &rc) < 0 || !p) {
		sk_error(k, &k->e_protocol, "%s: bad or unexpected ack", c->id);
		return 0;
	}
	f = flight_find(p, id);
	if (type == HFB_PUBCOMP) {
		if (f && f->stage == FL_COMP)
			flight_done(k, c, f);
		return 0;
	}
	if (!f || (type == HFB_PUBACK) != (p->qos == 1)) {
		sk_error(k, &k->e_protocol, "%s: %s for unknown packet id %u",
		         c->id, type == HFB_PUBACK ? "PUBACK" : "PUBREC", id);
		return 0;
	}
	if (f->stage == FL_COMP) { /* PUBREC again after our resend */
		hf_bench_put_ack(&c->out, HFB_PUBREL, id);
		out_packet(k, c, sk_now());
		return 0;
	}
	pub_acked(k, p, f->seq, rc);
	if (type == HFB_PUBREC && rc < 0x80) {
		f->stage = FL_COMP;
		hf_bench_put_ack(&c->out, HFB_PUBREL, id);
		out_packet(k, c, sk_now());
	} else {
		flight_done(k, c, f);
	}
	return 0;
}

/* ---- subscriber */

static void
count_delivery(struct sk *k, struct sk_client *c, uint32_t pub, uint64_t seq,
               int qos)
{
	struct sk_stream *st;

	c->sub->new_deliveries++;
	if (!c->checked)
		return;
	st = sk_ledger_find(c, pub);
	if (!st) {
		sk_error(k, &k->e_unexpected_topic,
		         "%s: got %s seq %llu, which its filter %s does not "
		         "match",
		         c->id, k->pubs[pub]->id, (unsigned long long)seq,
		         c->sub->filter);
		return;
	}
	if (qos != st->qos)
		sk_error(k, &k->e_wrong_qos,
		         "%s: %s seq %llu delivered at QoS %d, expected %d",
		         c->id, k->pubs[pub]->id, (unsigned long long)seq, qos,
		         st->qos);
	if (sk_bits_set(&st->seen, seq)) {
		st->dups++;
		if (st->qos == 2) /* counted by the tally, shown now */
			fprintf(stderr,
			        "hfsoak: %s: QoS 2 message %s seq %llu "
			        "delivered twice\n",
			        c->id, k->pubs[pub]->id,
			        (unsigned long long)seq);
		else
			k->dup_qos1++;
		return;
	}
	st->distinct++;
	if (seq < st->highest)
		st->reordered++;
	else
		st->highest = seq;
}

/* The device dies: the connection drops with whatever acknowledgments it
 * had not sent yet, and the client comes back later. */
static void
crash(struct sk *k, struct sk_client *c, uint64_t now)
{
	c->close_at = now;
	c->offline_until =
	    now + (k->phase == PH_RUN ? (uint64_t)(offline_for(k, c) * NS) : 0);
	conn_drop(k, c, c->crash_rst);
	sk_sched(k, c, c->offline_until);
}

static int
on_publish(struct sk *k, struct sk_client *c, int flags, const uint8_t *body,
           size_t len)
{
	struct hf_bench_publish m;
	struct sk_sub *s = c->sub;
	const struct sk_pub *p;
	uint32_t pub;
	uint64_t seq, ts;
	uint64_t now = sk_now();

	if (hf_bench_get_publish(c->version, flags, body, len, &m) < 0 || !s) {
		sk_error(k, &k->e_protocol,
		         "%s: malformed or unexpected "
		         "PUBLISH",
		         c->id);
		return 0;
	}
	k->tot.delivered++;
	s->received++;
	if (m.payload_len < HFB_STAMP_LEN) {
		sk_error(k, &k->e_foreign, "%s: PUBLISH without a stamp",
		         c->id);
		return 0;
	}
	hf_bench_stamp_read(m.payload, &pub, &seq, &ts);
	p = pub < (uint32_t)k->npubs ? k->pubs[pub]->pub : NULL;
	if (!p || !seq || seq > p->seq || m.payload_len != p->payload ||
	    m.topic_len != strlen(p->topic) ||
	    memcmp(m.topic, p->topic, m.topic_len)) {
		sk_error(k, &k->e_foreign,
		         "%s: PUBLISH on %.*s with a stamp (%u, %llu) no "
		         "publisher sent",
		         c->id, (int)m.topic_len, (const char *)m.topic, pub,
		         (unsigned long long)seq);
		return 0;
	}
	if (m.qos == 2) {
		struct sk_rec *r = sk_rec_find(s, m.id);

		if (r) {
			/* Resent before PUBREL: the same delivery. */
			if (r->pub != pub || r->seq != seq)
				sk_error(k, &k->e_qos2_mismatch,
				         "%s: packet id %u awaiting PUBREL "
				         "reused for another message",
				         c->id, m.id);
			else if (!m.dup)
				sk_error(k, &k->e_protocol,
				         "%s: QoS 2 PUBLISH %u resent without "
				         "DUP [MQTT-3.3.1-1]",
				         c->id, m.id);
			s->resent_qos2++;
			k->resent_qos2++;
		} else {
			sk_rec_add(s, m.id, pub, seq);
			count_delivery(k, c, pub, seq, 2);
		}
		hf_bench_put_ack(&c->out, HFB_PUBREC, m.id);
		out_packet(k, c, now);
	} else {
		count_delivery(k, c, pub, seq, m.qos);
		if (m.qos == 1) {
			hf_bench_put_ack(&c->out, HFB_PUBACK, m.id);
			out_packet(k, c, now);
		}
	}
	if (c->crash_at && m.qos) {
		/* before its PUBACK/PUBREC leaves: the broker must resend it
		 * (DUP), and a QoS 2 resend must not count twice */
		k->crashes_mid++;
		crash(k, c, now);
	}
	return 0;
}

static int
on_pubrel(struct sk *k, struct sk_client *c, const uint8_t *body, size_t len)
{
	uint16_t id;
	int rc;

	if (hf_bench_get_ack(body, len, &id, &rc) < 0 || !c->sub) {
		sk_error(k, &k->e_protocol, "%s: bad or unexpected PUBREL",
		         c->id);
		return 0;
	}
	sk_rec_del(c->sub, id);
	hf_bench_put_ack(&c->out, HFB_PUBCOMP, id);
	out_packet(k, c, sk_now());
	return 0;
}

/* ---- connection set-up */

static void
ready(struct sk *k, struct sk_client *c, uint64_t now)
{
	c->state = ST_READY;
	if (cycles(k, c))
		c->online_until = now + (uint64_t)(online_for(k, c) * NS);
	else
		c->online_until = 0;
	sk_sched(k, c, now);
}

/* Is CONNACK's session-present flag what this subscriber's history says it
 * must be? Returns the flag to act on. */
static int
check_present(struct sk *k, struct sk_client *c, int present)
{
	double off_s = c->close_at && c->t_open > c->close_at
	                   ? (double)(c->t_open - c->close_at) / 1e9
	                   : 0;

	if (c->clean) {
		if (present)
			sk_error(k, &k->e_protocol,
			         "%s: session present after a clean connect",
			         c->id);
		return 0;
	}
	if (c->kind == K_TRANS && c->version == 5 && c->has_sess) {
		/* the expiry is checked with 2 s to spare either way */
		if (present && off_s > c->expiry + 2.0)
			sk_error(k, &k->e_expiry,
			         "%s: session resumed after %.1f s offline, "
			         "expiry %u s",
			         c->id, off_s, c->expiry);
		if (!present && off_s < c->expiry - 2.0)
			sk_error(k, &k->e_expiry,
			         "%s: session gone after %.1f s offline, "
			         "expiry %u s",
			         c->id, off_s, c->expiry);
		if (present)
			k->trans_resumed++;
		else
			k->trans_expired++;
		return present;
	}
	if (c->has_sess && !present)
		sk_error(k, &k->e_session_lost,
		         "%s (%s): session not present on reconnection", c->id,
		         kind_name[c->kind]);
	else if (c->has_sess && c->kind == K_TRANS)
		k->trans_resumed++;
	if (!c->has_sess && present) {
		/* a session this run did not make: a stale store */
		sk_error(k, &k->e_protocol,
		         "%s: CONNACK says session present for a new session",
		         c->id);
		return 0;
	}
	return present;
}

static int
on_connack(struct sk *k, struct sk_client *c, const uint8_t *body, size_t len)
{
	uint64_t now = sk_now();
	uint16_t recv_max;
	int rc, present;

	if (c->state != ST_CONNACK ||
	    hf_bench_get_connack(c->version, body, len, &rc, &recv_max) < 0) {
		sk_error(k, &k->e_protocol, "%s: bad CONNACK", c->id);
		return -1;
	}
	k->connecting--;
	k->connected++;
	c->state = ST_READY; /* counted as up from here */
	if (rc) {
		sk_error(k, &k->e_connack_rc, "%s: CONNACK code 0x%02x", c->id,
		         rc);
		return -1;
	}
	present = body[0] & 1;
	if (c->kind == K_PUB) {
		if (c->pub->qos && c->pub->window > recv_max)
			c->pub->window = recv_max;
		if (c->has_sess && !present)
			sk_error(k, &k->e_session_lost,
			         "%s: publisher session lost", c->id);
		c->has_sess = 1;
		pub_resend(k, c);
		ready(k, c, now);
		return 0;
	}
	if (c->sub && check_present(k, c, present)) {
		ready(k, c, now);
	} else if (c->sub) {
		/* A new session: no QoS 2 state carries over
		 * [MQTT-4.1.0-1]. */
		sk_rec_clear(c->sub);
		c->has_sess = 0;
		send_subscribe(k, c, now);
	} else {
		ready(k, c, now);
	}
	return 0;
}

static int
on_suback(struct sk *k, struct sk_client *c, const uint8_t *body, size_t len)
{
	uint16_t id;
	int rc;

	if (c->state != ST_SUBACK ||
	    hf_bench_get_suback(c->version, body, len, &id, &rc) < 0) {
		sk_error(k, &k->e_protocol, "%s: bad SUBACK", c->id);
		return -1;
	}
	if (rc != c->sub->qos)
		sk_error(k, &k->e_suback_rc, "%s: SUBACK 0x%02x for QoS %d",
		         c->id, rc, c->sub->qos);
	c->sub->granted = rc;
	c->sub->subacks++;
	/* a session the broker keeps after this connection */
	c->has_sess =
	    !c->clean || (c->version == 5 && c->expiry && c->kind != K_CHURN);
	ready(k, c, sk_now());
	return 0;
}

/* Parse every whole packet in the input buffer. Returns -1 when the
 * connection was dropped. */
static int
parse(struct sk *k, struct sk_client *c)
{
	while (c->in.len && c->fd >= 0) {
		const uint8_t *p = c->in.data + c->in.off, *body;
		size_t blen;
		int type, flags, r = 0;
		long n =
		    hf_bench_frame(p, c->in.len, &type, &flags, &body, &blen);

		if (n == 0)
			return 0;
		if (n < 0) {
			sk_error(k, &k->e_protocol, "%s: malformed packet",
			         c->id);
			conn_drop(k, c, 1);
			return -1;
		}
		switch (type) {
		case HFB_CONNACK:
			r = on_connack(k, c, body, blen);
			break;
		case HFB_SUBACK:
			r = on_suback(k, c, body, blen);
			break;
		case HFB_PUBLISH:
			r = on_publish(k, c, flags, body, blen);
			break;
		case HFB_PUBACK:
		case HFB_PUBREC:
		case HFB_PUBCOMP:
			r = on_ack(k, c, type, body, blen);
			break;
		case HFB_PUBREL:
			r = on_pubrel(k, c, body, blen);
			break;
		case HFB_PINGRESP:
			c->pinging = 0;
			break;
		case HFB_DISCONNECT:
			hf_bench_buf_consume(&c->in, (size_t)n);
			conn_lost(k, c,
			          blen ? "DISCONNECT from the broker (reason "
			                 "code in the broker's log)"
			               : "DISCONNECT from the broker");
			return -1;
		default:
			sk_error(k, &k->e_protocol, "%s: unexpected packet %d",
			         c->id, type);
			r = -1;
		}
		if (c->fd < 0)
			return -1;
		hf_bench_buf_consume(&c->in, (size_t)n);
		if (r < 0) {
			conn_drop(k, c, 1);
			if (c->want)
				reconnect_later(k, c, sk_now(), 1);
			return -1;
		}
	}
	return 0;
}

/* Read up to limit bytes; returns -1 when the connection ended. */
static int
read_some(struct sk *k, struct sk_client *c, size_t limit)
{
	size_t got = 0;

	while (got < limit) {
		size_t want = limit - got < 16384 ? limit - got : 16384;
		uint8_t *p = hf_bench_buf_reserve(&c->in, want);
		ssize_t n = recv(c->fd, p, want, 0);

		if (n > 0) {
			c->in.len += (size_t)n;
			got += (size_t)n;
			if (parse(k, c) < 0)
				return -1;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		conn_lost(k, c,
		          n == 0 ? "closed by the broker" : strerror(errno));
		return -1;
	}
	return 0;
}

void
sk_client_event(struct sk *k, struct sk_client *c, uint32_t events)
{
	uint64_t now = sk_now();

	if (c->state == ST_TCP) {
		int err = 0;
		socklen_t el = sizeof(err);

		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err || (events & (EPOLLERR | EPOLLHUP))) {
			sk_error(k, &k->e_connect_fail, "%s: connect: %s",
			         c->id, strerror(err ? err : ECONNREFUSED));
			conn_drop(k, c, 0);
			reconnect_later(k, c, now, 1);
			return;
		}
		send_connect(k, c, now);
		sk_set_interest(k, c);
		return;
	}
	if (c->reading && (events & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
		if (read_some(k, c, READ_MAX) < 0)
			return;
	} else if (events & (EPOLLERR | EPOLLHUP)) {
		conn_lost(k, c, "socket error or hang-up");
		return;
	}
	if ((events & EPOLLOUT) && c->fd >= 0)
		sk_client_flush(k, c);
}

/* ---- time */

void
sk_client_leave(struct sk *k, struct sk_client *c, uint64_t now)
{
	if (c->fd < 0 || c->state == ST_CLOSING)
		return;
	if (c->state != ST_READY) {
		conn_drop(k, c, 0);
		return;
	}
	hf_bench_put_simple(&c->out, HFB_DISCONNECT);
	out_packet(k, c, now);
	c->state = ST_CLOSING;
	c->reading = 1;
	c->close_at = now;
	sk_set_interest(k, c);
	sk_sched(k, c, now + CLOSE_TMO);
}

/* Go offline the way devices do: a DISCONNECT, or a dropped connection
 * (FIN without DISCONNECT, or RST). */
static void
go_offline(struct sk *k, struct sk_client *c, uint64_t now)
{
	double how = sk_uniform(k, 0, 1);

	c->offline_until = now + (uint64_t)(offline_for(k, c) * NS);
	c->close_at = now;
	if (c->kind == K_TRANS && c->version == 4)
		/* sometimes end the session: the next connection is clean,
		 * the one after that starts a new persistent session */
		c->clean = !c->clean && sk_uniform(k, 0, 1) < 0.2;
	if (c->kind == K_TRANS && c->version == 4 && c->clean)
		k->trans_ended++;
	if (how < 0.5) {
		sk_client_leave(k, c, now);
		return;
	}
	if (c->sub && c->sub->qos && sk_uniform(k, 0, 1) < 0.6) {
		/* crash in the middle of an exchange: at the next QoS 1/2
		 * PUBLISH, or in 3 s if none comes */
		c->crash_at = now + 3 * NS;
		c->crash_rst = how < 0.75;
		sk_sched(k, c, c->crash_at);
		return;
	}
	conn_drop(k, c, how < 0.75);
	sk_sched(k, c, c->offline_until);
}

static void
slow_modes(struct sk *k, struct sk_client *c, uint64_t now, uint64_t *next)
{
	if (k->phase == PH_SETUP)
		return;
	if (k->phase != PH_RUN) {
		if (c->slow_mode != SLOW_NORMAL) {
			c->slow_mode = SLOW_NORMAL;
			c->reading = 1;
			c->ping_at = now;
			sk_set_interest(k, c);
		}
		return;
	}
	if (now >= c->mode_until) {
		double d;

		switch (c->slow_mode) {
		case SLOW_NORMAL:
			c->slow_mode = SLOW_STALL;
			d = sk_uniform(k, k->stall_s, 1.5 * k->stall_s);
			k->slow_stalls++;
			break;
		case SLOW_STALL:
			c->slow_mode = SLOW_TRICKLE;
			d = sk_uniform(k, k->trickle_s, 2 * k->trickle_s);
			k->slow_trickles++;
			break;
		default:
			c->slow_mode = SLOW_NORMAL;
			d = sk_uniform(k, k->normal_s, 2 * k->normal_s);
		}
		c->mode_until = now + (uint64_t)(d * NS);
		if (k->cfg.verbose)
			fprintf(stderr,
			        "hfsoak: [%.1f s] slow subscriber: %s "
			        "for %.0f s\n",
			        sk_secs(k, now),
			        c->slow_mode == SLOW_STALL     ? "stalled"
			        : c->slow_mode == SLOW_TRICKLE ? "a trickle"
			                                       : "reading",
			        d);
		c->reading = c->slow_mode == SLOW_NORMAL;
		c->ping_at = now;
		c->trickle_at = now;
		sk_set_interest(k, c);
	}
	if (c->slow_mode == SLOW_TRICKLE && now >= c->trickle_at) {
		if (read_some(k, c, TRICKLE_B) < 0)
			return;
		c->trickle_at = now + TRICKLE_NS;
	}
	if (c->slow_mode == SLOW_TRICKLE && c->trickle_at < *next)
		*next = c->trickle_at;
	if (c->mode_until < *next)
		*next = c->mode_until;
}

static void
min_at(uint64_t *next, uint64_t t)
{
	if (t && t < *next)
		*next = t;
}

void
sk_client_tick(struct sk *k, struct sk_client *c, uint64_t now)
{
	uint64_t next = UINT64_MAX;
	uint64_t ka = (uint64_t)c->keepalive * NS;

	switch (c->state) {
	case ST_OFF:
		if (!c->want)
			return;
		if (now < c->offline_until) {
			sk_sched(k, c, c->offline_until);
			return;
		}
		if (k->connecting >= k->cfg.max_connecting ||
		    k->conn_tokens < 1) {
			sk_sched(k, c, now + 5 * MS);
			return;
		}
		k->conn_tokens -= 1;
		conn_open(k, c, now);
		return;
	case ST_TCP:
	case ST_CONNACK:
	case ST_SUBACK:
		if (now - c->t_open >= CONNECT_TMO) {
			sk_error(k, &k->e_connect_fail,
			         "%s: no CONNACK/SUBACK after %llu s", c->id,
			         (unsigned long long)(CONNECT_TMO / NS));
			conn_drop(k, c, 1);
			reconnect_later(k, c, now, 1);
			return;
		}
		sk_sched(k, c, c->t_open + CONNECT_TMO);
		return;
	case ST_CLOSING:
		if (now - c->close_at >= CLOSE_TMO) {
			/* the broker did not close after DISCONNECT */
			sk_error(k, &k->e_protocol,
			         "%s: still open %llu s after DISCONNECT",
			         c->id, (unsigned long long)(CLOSE_TMO / NS));
			conn_drop(k, c, 1);
		}
		if (c->fd < 0) {
			if (c->want)
				sk_sched(k, c, c->offline_until);
			return;
		}
		sk_sched(k, c, c->close_at + CLOSE_TMO);
		return;
	default:
		break;
	}
	/* ready */
	if (c->crash_at && now >= c->crash_at) {
		k->crashes_late++;
		crash(k, c, now);
		return;
	}
	if (c->online_until && now >= c->online_until && cycles(k, c) &&
	    !c->crash_at) {
		go_offline(k, c, now);
		return;
	}
	if (!cycles(k, c))
		c->online_until = 0;
	if (c->kind == K_SLOW) {
		slow_modes(k, c, now, &next);
		if (c->fd < 0)
			return;
	}
	if (c->pub) {
		pub_fill(k, c, now);
		if (k->phase == PH_RUN &&
		    (!c->pub->qos || c->pub->nfl < c->pub->window))
			min_at(&next, c->pub->next_at);
	}
	if (c->pinging && c->reading && now - c->ping_at > PING_TMO) {
		sk_error(k, &k->e_ping_timeout, "%s: no PINGRESP in %llu s",
		         c->id, (unsigned long long)(PING_TMO / NS));
		c->ping_at = now;
	}
	if (now - c->last_send >= ka / 2) {
		hf_bench_put_simple(&c->out, HFB_PINGREQ);
		out_packet(k, c, now);
		if (!c->pinging)
			c->ping_at = now;
		c->pinging = 1;
	}
	min_at(&next, c->last_send + ka / 2);
	if (c->pinging)
		min_at(&next, c->ping_at + PING_TMO + 1);
	if (cycles(k, c) && !c->crash_at)
		min_at(&next, c->online_until);
	min_at(&next, c->crash_at);
	sk_sched(k, c, next);
}
