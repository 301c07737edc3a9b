/*
 * tools/bench/worker.c - hfbench's event loop: connections, the MQTT client
 * state machine, publishing and receiving (see bench.h).
 *
 * Design: one epoll instance per worker, level-triggered, non-blocking
 * sockets with TCP_NODELAY. A loop turn waits for events, reads everything a
 * readable socket holds (up to a bound) and parses every whole packet in it,
 * then lets each publisher append as many PUBLISHes as its window, rate and
 * count allow, and finally writes each connection that has output once.
 * So the cost per message is a memcpy of a prebuilt header, and the cost
 * per syscall is amortised over a batch. A publisher remembers the state of
 * each packet id in a 64 KiB array (free / awaiting PUBACK or PUBREC /
 * awaiting PUBCOMP); a QoS 2 subscriber remembers ids awaiting PUBREL in an
 * 8 KiB bitmap so a resent PUBLISH is not counted twice. Every payload
 * carries (publisher, sequence, send time); the subscriber turns it into a
 * latency sample and a bit in the (subscriber, publisher) sequence bitmap.
 * Transports (transport.h) slot in below the MQTT buffers: a connection
 * goes TCP -> TLS handshake (--tls) -> WebSocket upgrade (--ws) -> CONNECT,
 * all timed as its handshake. With --ws a turn's output becomes one masked
 * frame and input is unframed before parsing; with TLS a stalled read or
 * write may wait for the other readiness, and input OpenSSL already holds
 * is read again without waiting on epoll (rpending).
 *
 * Threading/ownership: everything here belongs to the worker's thread; the
 * only cross-thread traffic is the atomics of struct hf_bench_run.
 */
#include "bench.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

enum {
	CS_IDLE,    /* not open */
	CS_TCP,     /* connect() in progress */
	CS_TLS,     /* TLS handshake in progress (--tls) */
	CS_WS,      /* WebSocket upgrade request sent (--ws) */
	CS_CONNACK, /* CONNECT sent */
	CS_SUBACK,  /* SUBSCRIBE sent */
	CS_READY,
	CS_CLOSING, /* DISCONNECT sent, waiting for EOF */
};

enum {
	PH_CONNECT,
	PH_PUBLISH,
	PH_DRAIN,
	PH_HOLD,
	PH_CLOSE,
};

#define ID_FREE    0
#define ID_ACK     1 /* awaiting PUBACK (QoS 1) or PUBREC (QoS 2) */
#define ID_COMP    2 /* awaiting PUBCOMP */
#define READ_CHUNK (64 * 1024)
#define TLS_READS  32 /* SSL_read calls per event, about 16 KiB each */

struct hf_bench_conn {
	struct hf_bench_worker *w;
	int fd;
	int role;
	uint32_t idx; /* publisher / subscriber / idle number */
	int state;
	int in_phase;  /* member of the set the current phase waits for */
	int clean;     /* next CONNECT: clean session / clean start */
	int subscribe; /* send SUBSCRIBE after CONNACK */
	int epollout;
	int dirty;
	int wblocked; /* TLS: a write waits for the socket to be readable */
	int rpending; /* TLS: OpenSSL holds input no epoll event announces */
	struct hf_bench_buf in, out; /* MQTT bytes */
	struct hf_bench_tp tp;       /* TLS / WebSocket state */
	uint64_t t_open, last_send;
	/* publisher */
	struct hf_bench_pubtpl tpl;
	uint8_t *ids;
	uint16_t next_id;
	uint32_t window, inflight;
	int sending_done, finished;
	uint64_t send_end;
	struct hf_bench_pubstat st;
	/* subscriber */
	uint8_t *rel; /* QoS 2 ids awaiting PUBREL, bitmap */
	struct hf_bench_seq *seqs;
};

uint64_t
hf_bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void fail(struct hf_bench_worker *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
fail(struct hf_bench_worker *w, const char *fmt, ...)
{
	va_list ap;

	if (!w->err[0]) {
		va_start(ap, fmt);
		vsnprintf(w->err, sizeof(w->err), fmt, ap);
		va_end(ap);
	}
	atomic_store(&w->run->failed, 1);
}

static const char *
role_name(int role)
{
	return role == HFB_ROLE_PUB   ? "pub"
	       : role == HFB_ROLE_SUB ? "sub"
	                              : "idle";
}

static void
mark_dirty(struct hf_bench_conn *c)
{
	if (!c->dirty) {
		c->dirty = 1;
		c->w->dirty[c->w->ndirty++] = c;
	}
}

static void
set_epollout(struct hf_bench_conn *c, int on)
{
	struct epoll_event ev;

	if (c->epollout == on)
		return;
	ev.events = EPOLLIN | (on ? EPOLLOUT : 0);
	ev.data.ptr = c;
	epoll_ctl(c->w->epfd, EPOLL_CTL_MOD, c->fd, &ev);
	c->epollout = on;
}

static void
conn_shut(struct hf_bench_conn *c)
{
	if (c->fd >= 0) {
		epoll_ctl(c->w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	hf_bench_tp_reset(&c->tp);
	c->fd = -1;
	c->state = CS_IDLE;
	c->epollout = 0;
	c->wblocked = c->rpending = 0;
	c->in.len = c->in.off = 0;
	c->out.len = c->out.off = 0;
	if (c->rel)
		memset(c->rel, 0, 8192);
}

/* WebSocket: turn everything the MQTT layer queued into one frame. */
static void
ws_stage(struct hf_bench_conn *c)
{
	if (!c->out.len)
		return;
	hf_bench_ws_wrap(&c->tp.wout, HFB_WS_BINARY, c->out.data + c->out.off,
	                 c->out.len, hf_bench_ws_next_mask(&c->tp));
	c->out.len = c->out.off = 0;
}

/* Write what is pending; returns -1 on a fatal error. The whole buffer
 * goes to one send()/SSL_write() call (more only after a partial write).
 * With TLS a write may wait for readability (wblocked): the next EPOLLIN
 * retries it with the same, possibly longer, buffer. */
static int
conn_flush(struct hf_bench_conn *c)
{
	struct hf_bench_buf *wire = &c->out;
	char err[192];

	if (c->w->run->cfg->ws) {
		ws_stage(c);
		wire = &c->tp.wout;
	}
	c->wblocked = 0;
	while (wire->len) {
		long n = hf_bench_tp_send(&c->tp, c->fd, wire->data + wire->off,
		                          wire->len, err, sizeof(err));

		if (n > 0) {
			hf_bench_buf_consume(wire, (size_t)n);
			continue;
		}
		if (n == HFB_IO_AGAIN) {
			c->wblocked = c->tp.wr_wants_read;
			set_epollout(c, !c->wblocked || c->tp.rd_wants_write);
			return 0;
		}
		if (c->state == CS_CLOSING) {
			conn_shut(c);
			return 0;
		}
		fail(c->w, "%s %u: %s", role_name(c->role), c->idx,
		     n ? err : "write: connection closed");
		conn_shut(c);
		return -1;
	}
	if (c->state != CS_TCP && c->state != CS_TLS)
		set_epollout(c, c->tp.rd_wants_write);
	return 0;
}

static void
send_connect(struct hf_bench_conn *c)
{
	const struct hf_bench_cfg *cfg = c->w->run->cfg;
	struct hf_bench_connect cc;
	char id[64];

	snprintf(id, sizeof(id), "hfb-%s-%u", role_name(c->role), c->idx);
	cc.version = cfg->version;
	cc.client_id = id;
	cc.clean = c->clean;
	cc.keepalive = cfg->keepalive;
	cc.session_expiry = c->clean ? 0 : 86400;
	/* v5 clean start with a session expiry keeps the new session after
	 * disconnection: the persistent reset connects use this. */
	if (cfg->version == 5 && cfg->persistent && c->role != HFB_ROLE_IDLE)
		cc.session_expiry = 86400;
	hf_bench_put_connect(&c->out, &cc);
	c->state = CS_CONNACK;
	c->last_send = hf_bench_now();
	mark_dirty(c);
}

/* The broker a connection talks to: subscribers have their own with
 * --sub-host/--sub-port. */
static int
is_sub(const struct hf_bench_conn *c)
{
	return c->role == HFB_ROLE_SUB;
}

static const char *
conn_host(const struct hf_bench_conn *c)
{
	const struct hf_bench_cfg *cfg = c->w->run->cfg;

	return is_sub(c) ? cfg->sub_host : cfg->host;
}

static int
conn_port(const struct hf_bench_conn *c)
{
	const struct hf_bench_cfg *cfg = c->w->run->cfg;

	return is_sub(c) ? cfg->sub_port : cfg->port;
}

/* --pause-stdin: the subscribers' broker may still be starting, so a
 * refused connect is tried again (soon, by open_more()) until
 * run->retry_until. Returns 1 when the connection was shut for that. */
static int
retry_refused(struct hf_bench_conn *c, int err)
{
	struct hf_bench_run *run = c->w->run;

	if (err != ECONNREFUSED || !is_sub(c) || !run->retry_until ||
	    hf_bench_now() > run->retry_until)
		return 0;
	conn_shut(c);
	c->w->retry = 1;
	return 1;
}

static int
conn_open(struct hf_bench_conn *c)
{
	struct hf_bench_run *run = c->w->run;
	const struct sockaddr_storage *addr =
	    is_sub(c) ? &run->sub_addr : &run->addr;
	socklen_t addrlen = is_sub(c) ? run->sub_addrlen : run->addrlen;
	struct epoll_event ev;
	int one = 1;

	c->fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (c->fd < 0) {
		fail(c->w, "socket: %s (raise ulimit -n?)", strerror(errno));
		return -1;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->t_open = hf_bench_now();
	ev.events = EPOLLIN | EPOLLOUT;
	ev.data.ptr = c;
	if (epoll_ctl(c->w->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		fail(c->w, "epoll_ctl: %s", strerror(errno));
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	c->epollout = 1;
	if (connect(c->fd, (const struct sockaddr *)addr, addrlen) < 0 &&
	    errno != EINPROGRESS) {
		if (retry_refused(c, errno))
			return 0;
		fail(c->w, "%s %u: connect: %s", role_name(c->role), c->idx,
		     strerror(errno));
		conn_shut(c);
		return -1;
	}
	c->state = CS_TCP;
	return 0;
}

static void
conn_disconnect(struct hf_bench_conn *c)
{
	if (c->fd < 0)
		return;
	if (c->state < CS_CONNACK) {
		conn_shut(c);
		return;
	}
	hf_bench_put_simple(&c->out, HFB_DISCONNECT);
	if (c->w->run->cfg->ws) {
		static const uint8_t normal[2] = {0x03, 0xe8}; /* 1000 */

		ws_stage(c);
		hf_bench_ws_wrap(&c->tp.wout, HFB_WS_CLOSE, normal,
		                 sizeof(normal), hf_bench_ws_next_mask(&c->tp));
	}
	c->state = CS_CLOSING;
	if (conn_flush(c) == 0 && c->fd >= 0) {
		if (c->tp.ssl && !c->epollout && !c->wblocked)
			SSL_shutdown(c->tp.ssl); /* close_notify, best effort */
		shutdown(c->fd, SHUT_WR);
	}
}

static uint16_t
alloc_id(struct hf_bench_conn *c)
{
	for (;;) {
		uint16_t id = c->next_id++;

		if (!c->next_id)
			c->next_id = 1;
		if (id && c->ids[id] == ID_FREE)
			return id;
	}
}

static void
pub_ack(struct hf_bench_conn *c, int type, const uint8_t *body, size_t len)
{
	int qos = c->w->run->cfg->qos, rc;
	uint16_t id;

	if (hf_bench_get_ack(body, len, &id, &rc) < 0) {
		fail(c->w, "pub %u: malformed ack", c->idx);
		return;
	}
	if ((type == HFB_PUBACK && (qos != 1 || c->ids[id] != ID_ACK)) ||
	    (type == HFB_PUBREC && (qos != 2 || c->ids[id] != ID_ACK)) ||
	    (type == HFB_PUBCOMP && c->ids[id] != ID_COMP)) {
		fail(c->w, "pub %u: unexpected ack type %d for id %u", c->idx,
		     type, id);
		return;
	}
	c->st.t_last = hf_bench_now();
	if (type == HFB_PUBREC && rc < 0x80) {
		c->st.acked++;
		c->ids[id] = ID_COMP;
		hf_bench_put_ack(&c->out, HFB_PUBREL, id);
		mark_dirty(c);
		return;
	}
	if (type == HFB_PUBCOMP)
		c->st.completed++;
	else if (rc < 0x80)
		c->st.acked++;
	else
		c->st.rejected++;
	c->ids[id] = ID_FREE;
	c->inflight--;
}

static void
sub_publish(struct hf_bench_conn *c, int flags, const uint8_t *body, size_t len,
            uint64_t now, uint64_t *fresh)
{
	struct hf_bench_worker *w = c->w;
	const struct hf_bench_cfg *cfg = w->run->cfg;
	struct hf_bench_publish p;
	uint32_t pub;
	uint64_t seq, ts;
	struct hf_bench_seq *s;

	if (hf_bench_get_publish(cfg->version, flags, body, len, &p) < 0) {
		fail(w, "sub %u: malformed PUBLISH", c->idx);
		return;
	}
	if (p.qos == 1) {
		hf_bench_put_ack(&c->out, HFB_PUBACK, p.id);
		mark_dirty(c);
	} else if (p.qos == 2) {
		uint8_t bit = (uint8_t)(1u << (p.id & 7));

		hf_bench_put_ack(&c->out, HFB_PUBREC, p.id);
		mark_dirty(c);
		if (c->rel[p.id >> 3] & bit) {
			w->qos2_resent++;
			return; /* same message again before PUBREL */
		}
		c->rel[p.id >> 3] |= bit;
	}
	if (p.payload_len < HFB_STAMP_LEN) {
		w->foreign++;
		return;
	}
	hf_bench_stamp_read(p.payload, &pub, &seq, &ts);
	if (pub >= (uint32_t)cfg->pubs || !seq) {
		w->foreign++;
		return;
	}
	w->received++;
	hf_bench_hist_add(&w->lat, now > ts ? now - ts : 0);
	s = &c->seqs[pub];
	*fresh += (uint64_t)hf_bench_seq_add(s, seq);
}

static void
on_ready(struct hf_bench_conn *c, uint64_t now)
{
	c->state = CS_READY;
	hf_bench_hist_add(&c->w->conn_lat, now - c->t_open);
}

/* Handle one packet; returns -1 when the connection is unusable. */
static int
on_packet(struct hf_bench_conn *c, int type, int flags, const uint8_t *body,
          size_t len, uint64_t now, uint64_t *fresh)
{
	const struct hf_bench_cfg *cfg = c->w->run->cfg;
	int rc;
	uint16_t id, rmax;

	switch (type) {
	case HFB_CONNACK:
		if (c->state != CS_CONNACK ||
		    hf_bench_get_connack(cfg->version, body, len, &rc, &rmax) <
		        0) {
			fail(c->w, "%s %u: bad CONNACK", role_name(c->role),
			     c->idx);
			return -1;
		}
		if (rc) {
			fail(c->w, "%s %u: CONNACK refused, code 0x%02x",
			     role_name(c->role), c->idx, rc);
			return -1;
		}
		if (c->role == HFB_ROLE_PUB)
			c->window = rmax < cfg->window ? rmax : cfg->window;
		if (c->subscribe) {
			char filter[64];

			snprintf(filter, sizeof(filter), "%sbench/#",
			         cfg->shared ? "$share/hfb/" : "");
			hf_bench_put_subscribe(&c->out, cfg->version, 1, filter,
			                       cfg->sub_qos);
			mark_dirty(c);
			c->state = CS_SUBACK;
		} else {
			on_ready(c, now);
		}
		return 0;
	case HFB_SUBACK:
		if (c->state != CS_SUBACK ||
		    hf_bench_get_suback(cfg->version, body, len, &id, &rc) <
		        0 ||
		    rc >= 0x80) {
			fail(c->w, "sub %u: SUBSCRIBE refused or bad SUBACK",
			     c->idx);
			return -1;
		}
		on_ready(c, now);
		return 0;
	case HFB_PUBLISH:
		if (c->role != HFB_ROLE_SUB || c->state < CS_SUBACK) {
			fail(c->w, "%s %u: unexpected PUBLISH",
			     role_name(c->role), c->idx);
			return -1;
		}
		sub_publish(c, flags, body, len, now, fresh);
		return 0;
	case HFB_PUBACK:
	case HFB_PUBREC:
	case HFB_PUBCOMP:
		if (c->role != HFB_ROLE_PUB) {
			fail(c->w, "%s %u: unexpected ack", role_name(c->role),
			     c->idx);
			return -1;
		}
		pub_ack(c, type, body, len);
		return 0;
	case HFB_PUBREL:
		if (c->role != HFB_ROLE_SUB ||
		    hf_bench_get_ack(body, len, &id, &rc) < 0) {
			fail(c->w, "%s %u: unexpected PUBREL",
			     role_name(c->role), c->idx);
			return -1;
		}
		c->rel[id >> 3] &= (uint8_t) ~(1u << (id & 7));
		hf_bench_put_ack(&c->out, HFB_PUBCOMP, id);
		mark_dirty(c);
		return 0;
	case HFB_PINGRESP:
		return 0;
	case HFB_DISCONNECT:
		fail(c->w, "%s %u: broker sent DISCONNECT (reason 0x%02x)",
		     role_name(c->role), c->idx, len ? body[0] : 0);
		return -1;
	default:
		fail(c->w, "%s %u: unexpected packet type %d",
		     role_name(c->role), c->idx, type);
		return -1;
	}
}

/* The connection is closing or broken: say why unless we asked for it. */
static void
conn_lost(struct hf_bench_conn *c, const char *why)
{
	if (c->state != CS_CLOSING)
		fail(c->w, "%s %u: %s", role_name(c->role), c->idx, why);
	conn_shut(c);
}

/* WebSocket input: finish the upgrade, then unframe the wire bytes into
 * the MQTT input buffer. Returns -1 when the connection was shut. */
static int
ws_input(struct hf_bench_conn *c, int eof)
{
	char err[192];

	if (c->state == CS_WS) {
		long h =
		    hf_bench_ws_response(&c->tp, c->tp.win.data + c->tp.win.off,
		                         c->tp.win.len, err, sizeof(err));

		if (h == 0 && !eof)
			return 0;
		if (h <= 0) {
			conn_lost(c, h ? err
			               : "connection closed during the "
			                 "WebSocket upgrade");
			return -1;
		}
		hf_bench_buf_consume(&c->tp.win, (size_t)h);
		send_connect(c);
	}
	if (hf_bench_ws_unwrap(&c->tp.rx, &c->tp.win, &c->in, &c->tp.wout,
	                       hf_bench_ws_next_mask(&c->tp), err,
	                       sizeof(err)) < 0) {
		conn_lost(c, err);
		return -1;
	}
	if (c->tp.wout.len)
		mark_dirty(c); /* pong */
	return 0;
}

static void
conn_read(struct hf_bench_conn *c)
{
	struct hf_bench_worker *w = c->w;
	int ws = w->run->cfg->ws;
	struct hf_bench_buf *dst = ws ? &c->tp.win : &c->in;
	int max = c->tp.ssl ? TLS_READS : 4, reads;
	uint64_t now, fresh = 0;
	char err[192];
	long n = 0;

	c->rpending = 0;
	for (reads = 0; reads < max; reads++) {
		uint8_t *p = hf_bench_buf_reserve(dst, READ_CHUNK);

		n = hf_bench_tp_recv(&c->tp, c->fd, p,
		                     dst->cap - dst->off - dst->len, err,
		                     sizeof(err));
		if (n <= 0)
			break;
		dst->len += (size_t)n;
		/* a short plain read emptied the socket; SSL_read returns
		 * one record at a time, so TLS reads until WANT_READ */
		if (!c->tp.ssl && (size_t)n < READ_CHUNK)
			break;
	}
	if (n > 0 && hf_bench_tp_pending(&c->tp)) {
		c->rpending = 1; /* stopped early: come back without epoll */
		w->any_pending = 1;
	}
	if (c->tp.rd_wants_write)
		set_epollout(c, 1);
	if (ws && ws_input(c, n == 0 || n == HFB_IO_ERR) < 0)
		return;
	now = hf_bench_now();
	while (c->in.len && c->fd >= 0) {
		const uint8_t *body;
		size_t blen;
		int type, flags;
		long k = hf_bench_frame(c->in.data + c->in.off, c->in.len,
		                        &type, &flags, &body, &blen);

		if (k == 0)
			break;
		if (k < 0 ||
		    on_packet(c, type, flags, body, blen, now, &fresh) < 0) {
			if (k < 0)
				fail(w, "%s %u: malformed packet",
				     role_name(c->role), c->idx);
			conn_shut(c);
			break;
		}
		hf_bench_buf_consume(&c->in, (size_t)k);
	}
	if (fresh) {
		uint64_t none = 0;

		atomic_fetch_add(&w->run->delivered, fresh);
		atomic_store(&w->run->last_delivery, now);
		atomic_compare_exchange_strong(&w->run->first_delivery, &none,
		                               now);
	}
	if (c->fd < 0)
		return;
	if (n == HFB_IO_ERR)
		conn_lost(c, err);
	else if (n == 0)
		conn_lost(c, "connection closed by the broker");
	else if (c->tp.rx.closed)
		conn_lost(c, "the broker closed the WebSocket");
}

/* TCP (and TLS) are up: upgrade to WebSocket or send CONNECT. */
static void
transport_ready(struct hf_bench_conn *c)
{
	const struct hf_bench_cfg *cfg = c->w->run->cfg;

	if (!cfg->ws) {
		send_connect(c);
		return;
	}
	hf_bench_ws_request(&c->tp, &c->tp.wout, conn_host(c), conn_port(c),
	                    cfg->ws_path);
	c->state = CS_WS;
	c->last_send = hf_bench_now();
	mark_dirty(c);
}

static void
tls_step(struct hf_bench_conn *c)
{
	char err[192];
	int r = hf_bench_tp_tls_handshake(&c->tp, err, sizeof(err));

	if (r < 0) {
		conn_lost(c, err);
		return;
	}
	set_epollout(c, c->tp.hs_wants_write);
	if (r == 1)
		transport_ready(c);
}

static void
conn_event(struct hf_bench_conn *c, uint32_t events)
{
	if (c->fd < 0)
		return; /* shut earlier in this batch of events */
	if (c->state == CS_TCP && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		struct hf_bench_run *run = c->w->run;
		int err = 0;
		socklen_t l = sizeof(err);
		char msg[192];

		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (err && retry_refused(c, err))
			return;
		if (err) {
			fail(c->w, "%s %u: connect: %s", role_name(c->role),
			     c->idx, strerror(err));
			conn_shut(c);
			return;
		}
		if (!run->cfg->tls) {
			transport_ready(c);
			return;
		}
		if (hf_bench_tp_tls_start(
		        &c->tp, &run->tls, c->fd, conn_host(c),
		        c->role == HFB_ROLE_IDLE, msg, sizeof(msg)) < 0) {
			conn_lost(c, msg);
			return;
		}
		c->state = CS_TLS;
		tls_step(c);
		return;
	}
	if (c->state == CS_TLS) {
		tls_step(c);
		return;
	}
	if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) ||
	    (c->tp.rd_wants_write && (events & EPOLLOUT)))
		conn_read(c);
	if (c->fd >= 0 &&
	    ((events & EPOLLOUT) || (c->wblocked && (events & EPOLLIN))))
		mark_dirty(c);
}

/* Append what a publisher may send now. Returns 1 if it could send more
 * without waiting for the network or the clock. */
static int
pub_pump(struct hf_bench_conn *c, uint64_t now, uint64_t *next_due)
{
	struct hf_bench_run *run = c->w->run;
	const struct hf_bench_cfg *cfg = run->cfg;
	uint64_t limit, sent0 = c->st.sent;
	int more = 0;

	if (c->state != CS_READY || c->sending_done)
		return 0;
	if ((cfg->count && c->st.sent >= cfg->count) ||
	    (!cfg->count && now >= run->t_send_end)) {
		c->sending_done = 1;
		c->send_end = now;
		if (!cfg->qos)
			c->st.t_last = now;
		return 0;
	}
	if (c->epollout || c->wblocked || c->out.len > 256 * 1024)
		return 0; /* the socket is full: wait for EPOLLOUT */
	if (cfg->qos) {
		limit = c->window > c->inflight ? c->window - c->inflight : 0;
	} else {
		limit = 65536 / c->tpl.total;
		if (limit < cfg->window)
			limit = cfg->window;
	}
	if (cfg->count && cfg->count - c->st.sent < limit)
		limit = cfg->count - c->st.sent;
	if (cfg->rate > 0) {
		double el = (double)(now - run->t_start) / 1e9;
		uint64_t due = (uint64_t)(el * cfg->rate) + 1;
		uint64_t allowed = due > c->st.sent ? due - c->st.sent : 0;
		uint64_t next =
		    run->t_start + (uint64_t)((double)due / cfg->rate * 1e9);

		if (allowed < limit)
			limit = allowed;
		if (next < *next_due)
			*next_due = next;
	}
	while (limit--) {
		uint16_t id = 0;

		if (cfg->qos) {
			id = alloc_id(c);
			c->ids[id] = ID_ACK;
			c->inflight++;
		}
		hf_bench_put_publish(&c->out, &c->tpl, id, c->idx, ++c->st.sent,
		                     now);
	}
	if (c->st.sent != sent0) {
		c->last_send = now;
		mark_dirty(c);
		more = cfg->rate <= 0 && (!cfg->qos || c->inflight < c->window);
	}
	return more;
}

/* A publisher is finished when it stopped sending and every message has
 * been acknowledged (or the drain timeout passed). */
static void
pub_check_finished(struct hf_bench_conn *c, uint64_t now)
{
	struct hf_bench_run *run = c->w->run;
	const struct hf_bench_cfg *cfg = run->cfg;
	uint64_t exp;

	if (c->finished || !c->sending_done)
		return;
	if (c->inflight && c->fd >= 0 &&
	    now - c->send_end < (uint64_t)(cfg->drain_timeout * 1e9))
		return;
	c->finished = 1;
	exp = cfg->qos ? c->st.acked : c->st.sent;
	atomic_store(&run->pub_expected[c->idx], exp);
	atomic_fetch_add(&run->pubs_done, 1);
}

/* Have the subscribers received everything (or given up waiting)? */
static int
drained(struct hf_bench_worker *w, uint64_t now)
{
	struct hf_bench_run *run = w->run;
	const struct hf_bench_cfg *cfg = run->cfg;
	uint64_t target = 0, last;
	int i;

	if (atomic_load(&run->pubs_done) < cfg->pubs)
		return 0;
	if (!cfg->subs)
		return 1;
	for (i = 0; i < cfg->pubs; i++)
		target += atomic_load(&run->pub_expected[i]);
	if (!cfg->shared)
		target *= (uint64_t)cfg->subs;
	if (atomic_load(&run->delivered) >= target)
		return 1;
	if (!w->draining_since)
		w->draining_since = now;
	if (now - w->draining_since > (uint64_t)(cfg->drain_timeout * 1e9))
		return 1;
	last = atomic_load(&run->last_delivery);
	if (last < w->draining_since)
		last = w->draining_since;
	/* at QoS 0 losses are allowed: stop once the stream went quiet */
	if (cfg->sub_qos == 0 || cfg->qos == 0)
		return now - last > (uint64_t)(cfg->drain_idle * 1e9);
	return 0;
}

static int
phase_done(struct hf_bench_worker *w, uint64_t now)
{
	int i, done = 1;

	switch (w->phase) {
	case PH_CONNECT:
		for (i = 0; i < w->nconns; i++)
			if (w->conns[i].in_phase &&
			    w->conns[i].state != CS_READY)
				return 0;
		return 1;
	case PH_CLOSE:
		for (i = 0; i < w->nconns; i++)
			if (w->conns[i].fd >= 0)
				return 0;
		return 1;
	case PH_PUBLISH:
		for (i = 0; i < w->npubs; i++) {
			pub_check_finished(&w->conns[i], now);
			done &= w->conns[i].finished;
		}
		if (!done)
			return 0;
		return w->run->cfg->sub_offline ? 1 : drained(w, now);
	case PH_DRAIN:
		return drained(w, now);
	default:
		return 0;
	}
}

/* Open the next connections of the phase's set, at most max_connecting
 * handshakes at a time. */
static void
open_more(struct hf_bench_worker *w)
{
	const struct hf_bench_cfg *cfg = w->run->cfg;
	int i, pending = 0;

	for (i = 0; i < w->nconns; i++)
		if (w->conns[i].state >= CS_TCP &&
		    w->conns[i].state <= CS_SUBACK)
			pending++;
	for (i = 0; i < w->nconns && pending < cfg->max_connecting; i++) {
		struct hf_bench_conn *c = &w->conns[i];

		if (c->in_phase && c->state == CS_IDLE && c->fd < 0) {
			if (conn_open(c) < 0)
				return;
			pending++;
		}
	}
}

/* Run loop turns until the phase is done, a worker failed, or the
 * deadline (0 = none) passed. Returns 0 when done. */
static int
run_phase(struct hf_bench_worker *w, int phase, uint64_t deadline)
{
	struct hf_bench_run *run = w->run;
	const struct hf_bench_cfg *cfg = run->cfg;
	struct epoll_event ev[256];
	uint64_t last_tick = hf_bench_now();
	int connecting = 0, i;

	w->phase = phase;
	w->draining_since = 0;
	for (i = 0; i < w->nconns; i++)
		if (w->conns[i].in_phase && w->conns[i].state == CS_IDLE)
			connecting = 1;
	for (;;) {
		uint64_t now = hf_bench_now(), next_due = UINT64_MAX;
		int n, timeout = 50, busy = 0;

		if (atomic_load(&run->failed))
			return -1;
		if (phase_done(w, now))
			return 0;
		if (deadline && now >= deadline)
			return phase == PH_HOLD ? 0 : 1;
		if (connecting)
			open_more(w);
		if (phase == PH_PUBLISH)
			for (i = 0; i < w->npubs; i++)
				busy |= pub_pump(&w->conns[i], now, &next_due);
		for (i = 0; i < w->ndirty; i++) {
			struct hf_bench_conn *c = w->dirty[i];

			c->dirty = 0;
			if (c->fd >= 0 && c->state != CS_TCP)
				conn_flush(c);
		}
		w->ndirty = 0;
		if (now - last_tick > 1000000000ull) {
			last_tick = now;
			/* keepalive: the broker drops silent clients */
			for (i = 0; i < w->nconns; i++) {
				struct hf_bench_conn *c = &w->conns[i];

				if (c->state >= CS_READY && cfg->keepalive &&
				    now - c->last_send >
				        (uint64_t)cfg->keepalive *
				            500000000ull) {
					hf_bench_put_simple(&c->out,
					                    HFB_PINGREQ);
					c->last_send = now;
					conn_flush(c);
				}
			}
		}
		if (busy) {
			timeout = 0;
		} else if (next_due != UINT64_MAX) {
			uint64_t t = hf_bench_now();

			timeout =
			    next_due <= t
			        ? 0
			        : (int)((next_due - t + 999999) / 1000000);
			if (timeout > 50)
				timeout = 50;
		} else if (phase == PH_PUBLISH || phase == PH_DRAIN) {
			timeout = 5;
		}
		if (w->any_pending)
			timeout = 0;
		if (w->retry) {
			w->retry = 0;
			if (timeout > 1)
				timeout = 1;
		}
		n = epoll_wait(w->epfd, ev, 256, timeout);
		if (n < 0 && errno != EINTR) {
			fail(w, "epoll_wait: %s", strerror(errno));
			return -1;
		}
		for (i = 0; i < n; i++)
			conn_event(ev[i].data.ptr, ev[i].events);
		if (w->any_pending) {
			/* TLS input OpenSSL already holds: the socket may
			 * never become readable for it */
			w->any_pending = 0;
			for (i = 0; i < w->nconns; i++)
				if (w->conns[i].rpending && w->conns[i].fd >= 0)
					conn_read(&w->conns[i]);
		}
	}
}

static int
barrier(struct hf_bench_worker *w)
{
	return pthread_barrier_wait(&w->run->barrier) ==
	       PTHREAD_BARRIER_SERIAL_THREAD;
}

static void
select_set(struct hf_bench_worker *w, int role_mask, int clean, int subscribe)
{
	int i;

	for (i = 0; i < w->nconns; i++) {
		struct hf_bench_conn *c = &w->conns[i];

		c->in_phase = !!(role_mask & (1 << c->role));
		if (c->in_phase) {
			c->clean = clean;
			c->subscribe = subscribe && c->role == HFB_ROLE_SUB;
		}
	}
}

static void
close_all(struct hf_bench_worker *w)
{
	int i;

	for (i = 0; i < w->nconns; i++)
		conn_disconnect(&w->conns[i]);
	run_phase(w, PH_CLOSE, hf_bench_now() + 3000000000ull);
	for (i = 0; i < w->nconns; i++)
		conn_shut(&w->conns[i]);
}

#define M_PUB  (1 << HFB_ROLE_PUB)
#define M_SUB  (1 << HFB_ROLE_SUB)
#define M_IDLE (1 << HFB_ROLE_IDLE)

long
hf_bench_read_rss(int pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			kb = strtol(line + 6, NULL, 10);
	fclose(f);
	return kb;
}

static void
run_idle(struct hf_bench_worker *w)
{
	struct hf_bench_run *run = w->run;
	const struct hf_bench_cfg *cfg = run->cfg;

	select_set(w, M_IDLE, 1, 0);
	if (barrier(w))
		run->t_setup = hf_bench_now();
	barrier(w);
	if (run_phase(w, PH_CONNECT, 0) == 0)
		run_phase(w, PH_HOLD, hf_bench_now() + 1000000000ull);
	if (barrier(w)) {
		run->t_start = hf_bench_now();
		if (cfg->pid)
			run->rss_after = hf_bench_read_rss(cfg->pid);
	}
	barrier(w);
	if (!atomic_load(&run->failed) && cfg->hold > 0)
		run_phase(w, PH_HOLD,
		          hf_bench_now() + (uint64_t)(cfg->hold * 1e9));
	barrier(w);
	close_all(w);
	if (barrier(w))
		run->t_end = hf_bench_now();
}

/* --pause-stdin: say what is done, then wait for a line on stdin (end of
 * file also goes on). With start, the line may hold the CLOCK_REALTIME
 * nanoseconds at which the next step began outside (the start of the
 * subscribers' broker): *start is set to that instant on the monotonic
 * clock, else to now. */
static void
pause_stdin(const char *done, uint64_t *start)
{
	char line[64];
	unsigned long long stamp;
	struct timespec rt;
	uint64_t now, real;

	printf("hfbench: %s; waiting for a line on stdin\n", done);
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin) || !start)
		return;
	now = hf_bench_now();
	*start = now;
	if (sscanf(line, "%llu", &stamp) != 1 || !stamp)
		return;
	clock_gettime(CLOCK_REALTIME, &rt);
	real = (uint64_t)rt.tv_sec * 1000000000ull + (uint64_t)rt.tv_nsec;
	if (stamp <= real && real - stamp < now)
		*start = now - (real - stamp);
}

void *
hf_bench_worker_main(void *arg)
{
	struct hf_bench_worker *w = arg;
	struct hf_bench_run *run = w->run;
	const struct hf_bench_cfg *cfg = run->cfg;
	int sub_clean = !(cfg->persistent || cfg->sub_offline);

	if (cfg->idle) {
		run_idle(w);
		return NULL;
	}
	if (barrier(w))
		run->t_setup = hf_bench_now();
	barrier(w);
	/* persistent sessions: wipe what earlier runs left, then create
	 * them (3.1.1 needs a clean connect, then a clean=0 one) */
	if (!sub_clean) {
		select_set(w, (cfg->persistent ? M_PUB : 0) | M_SUB, 1, 0);
		run_phase(w, PH_CONNECT, 0);
		close_all(w);
		barrier(w);
	}
	if (cfg->sub_offline) {
		select_set(w, M_SUB, 0, 1);
		run_phase(w, PH_CONNECT, 0);
		close_all(w);
		if (barrier(w) && cfg->pause_stdin &&
		    !atomic_load(&run->failed))
			pause_stdin("subscribed", NULL);
		if (cfg->pause_stdin)
			barrier(w);
		select_set(w, M_PUB, !cfg->persistent, 0);
	} else {
		select_set(w, M_PUB | M_SUB, sub_clean, 1);
	}
	run_phase(w, PH_CONNECT, 0);
	if (barrier(w)) {
		run->t_start = hf_bench_now();
		run->t_send_end =
		    run->t_start + (uint64_t)(cfg->duration * 1e9);
	}
	barrier(w);
	if (!cfg->connect_only && !atomic_load(&run->failed)) {
		run_phase(w, PH_PUBLISH, 0);
		if (cfg->sub_offline) {
			if (barrier(w)) {
				run->t_drain_start = hf_bench_now();
				if (cfg->pause_stdin &&
				    !atomic_load(&run->failed)) {
					pause_stdin("published",
					            &run->t_drain_start);
					run->retry_until =
					    hf_bench_now() +
					    (uint64_t)(cfg->drain_timeout *
					               1e9);
				}
			}
			barrier(w);
			/* reconnect without subscribing: the session must
			 * still hold the subscription and the messages */
			select_set(w, M_SUB, 0, 0);
			if (!atomic_load(&run->failed) &&
			    run_phase(w, PH_CONNECT, 0) == 0)
				run_phase(w, PH_DRAIN, 0);
		}
	}
	if (barrier(w))
		run->t_end = hf_bench_now();
	barrier(w);
	close_all(w);
	return NULL;
}

int
hf_bench_read_cpu(int pid, double *user, double *sys)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	long hz = sysconf(_SC_CLK_TCK);
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* fields after the command name, which may hold spaces: state is
	 * field 3, utime 14, stime 15 */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2,
	                 "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
	                 "%lu %lu",
	                 &ut, &st) != 2)
		return -1;
	*user = (double)ut / (double)hz;
	*sys = (double)st / (double)hz;
	return 0;
}

void
hf_bench_worker_init(struct hf_bench_worker *w, struct hf_bench_run *run,
                     int id)
{
	const struct hf_bench_cfg *cfg = run->cfg;
	int t = cfg->threads, i, k = 0;

	memset(w, 0, sizeof(*w));
	w->run = run;
	w->id = id;
	w->epfd = epoll_create1(0);
	if (w->epfd < 0) {
		perror("hfbench: epoll_create1");
		exit(1);
	}
	for (i = id; i < cfg->pubs; i += t)
		w->npubs++;
	for (i = id; i < cfg->subs; i += t)
		w->nsubs++;
	for (i = id; i < cfg->idle; i += t)
		w->nidle++;
	w->nconns = w->npubs + w->nsubs + w->nidle;
	w->conns = calloc((size_t)w->nconns + 1, sizeof(*w->conns));
	w->dirty = calloc((size_t)w->nconns + 1, sizeof(*w->dirty));
	w->nseqs = w->nsubs * cfg->pubs;
	w->seqs = calloc((size_t)w->nseqs + 1, sizeof(*w->seqs));
	if (!w->conns || !w->dirty || !w->seqs) {
		perror("hfbench: calloc");
		exit(1);
	}
	hf_bench_hist_reset(&w->lat);
	hf_bench_hist_reset(&w->conn_lat);
	for (i = 0; i < w->nconns; i++) {
		struct hf_bench_conn *c = &w->conns[i];
		size_t inb = 512, outb = 256;

		c->w = w;
		c->fd = -1;
		if (i < w->npubs) {
			char topic[64];

			c->role = HFB_ROLE_PUB;
			c->idx = (uint32_t)(id + i * t);
			snprintf(topic, sizeof(topic), "bench/%u", c->idx);
			hf_bench_pub_template(&c->tpl, cfg->version, topic,
			                      cfg->qos, cfg->payload);
			if (cfg->qos) {
				c->ids = calloc(65536, 1);
				if (!c->ids) {
					perror("hfbench: calloc");
					exit(1);
				}
			}
			c->next_id = 1;
			inb = 64 * 1024;
			outb = (size_t)cfg->window * c->tpl.total + 65536;
		} else if (i < w->npubs + w->nsubs) {
			c->role = HFB_ROLE_SUB;
			c->idx = (uint32_t)(id + (i - w->npubs) * t);
			c->rel = calloc(8192, 1);
			if (!c->rel) {
				perror("hfbench: calloc");
				exit(1);
			}
			c->seqs = &w->seqs[(size_t)k++ * cfg->pubs];
			inb = 256 * 1024;
			outb = 16 * 1024;
		} else {
			c->role = HFB_ROLE_IDLE;
			c->idx = (uint32_t)(id + (i - w->npubs - w->nsubs) * t);
		}
		hf_bench_buf_init(&c->in, inb);
		hf_bench_buf_init(&c->out, outb);
		hf_bench_buf_init(&c->tp.win, cfg->ws ? inb : 0);
		hf_bench_buf_init(&c->tp.wout, cfg->ws ? outb + 16 : 0);
	}
}

void
hf_bench_worker_free(struct hf_bench_worker *w)
{
	int i;

	for (i = 0; i < w->nconns; i++) {
		struct hf_bench_conn *c = &w->conns[i];

		if (c->fd >= 0)
			close(c->fd);
		hf_bench_tp_reset(&c->tp);
		hf_bench_buf_free(&c->in);
		hf_bench_buf_free(&c->out);
		hf_bench_buf_free(&c->tp.win);
		hf_bench_buf_free(&c->tp.wout);
		free(c->ids);
		free(c->rel);
	}
	for (i = 0; i < w->nseqs; i++)
		hf_bench_seq_free(&w->seqs[i]);
	free(w->seqs);
	free(w->conns);
	free(w->dirty);
	if (w->epfd >= 0)
		close(w->epfd);
}

void
hf_bench_worker_pubstats(const struct hf_bench_worker *w,
                         struct hf_bench_pubstat *out)
{
	int i;

	for (i = 0; i < w->npubs; i++)
		out[w->conns[i].idx] = w->conns[i].st;
}
