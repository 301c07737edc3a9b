/*
 * tools/bench/hfscale.c - hfscale, the control-plane companion of hfbench:
 * many subscriptions with wildcards, retained messages, and a reconnect
 * storm of persistent sessions with queued messages.
 *
 * Design: one thread, one epoll loop, MQTT 3.1.1 over plain TCP, using
 * hfbench's own wire code (proto.c) and none of the broker's. A run is one
 * of three modes, each a fixed sequence of phases; every phase is a loop
 * bounded by a deadline (--timeout) and by counts, and ends when its goal
 * is reached, when the broker stays silent for --drain-idle seconds (only
 * where silence can be legitimate), or on a failure.
 *
 *   subs     C clients connect, then each sends K SUBSCRIBEs (one filter
 *            each) over a space of T topics t/A/B/C (A, C in 0..9, B in
 *            0..T/100-1): exact topics, t/+/B/C filters and t/A/B/#
 *            filters (--wildcards % of them, half of each kind). Timed:
 *            first SUBSCRIBE -> last SUBACK. The broker's RSS is read
 *            before connecting, after connecting and after subscribing.
 *            Then one publisher sends N QoS 0 messages to uniformly random
 *            topics of the space; every subscriber counts what it
 *            receives. The tool knows every client's filters, so it knows
 *            which clients must receive each message: "expected" is the
 *            number of (client, message) pairs that match, and a client
 *            that receives a message it has no matching filter for counts
 *            it as foreign. A client whose filters overlap may receive a
 *            message once per matching filter (brokers differ); only
 *            distinct (client, message) pairs count, the copies are
 *            reported as "overlap_copies".
 *   retained One publisher sends R retained messages (QoS -q, 1 by
 *            default) to distinct topics r/X/Y and waits for every ack
 *            (QoS 0: a PINGRESP after the last one). Then a fresh
 *            subscriber subscribes to "#" (--sub-qos) and the time from
 *            SUBSCRIBE to the last retained message is measured.
 *   storm    C persistent sessions (clean session 0) subscribe to s/<i> at
 *            QoS 1 and disconnect; a publisher sends M QoS 1 messages to
 *            every s/<i> and waits for the acks; then all C clients
 *            reconnect at once (at most --max-connecting TCP/CONNECT
 *            handshakes outstanding) and the time until every client has
 *            its CONNACK and all M messages is measured.
 *
 * Payloads carry hfbench's 20-byte stamp: u32 tag (subs: topic index,
 * retained: 0, storm: client index), u64 sequence (from 1), u64 send time.
 * Loss = expected - distinct; at QoS 1 expected counts acknowledged
 * publishes only, so a lost acknowledged message always shows as lost > 0
 * and makes the exit status 2 (unless --allow-loss).
 *
 * Threading/ownership: single-threaded; main() owns every connection and
 * buffer and frees them before it returns.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"

enum { M_SUBS, M_RETAINED, M_STORM };
enum { C_IDLE, C_CONNECTING, C_WAIT_CONNACK, C_READY, C_CLOSING, C_CLOSED };

struct conn {
	int fd;
	int state;
	int idx; /* client index; -1 for the publisher */
	int want_out;
	int session_present;
	struct hf_bench_buf in, out;
	uint16_t next_id;
	uint32_t subacks_due;
	uint64_t distinct, copies;
	uint64_t *seen;   /* bitmap of sequences (subs: N bits, retained: R) */
	uint64_t mask;    /* storm: bit k-1 = message k seen */
	uint8_t *matches; /* subs: bitmap of the T topics this client matches */
	uint64_t t_connack, t_done;
};

static struct {
	int mode;
	const char *host;
	int port;
	int clients, subs_per_client, topics, wildcards;
	uint64_t publishes; /* subs: N; retained: R; storm: M per client */
	int qos, sub_qos;
	size_t payload;
	uint32_t window;
	int max_connecting;
	double timeout, drain_idle;
	int pid, json, allow_loss;
	char prefix[64];
} cfg;

static int epfd;
static struct sockaddr_in addr;
static struct conn *cl;  /* clients */
static struct conn pubc; /* the publisher */
static char errmsg[256];
static int failed;
static uint64_t rng = 0x9e3779b97f4a7c15ull;
/* publisher state */
static uint64_t p_sent, p_acked, p_rejected, p_t_last;
static uint32_t p_inflight;
static uint8_t *p_used; /* packet ids in flight */
static int p_pinged;
/* counters */
static uint64_t r_received, r_distinct, r_foreign, r_dup, r_expected;
static uint64_t t_last_delivery;
static uint32_t *matchcnt; /* subs: clients matching each topic */
static int connecting, ready, done_clients, closed_clients;

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t
xrand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void
fail(const char *fmt, ...)
{
	va_list ap;

	if (failed)
		return;
	failed = 1;
	va_start(ap, fmt);
	vsnprintf(errmsg, sizeof(errmsg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "hfscale: %s\n", errmsg);
}

static long
read_rss(int pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	if (!pid)
		return -1;
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

static int
read_cpu(int pid, double *user, double *sys)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	FILE *f;
	size_t n;

	*user = *sys = -1;
	if (!pid)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2,
	                 "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
	                 "%lu %lu",
	                 &ut, &st) != 2)
		return -1;
	*user = (double)ut / (double)sysconf(_SC_CLK_TCK);
	*sys = (double)st / (double)sysconf(_SC_CLK_TCK);
	return 0;
}

/* ------------------------------------------------------------ I/O */

static void
set_events(struct conn *c, int out)
{
	struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0),
	                         .data.ptr = c};

	if (c->want_out == out)
		return;
	c->want_out = out;
	epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void
conn_close(struct conn *c)
{
	if (c->fd >= 0) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
	}
	if (c->state == C_CONNECTING || c->state == C_WAIT_CONNACK)
		connecting--;
	if (c->state == C_READY)
		ready--;
	c->state = C_CLOSED;
	c->in.len = c->in.off = 0;
	c->out.len = c->out.off = 0;
	closed_clients++;
}

static void
flush(struct conn *c)
{
	while (c->out.len && c->state != C_CONNECTING) {
		ssize_t n = send(c->fd, c->out.data + c->out.off, c->out.len,
		                 MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (c->state != C_CLOSING)
				fail("client %d: send: %s", c->idx,
				     strerror(errno));
			conn_close(c);
			return;
		}
		hf_bench_buf_consume(&c->out, (size_t)n);
	}
	if (c->fd >= 0)
		set_events(c, c->out.len > 0 || c->state == C_CONNECTING);
}

static void
client_id(char *buf, size_t n, int idx)
{
	if (idx < 0)
		snprintf(buf, n, "%s-pub", cfg.prefix);
	else
		snprintf(buf, n, "%s-%d", cfg.prefix, idx);
}

static int
conn_open(struct conn *c, int clean)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
	struct hf_bench_connect cc = {.version = 4, .clean = clean};
	char id[96];
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		fail("socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 &&
	    errno != EINPROGRESS) {
		fail("connect: %s", strerror(errno));
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	c->state = C_CONNECTING;
	c->want_out = 1;
	c->session_present = 0;
	c->t_connack = 0;
	epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
	client_id(id, sizeof(id), c->idx);
	cc.client_id = id;
	hf_bench_put_connect(&c->out, &cc);
	connecting++;
	return 0;
}

/* Send DISCONNECT and shut down writing; the broker's EOF closes it. */
static void
conn_disconnect(struct conn *c)
{
	if (c->state != C_READY)
		return;
	hf_bench_put_simple(&c->out, HFB_DISCONNECT);
	flush(c);
	if (c->fd < 0)
		return;
	shutdown(c->fd, SHUT_WR);
	ready--;
	c->state = C_CLOSING;
}

/* ------------------------------------------------------------ packets */

static void
put_publish(struct hf_bench_buf *b, const char *topic, int qos, int retain,
            uint16_t id, uint32_t tag, uint64_t seq)
{
	size_t tl = strlen(topic);
	size_t rl = 2 + tl + (qos ? 2 : 0) + cfg.payload;
	size_t vl = rl < 128 ? 1 : rl < 16384 ? 2 : rl < 2097152 ? 3 : 4;
	uint8_t *p = hf_bench_buf_reserve(b, 1 + vl + rl), *q = p;
	uint64_t ts = now_ns();
	size_t v = rl;

	*q++ = (uint8_t)(0x30 | (qos << 1) | (retain ? 1 : 0));
	do {
		uint8_t d = v & 0x7f;

		v >>= 7;
		*q++ = d | (v ? 0x80 : 0);
	} while (v);
	*q++ = (uint8_t)(tl >> 8);
	*q++ = (uint8_t)tl;
	memcpy(q, topic, tl);
	q += tl;
	if (qos) {
		*q++ = (uint8_t)(id >> 8);
		*q++ = (uint8_t)id;
	}
	memcpy(q, &tag, 4);
	memcpy(q + 4, &seq, 8);
	memcpy(q + 12, &ts, 8);
	memset(q + HFB_STAMP_LEN, 0, cfg.payload - HFB_STAMP_LEN);
	b->len += 1 + vl + rl;
}

static void
topic_name(char *buf, size_t n, uint64_t i)
{
	int nb = cfg.topics / 100;

	snprintf(buf, n, "t/%d/%d/%d", (int)(i / 10 / (uint64_t)nb),
	         (int)(i / 10 % (uint64_t)nb), (int)(i % 10));
}

static void
on_publish(struct conn *c, int flags, const uint8_t *body, size_t len)
{
	struct hf_bench_publish p;
	uint32_t tag;
	uint64_t seq, ts;

	if (hf_bench_get_publish(4, flags, body, len, &p) < 0) {
		fail("client %d: malformed PUBLISH", c->idx);
		return;
	}
	if (p.qos == 1)
		hf_bench_put_ack(&c->out, HFB_PUBACK, p.id);
	else if (p.qos == 2) {
		fail("client %d: QoS 2 delivery (subscribed at QoS <= 1)",
		     c->idx);
		return;
	}
	r_received++;
	if (p.payload_len < HFB_STAMP_LEN) {
		r_foreign++;
		return;
	}
	hf_bench_stamp_read(p.payload, &tag, &seq, &ts);
	if (cfg.mode == M_STORM) {
		if ((int)tag != c->idx || seq < 1 || seq > cfg.publishes) {
			r_foreign++;
			return;
		}
		if (c->mask & (1ull << (seq - 1))) {
			r_dup++;
			return;
		}
		c->mask |= 1ull << (seq - 1);
	} else {
		if (seq < 1 || seq > cfg.publishes ||
		    (cfg.mode == M_SUBS &&
		     (tag >= (uint32_t)cfg.topics ||
		      !(c->matches[tag / 8] & (1u << (tag % 8)))))) {
			r_foreign++;
			return;
		}
		if (c->seen[(seq - 1) / 64] & (1ull << ((seq - 1) % 64))) {
			if (cfg.mode == M_SUBS)
				c->copies++;
			else
				r_dup++;
			return;
		}
		c->seen[(seq - 1) / 64] |= 1ull << ((seq - 1) % 64);
	}
	c->distinct++;
	r_distinct++;
	t_last_delivery = now_ns();
	if (cfg.mode == M_STORM && c->distinct == cfg.publishes &&
	    c->t_connack && !c->t_done) {
		c->t_done = t_last_delivery;
		done_clients++;
	}
}

static void
on_packet(struct conn *c, int type, int flags, const uint8_t *body, size_t len)
{
	int rc;
	uint16_t id, rmax;

	switch (type) {
	case HFB_CONNACK:
		if (c->state != C_WAIT_CONNACK ||
		    hf_bench_get_connack(4, body, len, &rc, &rmax) < 0) {
			fail("client %d: unexpected CONNACK", c->idx);
			return;
		}
		if (rc) {
			fail("client %d: CONNACK refused, code %d", c->idx, rc);
			return;
		}
		c->session_present = body[0] & 1;
		c->state = C_READY;
		c->t_connack = now_ns();
		connecting--;
		ready++;
		if (cfg.mode == M_STORM && c->idx >= 0 && cfg.publishes == 0 &&
		    !c->t_done) {
			c->t_done = c->t_connack;
			done_clients++;
		} else if (cfg.mode == M_STORM && c->idx >= 0 && !c->t_done &&
		           c->distinct == cfg.publishes) {
			c->t_done = c->t_connack;
			done_clients++;
		}
		break;
	case HFB_SUBACK:
		if (hf_bench_get_suback(4, body, len, &id, &rc) < 0 ||
		    !c->subacks_due) {
			fail("client %d: unexpected SUBACK", c->idx);
			return;
		}
		if (rc >= 0x80) {
			fail("client %d: subscription refused (0x%02x)", c->idx,
			     rc);
			return;
		}
		c->subacks_due--;
		break;
	case HFB_PUBLISH:
		on_publish(c, flags, body, len);
		break;
	case HFB_PUBACK:
		if (c != &pubc || hf_bench_get_ack(body, len, &id, &rc) < 0 ||
		    !p_used[id]) {
			fail("unexpected PUBACK");
			return;
		}
		p_used[id] = 0;
		p_inflight--;
		if (rc >= 0x80)
			p_rejected++;
		else
			p_acked++;
		p_t_last = now_ns();
		break;
	case HFB_PINGRESP:
		p_pinged = 2;
		break;
	default:
		fail("client %d: unexpected packet type %d", c->idx, type);
	}
}

static void
on_readable(struct conn *c)
{
	for (;;) {
		uint8_t *w = hf_bench_buf_reserve(&c->in, 65536);
		ssize_t n = recv(c->fd, w, 65536, 0);
		size_t pos = 0;

		if (n == 0) {
			if (c->state != C_CLOSING)
				fail("client %d: the broker closed the "
				     "connection",
				     c->idx);
			conn_close(c);
			return;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (c->state != C_CLOSING)
				fail("client %d: recv: %s", c->idx,
				     strerror(errno));
			conn_close(c);
			return;
		}
		c->in.len += (size_t)n;
		for (;;) {
			int type, flags;
			const uint8_t *body;
			size_t blen;
			long l = hf_bench_frame(c->in.data + c->in.off + pos,
			                        c->in.len - pos, &type, &flags,
			                        &body, &blen);

			if (l < 0) {
				fail("client %d: malformed packet", c->idx);
				conn_close(c);
				return;
			}
			if (l == 0)
				break;
			on_packet(c, type, flags, body, blen);
			pos += (size_t)l;
		}
		hf_bench_buf_consume(&c->in, pos);
		if (n < 65536)
			break;
	}
	if (c->out.len)
		flush(c);
}

static void
on_event(struct conn *c, uint32_t ev)
{
	if (c->fd < 0)
		return;
	if (c->state == C_CONNECTING && (ev & (EPOLLOUT | EPOLLERR))) {
		int err = 0;
		socklen_t l = sizeof(err);

		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (err) {
			fail("client %d: connect: %s", c->idx, strerror(err));
			conn_close(c);
			return;
		}
		c->state = C_WAIT_CONNACK;
	}
	if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))
		on_readable(c);
	if (c->fd >= 0 && (ev & EPOLLOUT))
		flush(c);
}

/* ------------------------------------------------------------ loop */

/* Run the loop until done() is true, the deadline passes, a failure, or
 * (idle_ok) --drain-idle seconds without a delivery. tick() runs every
 * turn (the publisher and the connection pacing). Returns 0 when done. */
static int
loop(int (*done)(void), void (*tick)(void), int idle_ok, const char *what)
{
	struct epoll_event evs[256];
	uint64_t deadline = now_ns() + (uint64_t)(cfg.timeout * 1e9);
	uint64_t last_seen = r_received + p_acked, t_quiet = now_ns();

	for (;;) {
		int n, i;

		if (tick)
			tick();
		if (failed)
			return -1;
		if (done())
			return 0;
		n = epoll_wait(epfd, evs, 256, 5);
		for (i = 0; i < n; i++)
			on_event(evs[i].data.ptr, evs[i].events);
		if (failed)
			return -1;
		if (r_received + p_acked != last_seen) {
			last_seen = r_received + p_acked;
			t_quiet = now_ns();
		} else if (idle_ok && now_ns() - t_quiet >
		                          (uint64_t)(cfg.drain_idle * 1e9)) {
			fprintf(stderr,
			        "hfscale: %s: %.1f s without traffic, "
			        "stopping\n",
			        what, cfg.drain_idle);
			return done() ? 0 : 1;
		}
		if (now_ns() > deadline) {
			fprintf(stderr, "hfscale: %s: timeout after %.0f s\n",
			        what, cfg.timeout);
			return 1;
		}
	}
}

/* connection pacing: open clients [0, clients) in order, at most
 * max_connecting handshakes outstanding */
static int next_open, open_clean;

static void
tick_open(void)
{
	while (next_open < cfg.clients && connecting < cfg.max_connecting &&
	       !failed) {
		if (conn_open(&cl[next_open], open_clean) < 0)
			return;
		next_open++;
	}
}

static int
all_ready(void)
{
	return next_open == cfg.clients && ready == cfg.clients;
}

static int
all_subacked(void)
{
	int i;

	for (i = 0; i < cfg.clients; i++)
		if (cl[i].subacks_due)
			return 0;
	return 1;
}

static int
all_closed(void)
{
	return closed_clients >= cfg.clients;
}

static int
pub_ready(void)
{
	return pubc.state == C_READY;
}

/* the publisher: N messages in total (subs, retained) or M per client */
static uint64_t pub_total;

static void
tick_pub(void)
{
	char topic[64];

	if (pubc.state != C_READY)
		return;
	while (p_sent < pub_total && !failed) {
		uint64_t seq = p_sent + 1;
		uint32_t tag = 0;
		uint16_t id = 0;
		int qos = cfg.mode == M_SUBS ? 0 : cfg.qos;

		if (qos && p_inflight >= cfg.window)
			break;
		if (!qos && pubc.out.len > 262144)
			break;
		if (cfg.mode == M_SUBS) {
			tag = (uint32_t)(xrand() % (uint64_t)cfg.topics);
			topic_name(topic, sizeof(topic), tag);
			r_expected += matchcnt[tag];
		} else if (cfg.mode == M_RETAINED) {
			snprintf(topic, sizeof(topic), "r/%llu/%llu",
			         (unsigned long long)(p_sent / 1000),
			         (unsigned long long)(p_sent % 1000));
		} else {
			tag = (uint32_t)(p_sent / cfg.publishes);
			seq = p_sent % cfg.publishes + 1;
			snprintf(topic, sizeof(topic), "s/%u", tag);
		}
		if (qos) {
			do
				id = pubc.next_id =
				    (uint16_t)(pubc.next_id + 1);
			while (!id || p_used[id]);
			p_used[id] = 1;
			p_inflight++;
		}
		put_publish(&pubc.out, topic, qos, cfg.mode == M_RETAINED, id,
		            tag, seq);
		p_sent++;
	}
	if (cfg.mode == M_SUBS || (cfg.mode == M_RETAINED && !cfg.qos))
		if (p_sent == pub_total && !pubc.out.len && !p_t_last)
			p_t_last = now_ns();
	if (pubc.out.len)
		flush(&pubc);
}

static int
pub_acked(void)
{
	if (cfg.mode == M_RETAINED && !cfg.qos)
		return p_pinged == 2;
	return p_sent == pub_total && !p_inflight;
}

static int
pub_sent(void)
{
	return p_sent == pub_total && !pubc.out.len;
}

static int
subs_drained(void)
{
	return pub_sent() && r_distinct >= r_expected;
}

static int
storm_done(void)
{
	return next_open == cfg.clients && done_clients == cfg.clients;
}

/* ------------------------------------------------------------ modes */

static void
disconnect_all(void)
{
	int i;

	closed_clients = 0;
	for (i = 0; i < cfg.clients; i++) {
		if (cl[i].state == C_READY)
			conn_disconnect(&cl[i]);
		else if (cl[i].state != C_CLOSING && cl[i].fd >= 0)
			conn_close(&cl[i]);
		else if (cl[i].fd < 0)
			closed_clients++;
	}
	if (loop(all_closed, NULL, 0, "disconnect") && !failed)
		fprintf(stderr, "hfscale: not every connection closed\n");
	for (i = 0; i < cfg.clients; i++)
		if (cl[i].fd >= 0)
			conn_close(&cl[i]);
}

static double
secs(uint64_t a, uint64_t b)
{
	return b > a ? (double)(b - a) / 1e9 : 0;
}

static int
build_subs(void)
{
	int nb = cfg.topics / 100, i, k;
	int nwild = cfg.subs_per_client * cfg.wildcards / 100;

	matchcnt = calloc((size_t)cfg.topics, sizeof(*matchcnt));
	if (!matchcnt)
		return -1;
	for (i = 0; i < cfg.clients; i++) {
		struct conn *c = &cl[i];
		char f[64];
		int t;

		c->matches = calloc((size_t)cfg.topics / 8 + 1, 1);
		c->seen = calloc((size_t)(cfg.publishes / 64 + 1), 8);
		if (!c->matches || !c->seen)
			return -1;
		for (k = 0; k < cfg.subs_per_client; k++) {
			int a = (int)(xrand() % 10), b = (int)(xrand() % nb),
			    cc = (int)(xrand() % 10), j;

			if (k < nwild / 2) { /* t/+/B/C: 10 topics */
				snprintf(f, sizeof(f), "t/+/%d/%d", b, cc);
				for (j = 0; j < 10; j++) {
					t = (j * nb + b) * 10 + cc;
					c->matches[t / 8] |=
					    (uint8_t)(1u << (t % 8));
				}
			} else if (k < nwild) { /* t/A/B/#: 10 topics */
				snprintf(f, sizeof(f), "t/%d/%d/#", a, b);
				for (j = 0; j < 10; j++) {
					t = (a * nb + b) * 10 + j;
					c->matches[t / 8] |=
					    (uint8_t)(1u << (t % 8));
				}
			} else {
				snprintf(f, sizeof(f), "t/%d/%d/%d", a, b, cc);
				t = (a * nb + b) * 10 + cc;
				c->matches[t / 8] |= (uint8_t)(1u << (t % 8));
			}
			c->next_id = (uint16_t)(c->next_id + 1);
			hf_bench_put_subscribe(&c->out, 4, c->next_id, f,
			                       cfg.sub_qos);
		}
		/* the SUBSCRIBEs wait in the output buffer until the
		 * subscribe phase */
		for (t = 0; t < cfg.topics; t++)
			if (c->matches[t / 8] & (1u << (t % 8)))
				matchcnt[t]++;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"mode", required_argument, NULL, 'm'},
	    {"clients", required_argument, NULL, 'C'},
	    {"subs-per-client", required_argument, NULL, 'K'},
	    {"topics", required_argument, NULL, 't'},
	    {"wildcards", required_argument, NULL, 'W'},
	    {"publishes", required_argument, NULL, 'n'},
	    {"sub-qos", required_argument, NULL, 'Q'},
	    {"max-connecting", required_argument, NULL, 'M'},
	    {"timeout", required_argument, NULL, 'T'},
	    {"drain-idle", required_argument, NULL, 'I'},
	    {"pid", required_argument, NULL, 'i'},
	    {"prefix", required_argument, NULL, 'x'},
	    {"json", no_argument, NULL, 'j'},
	    {"allow-loss", no_argument, NULL, 'L'},
	    {"help", no_argument, NULL, 'H'},
	    {NULL, 0, NULL, 0}};
	struct rlimit rl;
	uint64_t t0, t1, t2, t3, t_wall = now_ns();
	long rss0 = -1, rss1 = -1, rss2 = -1;
	double cu0 = 0, cs0 = 0, cu1 = 0, cs1 = 0;
	double sub_s = 0, pub_s = 0, deliv_s = 0, phase_s = 0, connack_s = 0;
	int o, i, rc = 0, session_missing = 0;
	const char *mode = "subs";

	cfg.host = "127.0.0.1";
	cfg.port = 1883;
	cfg.clients = 1000;
	cfg.subs_per_client = 100;
	cfg.topics = 10000;
	cfg.wildcards = 20;
	cfg.publishes = 0;
	cfg.qos = 1;
	cfg.sub_qos = -1;
	cfg.payload = 64;
	cfg.window = 64;
	cfg.max_connecting = 256;
	cfg.timeout = 300;
	cfg.drain_idle = 3;
	snprintf(cfg.prefix, sizeof(cfg.prefix), "hfs%d", (int)getpid());
	while ((o = getopt_long(argc, argv, "h:p:q:s:w:", opts, NULL)) != -1) {
		switch (o) {
		case 'h':
			cfg.host = optarg;
			break;
		case 'p':
			cfg.port = atoi(optarg);
			break;
		case 'q':
			cfg.qos = atoi(optarg);
			break;
		case 's':
			cfg.payload = (size_t)atol(optarg);
			break;
		case 'w':
			cfg.window = (uint32_t)atol(optarg);
			break;
		case 'm':
			mode = optarg;
			break;
		case 'C':
			cfg.clients = atoi(optarg);
			break;
		case 'K':
			cfg.subs_per_client = atoi(optarg);
			break;
		case 't':
			cfg.topics = atoi(optarg);
			break;
		case 'W':
			cfg.wildcards = atoi(optarg);
			break;
		case 'n':
			cfg.publishes = (uint64_t)atoll(optarg);
			break;
		case 'Q':
			cfg.sub_qos = atoi(optarg);
			break;
		case 'M':
			cfg.max_connecting = atoi(optarg);
			break;
		case 'T':
			cfg.timeout = atof(optarg);
			break;
		case 'I':
			cfg.drain_idle = atof(optarg);
			break;
		case 'i':
			cfg.pid = atoi(optarg);
			break;
		case 'x':
			snprintf(cfg.prefix, sizeof(cfg.prefix), "%s", optarg);
			break;
		case 'j':
			cfg.json = 1;
			break;
		case 'L':
			cfg.allow_loss = 1;
			break;
		default:
			fprintf(stderr,
			        "usage: hfscale [-h HOST] [-p PORT] --mode "
			        "subs|retained|storm [--clients C]\n"
			        "  [--subs-per-client K] [--topics T] "
			        "[--wildcards PCT] [--publishes N]\n"
			        "  [-q QOS] [--sub-qos QOS] [-s BYTES] [-w "
			        "WINDOW] [--max-connecting N]\n"
			        "  [--timeout S] [--drain-idle S] [--pid PID] "
			        "[--prefix ID] [--json] [--allow-loss]\n"
			        "subs: C clients x K filters over T topics, "
			        "then N QoS 0 publishes (default 10 000)\n"
			        "retained: N retained messages (100 000), "
			        "then one subscriber to #\n"
			        "storm: C persistent sessions, N (<= 64) QoS 1 "
			        "messages queued each (10), reconnect all\n");
			return o == 'H' ? 0 : 3;
		}
	}
	if (!strcmp(mode, "subs"))
		cfg.mode = M_SUBS;
	else if (!strcmp(mode, "retained"))
		cfg.mode = M_RETAINED;
	else if (!strcmp(mode, "storm"))
		cfg.mode = M_STORM;
	else {
		fprintf(stderr, "hfscale: --mode subs|retained|storm\n");
		return 3;
	}
	if (!cfg.publishes)
		cfg.publishes = cfg.mode == M_SUBS       ? 10000
		                : cfg.mode == M_RETAINED ? 100000
		                                         : 10;
	if (cfg.sub_qos < 0)
		cfg.sub_qos = cfg.mode == M_SUBS ? 0 : 1;
	if (cfg.mode == M_RETAINED)
		cfg.clients = 1;
	if (cfg.clients < 1 || cfg.clients > 1000000 || cfg.qos < 0 ||
	    cfg.qos > 1 || cfg.sub_qos < 0 || cfg.sub_qos > 1 ||
	    cfg.payload < HFB_STAMP_LEN || cfg.payload > 16 << 20 ||
	    cfg.window < 1 || cfg.window > 65000 || cfg.max_connecting < 1 ||
	    cfg.topics < 100 || cfg.topics % 100 || cfg.topics > 10000000 ||
	    cfg.subs_per_client < 1 || cfg.subs_per_client > 65000 ||
	    cfg.wildcards < 0 || cfg.wildcards > 100 || cfg.timeout <= 0 ||
	    (cfg.mode == M_STORM && cfg.publishes > 64) ||
	    cfg.publishes > 100000000) {
		fprintf(stderr, "hfscale: bad option value (QoS 0 or 1, "
		                "storm --publishes <= 64, topics a multiple "
		                "of 100)\n");
		return 3;
	}
	if (inet_pton(AF_INET, cfg.host, &addr.sin_addr) != 1) {
		fprintf(stderr, "hfscale: -h wants an IPv4 address\n");
		return 3;
	}
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)cfg.port);
	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur < (rlim_t)cfg.clients + 16) {
			fprintf(stderr,
			        "hfscale: open-file limit %lu < %d "
			        "clients\n",
			        (unsigned long)rl.rlim_cur, cfg.clients);
			return 3;
		}
	}
	epfd = epoll_create1(EPOLL_CLOEXEC);
	cl = calloc((size_t)cfg.clients, sizeof(*cl));
	p_used = calloc(65536, 1);
	if (epfd < 0 || !cl || !p_used) {
		perror("hfscale");
		return 1;
	}
	for (i = 0; i < cfg.clients; i++) {
		cl[i].fd = -1;
		cl[i].idx = i;
	}
	pubc.fd = -1;
	pubc.idx = -1;
	read_cpu(cfg.pid, &cu0, &cs0);
	rss0 = read_rss(cfg.pid);
	t0 = t1 = t2 = t3 = now_ns();

	if (cfg.mode == M_SUBS) {
		pub_total = cfg.publishes;
		if (build_subs() < 0) {
			perror("hfscale");
			return 1;
		}
		/* connect everyone; the SUBSCRIBEs wait in the buffers */
		open_clean = 1;
		for (i = 0; i < cfg.clients; i++) {
			cl[i].subacks_due = (uint32_t)cfg.subs_per_client;
		}
		{
			/* keep the prepared SUBSCRIBEs aside while the
			 * CONNECT goes first */
			struct hf_bench_buf *saved =
			    calloc((size_t)cfg.clients, sizeof(*saved));

			for (i = 0; i < cfg.clients; i++) {
				saved[i] = cl[i].out;
				memset(&cl[i].out, 0, sizeof(cl[i].out));
			}
			if (loop(all_ready, tick_open, 0, "connect")) {
				rc = 1;
				goto out;
			}
			connack_s = secs(t0, now_ns());
			rss1 = read_rss(cfg.pid);
			t1 = now_ns();
			for (i = 0; i < cfg.clients; i++) {
				hf_bench_buf_free(&cl[i].out);
				cl[i].out = saved[i];
				flush(&cl[i]);
			}
			free(saved);
		}
		if (loop(all_subacked, NULL, 0, "subscribe")) {
			rc = 1;
			goto out;
		}
		t2 = now_ns();
		sub_s = secs(t1, t2);
		rss2 = read_rss(cfg.pid);
		conn_open(&pubc, 1);
		if (loop(pub_ready, NULL, 0, "publisher connect")) {
			rc = 1;
			goto out;
		}
		t3 = now_ns();
		if (loop(subs_drained, tick_pub, 1, "publish")) {
			rc = failed ? 1 : 0;
			if (failed)
				goto out;
		}
		pub_s = secs(t3, p_t_last);
		deliv_s = secs(t3, t_last_delivery);
	} else if (cfg.mode == M_RETAINED) {
		pub_total = cfg.publishes;
		conn_open(&pubc, 1);
		if (loop(pub_ready, NULL, 0, "publisher connect")) {
			rc = 1;
			goto out;
		}
		t1 = now_ns();
		if (loop(pub_sent, tick_pub, 0, "publish")) {
			rc = 1;
			goto out;
		}
		if (!cfg.qos) {
			hf_bench_put_simple(&pubc.out, HFB_PINGREQ);
			flush(&pubc);
			p_pinged = 1;
		}
		if (loop(pub_acked, NULL, 0, "acks")) {
			rc = 1;
			goto out;
		}
		if (!p_t_last)
			p_t_last = now_ns();
		pub_s = secs(t1, p_t_last);
		r_expected = cfg.qos ? p_acked : p_sent;
		cl[0].seen = calloc((size_t)(cfg.publishes / 64 + 1), 8);
		open_clean = 1;
		if (loop(all_ready, tick_open, 0, "subscriber connect")) {
			rc = 1;
			goto out;
		}
		cl[0].subacks_due = 1;
		hf_bench_put_subscribe(&cl[0].out, 4, 1, "#", cfg.sub_qos);
		t2 = now_ns();
		flush(&cl[0]);
		if (loop(subs_drained, NULL, 1, "retained delivery") &&
		    failed) {
			rc = 1;
			goto out;
		}
		deliv_s = phase_s = secs(t2, t_last_delivery);
	} else { /* storm */
		pub_total = (uint64_t)cfg.clients * cfg.publishes;
		open_clean = 0;
		if (loop(all_ready, tick_open, 0, "session setup")) {
			rc = 1;
			goto out;
		}
		for (i = 0; i < cfg.clients; i++) {
			char f[32];

			snprintf(f, sizeof(f), "s/%d", i);
			cl[i].subacks_due = 1;
			hf_bench_put_subscribe(&cl[i].out, 4, 1, f, 1);
			flush(&cl[i]);
		}
		if (loop(all_subacked, NULL, 0, "subscribe")) {
			rc = 1;
			goto out;
		}
		sub_s = secs(t0, now_ns());
		disconnect_all();
		if (failed) {
			rc = 1;
			goto out;
		}
		conn_open(&pubc, 1);
		if (loop(pub_ready, NULL, 0, "publisher connect")) {
			rc = 1;
			goto out;
		}
		t1 = now_ns();
		if (loop(pub_acked, tick_pub, 0, "publish")) {
			rc = 1;
			goto out;
		}
		pub_s = secs(t1, p_t_last);
		r_expected = p_acked;
		rss1 = read_rss(cfg.pid);
		/* the storm */
		next_open = 0;
		connecting = ready = 0;
		t2 = now_ns();
		if (loop(storm_done, tick_open, 0, "reconnect storm") &&
		    failed) {
			rc = 1;
			goto out;
		}
		t3 = now_ns();
		phase_s = secs(t2, t3);
		deliv_s = phase_s;
		for (i = 0; i < cfg.clients; i++) {
			if (cl[i].t_connack && !cl[i].session_present)
				session_missing++;
			if (cl[i].t_connack &&
			    secs(t2, cl[i].t_connack) > connack_s)
				connack_s = secs(t2, cl[i].t_connack);
		}
		rss2 = read_rss(cfg.pid);
	}
out:
	read_cpu(cfg.pid, &cu1, &cs1);
	if (cfg.mode != M_RETAINED || cl[0].fd >= 0)
		disconnect_all();
	if (pubc.state == C_READY) {
		hf_bench_put_simple(&pubc.out, HFB_DISCONNECT);
		flush(&pubc);
	}
	if (pubc.fd >= 0)
		close(pubc.fd);
	{
		uint64_t lost =
		    r_expected > r_distinct ? r_expected - r_distinct : 0;
		uint64_t copies = 0;
		double wall = secs(t_wall, now_ns());
		struct rusage ru;
		double my_user = 0, my_sys = 0;

		if (!getrusage(RUSAGE_SELF, &ru)) {
			my_user = (double)ru.ru_utime.tv_sec +
			          (double)ru.ru_utime.tv_usec / 1e6;
			my_sys = (double)ru.ru_stime.tv_sec +
			         (double)ru.ru_stime.tv_usec / 1e6;
		}

		for (i = 0; i < cfg.clients; i++)
			copies += cl[i].copies;
		if (!rc && (lost || r_dup) && !cfg.allow_loss)
			rc = 2;
		if (!rc && session_missing)
			rc = 2;
		if (!rc && cfg.mode != M_SUBS && cfg.qos && !p_acked)
			rc = 2;
		printf("hfscale %s: %d clients, %llu publishes, sent %llu, "
		       "acked %llu\n",
		       mode, cfg.clients, (unsigned long long)cfg.publishes,
		       (unsigned long long)p_sent, (unsigned long long)p_acked);
		if (cfg.mode == M_SUBS)
			printf("subscribe: %d subscriptions in %.3f s = %.0f "
			       "/s; broker RSS %ld -> %ld (connected) -> %ld "
			       "KiB (subscribed)\n",
			       cfg.clients * cfg.subs_per_client, sub_s,
			       sub_s > 0
			           ? cfg.clients * cfg.subs_per_client / sub_s
			           : 0,
			       rss0, rss1, rss2);
		if (cfg.mode == M_STORM)
			printf("storm: %d clients reconnected in %.3f s "
			       "(last CONNACK at %.3f s), %d without their "
			       "session\n",
			       cfg.clients, phase_s, connack_s,
			       session_missing);
		if (cfg.mode == M_RETAINED)
			printf("retained: SUBSCRIBE -> last of %llu retained "
			       "messages in %.3f s\n",
			       (unsigned long long)r_distinct, phase_s);
		printf("deliveries: received %llu, distinct %llu, expected "
		       "%llu, lost %llu, duplicated %llu, overlap copies "
		       "%llu, foreign %llu\n",
		       (unsigned long long)r_received,
		       (unsigned long long)r_distinct,
		       (unsigned long long)r_expected, (unsigned long long)lost,
		       (unsigned long long)r_dup, (unsigned long long)copies,
		       (unsigned long long)r_foreign);
		if (failed)
			printf("error: %s\n", errmsg);
		if (cfg.json) {
			printf("{\"tool\":\"hfscale\",\"mode\":\"%s\","
			       "\"clients\":%d,\"subs_per_client\":%d,"
			       "\"topics\":%d,\"wildcards_pct\":%d,"
			       "\"publishes\":%llu,\"qos\":%d,\"sub_qos\":%d,"
			       "\"window\":%u,\"sent\":%llu,\"acked\":%llu,"
			       "\"rejected\":%llu,",
			       mode, cfg.clients, cfg.subs_per_client,
			       cfg.topics, cfg.wildcards,
			       (unsigned long long)cfg.publishes,
			       cfg.mode == M_SUBS ? 0 : cfg.qos, cfg.sub_qos,
			       cfg.window, (unsigned long long)p_sent,
			       (unsigned long long)p_acked,
			       (unsigned long long)p_rejected);
			printf("\"subscriptions\":%d,\"subscribe_s\":%.4f,"
			       "\"sub_rate\":%.1f,\"connect_s\":%.4f,"
			       "\"pub_rate\":%.1f,\"received\":%llu,"
			       "\"distinct\":%llu,\"expected\":%llu,"
			       "\"delivery_rate\":%.1f,\"phase_s\":%.4f,"
			       "\"lost\":%llu,\"duplicated\":%llu,"
			       "\"overlap_copies\":%llu,\"foreign\":%llu,"
			       "\"no_session\":%d,",
			       cfg.mode == M_SUBS
			           ? cfg.clients * cfg.subs_per_client
			       : cfg.mode == M_STORM ? cfg.clients
			                             : 1,
			       sub_s,
			       sub_s > 0 && cfg.mode == M_SUBS
			           ? cfg.clients * cfg.subs_per_client / sub_s
			           : 0,
			       connack_s,
			       pub_s > 0
			           ? (double)(cfg.mode == M_SUBS ? p_sent
			                                         : p_acked) /
			                 pub_s
			           : 0,
			       (unsigned long long)r_received,
			       (unsigned long long)r_distinct,
			       (unsigned long long)r_expected,
			       deliv_s > 0 ? (double)r_distinct / deliv_s : 0,
			       phase_s, (unsigned long long)lost,
			       (unsigned long long)r_dup,
			       (unsigned long long)copies,
			       (unsigned long long)r_foreign, session_missing);
			printf(
			    "\"rss_before_kb\":%ld,\"rss_connected_kb\":%ld,"
			    "\"rss_after_kb\":%ld,\"broker_cpu_user_s\":%.3f,"
			    "\"broker_cpu_sys_s\":%.3f,\"cpu_user_s\":%.3f,"
			    "\"cpu_sys_s\":%.3f,\"cpu_pct\":%.1f,"
			    "\"wall_s\":%.3f,"
			    "\"lat_us\":{\"n\":0},\"exit\":%d%s%s%s}\n",
			    rss0, rss1, rss2, cu1 - cu0, cs1 - cs0, my_user,
			    my_sys,
			    wall > 0 ? 100.0 * (my_user + my_sys) / wall : 0,
			    wall, rc, failed ? ",\"error\":\"" : "",
			    failed ? errmsg : "", failed ? "\"" : "");
		}
	}
	for (i = 0; i < cfg.clients; i++) {
		hf_bench_buf_free(&cl[i].in);
		hf_bench_buf_free(&cl[i].out);
		free(cl[i].seen);
		free(cl[i].matches);
	}
	hf_bench_buf_free(&pubc.in);
	hf_bench_buf_free(&pubc.out);
	free(cl);
	free(p_used);
	free(matchcnt);
	close(epfd);
	return rc;
}
