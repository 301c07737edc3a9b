/* tests/protocol/p21_abuse.c - abuse through real sockets: mutated but
 * well-framed packet sequences, a connection flood, a slowloris crowd and a
 * subscriber that never reads (issue 8).
 *
 * Mutations. Each connection gets a script of valid packets encoded with
 * the project codec (CONNECT 3.1.1 or 5.0 with wills, session expiry and
 * properties; SUBSCRIBE with every option; PUBLISH at QoS 0-2 with
 * properties and topic aliases; PUBACK, PUBREC, PUBREL, PUBCOMP for ids that
 * exist and ids that do not; UNSUBSCRIBE; PINGREQ; DISCONNECT with a reason
 * and a new session expiry), then a seeded number of mutations of the
 * bodies (bit flips, bytes overwritten, cut or inserted; packets dropped or
 * repeated; the fixed-header flags changed) and each packet is framed again
 * with its true Remaining Length, so every packet reaches the engine whole.
 * Client ids come from a small set, so sessions are shared, taken over and
 * resumed. Connections run in batches of BATCH side by side; after every
 * group a fresh client must be served, and at the end the broker must stop
 * cleanly (exit 0) with a store that passes holdfast-db check, and start
 * again from it. Several seeds (HF_ABUSE_SEED adds one).
 *
 * Floods. 1000 connections that never send CONNECT, and 200 that send one
 * byte and stop: a fresh client is served meanwhile, and connect_timeout
 * closes them. A subscriber that never reads while QoS 0 and QoS 1 are
 * published to it at full speed: others are served, and the broker's
 * memory stays bounded (QoS 0 backlog limit, in-flight window).
 *
 * Single-threaded; every wait has a deadline. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "broker_proc.h"
#include "rawclient.h"
#include "test.h"

#define BATCH      16
#define PER_SEED   160
#define MAX_SCRIPT 16
#define MAX_BODY   600

static uint64_t rng;

static uint32_t
rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return n ? (uint32_t)(rng % n) : 0;
}

struct pkt {
	uint8_t type_flags;
	uint32_t len;
	uint8_t body[MAX_BODY];
};

/* Encode p and keep its fixed header's first byte and its body. */
static void
add(struct pkt *s, int *n, const struct hf_packet *p, uint8_t ver)
{
	struct hf_wbuf w = {0};
	struct hf_frame f;
	if (*n < MAX_SCRIPT && hf_encode(p, ver, &w) == HF_OK &&
	    hf_frame_parse(w.p, w.len, 0, &f) == HF_OK &&
	    f.body_len <= MAX_BODY) {
		s[*n].type_flags = f.type_flags;
		s[*n].len = f.body_len;
		memcpy(s[*n].body, w.p + f.hdr_len, f.body_len);
		(*n)++;
	}
	hf_wbuf_free(&w);
}

static const char *const ids[] = {"ab1", "ab2", "ab3", "ab4", ""};
static const char *const topics[] = {"x/a", "x/b", "x/a/b", "w/x"};
static const char *const filters[] = {"x/#",          "x/+",   "#",  "+/a",
                                      "$share/g/x/a", "x/a/b", "w/#"};

static void
script_connect(struct pkt *s, int *n, uint8_t ver)
{
	static const uint8_t user[] = {0x26, 0, 1, 'k', 0, 1, 'v'};
	struct hf_packet p;
	const char *id = ids[rnd(5)];
	hf_raw_connect_init(&p, ver, id, rnd(2), (uint16_t)(rnd(3) ? 60 : 1));
	if (rnd(2)) {
		const char *t = topics[rnd(4)];
		p.u.connect.will = true;
		p.u.connect.will_qos = (uint8_t)rnd(3);
		p.u.connect.will_retain = rnd(4) == 0;
		p.u.connect.will_topic.p = (const uint8_t *)t;
		p.u.connect.will_topic.len = (uint32_t)strlen(t);
		p.u.connect.will_payload.p = (const uint8_t *)"bye";
		p.u.connect.will_payload.len = 3;
		if (ver == V5 && rnd(2)) {
			p.u.connect.will_props.present |= HF_PP_WILL_DELAY;
			p.u.connect.will_props.will_delay = rnd(3);
		}
	}
	if (ver == V5) {
		if (rnd(2)) {
			p.u.connect.props.present |= HF_PP_SESSION_EXPIRY;
			p.u.connect.props.session_expiry = rnd(3) * 30;
		}
		if (rnd(2)) {
			p.u.connect.props.present |= HF_PP_RECEIVE_MAX;
			p.u.connect.props.receive_max = (uint16_t)(1 + rnd(3));
		}
		if (rnd(3) == 0) {
			p.u.connect.props.present |= HF_PP_TOPIC_ALIAS_MAX;
			p.u.connect.props.topic_alias_max = 2;
		}
		p.u.connect.props.present |= HF_PP_USER_PROPERTY;
		p.u.connect.props.user.p = user;
		p.u.connect.props.user.len = sizeof(user);
	}
	add(s, n, &p, ver);
}

static void
script_rest(struct pkt *s, int *n, uint8_t ver)
{
	static uint8_t payload[128];
	uint8_t entry[64];
	while (*n < MAX_SCRIPT - 1) {
		struct hf_packet p;
		memset(&p, 0, sizeof(p));
		switch (rnd(8)) {
		case 0:
		case 1: {
			const char *f = filters[rnd(7)];
			size_t fl = strlen(f);
			entry[0] = 0;
			entry[1] = (uint8_t)fl;
			memcpy(entry + 2, f, fl);
			entry[2 + fl] =
			    (uint8_t)(rnd(3) | (ver == V5 ? rnd(16) << 2 : 0));
			p.type = rnd(4) ? HF_SUBSCRIBE : HF_UNSUBSCRIBE;
			p.u.subscribe.pid = (uint16_t)(1 + rnd(5));
			p.u.subscribe.entries.p = entry;
			p.u.subscribe.entries.len =
			    (uint32_t)(fl + (p.type == HF_SUBSCRIBE ? 3 : 2));
			p.u.subscribe.n = 1;
			if (ver == V5 && p.type == HF_SUBSCRIBE && rnd(2)) {
				static uint32_t sid = 7;
				p.u.subscribe.props.present |=
				    HF_PP_SUBSCRIPTION_ID;
				p.u.subscribe.props.sub_ids = &sid;
				p.u.subscribe.props.n_sub_ids = 1;
			}
			break;
		}
		case 2:
		case 3:
		case 4: {
			const char *t = topics[rnd(4)];
			p.type = HF_PUBLISH;
			p.u.publish.qos = (uint8_t)rnd(3);
			p.u.publish.retain = rnd(4) == 0;
			p.u.publish.pid =
			    p.u.publish.qos ? (uint16_t)(1 + rnd(6)) : 0;
			p.u.publish.topic.p = (const uint8_t *)t;
			p.u.publish.topic.len = (uint32_t)strlen(t);
			memset(payload, 'a' + (int)rnd(26), sizeof(payload));
			p.u.publish.payload.p = payload;
			p.u.publish.payload.len = rnd(3) ? rnd(128) : 0;
			if (ver == V5) {
				if (rnd(3) == 0) {
					p.u.publish.props.present |=
					    HF_PP_TOPIC_ALIAS;
					p.u.publish.props.topic_alias = 1;
					if (rnd(2))
						p.u.publish.topic.len = 0;
				}
				if (rnd(3) == 0) {
					p.u.publish.props.present |=
					    HF_PP_MESSAGE_EXPIRY;
					p.u.publish.props.message_expiry =
					    rnd(3);
				}
			}
			break;
		}
		case 5: {
			static const uint8_t types[] = {HF_PUBACK, HF_PUBREC,
			                                HF_PUBREL, HF_PUBCOMP};
			p.type = types[rnd(4)];
			p.u.ack.pid = (uint16_t)(1 + rnd(8));
			break;
		}
		case 6:
			p.type = HF_PINGREQ;
			break;
		default:
			p.type = HF_DISCONNECT;
			p.u.ack.rc = rnd(2) ? 0 : HF_RC_DISCONNECT_WITH_WILL;
			if (ver == V5 && rnd(2)) {
				p.u.ack.props.present |= HF_PP_SESSION_EXPIRY;
				p.u.ack.props.session_expiry = rnd(2) * 60;
			}
			add(s, n, &p, ver);
			return;
		}
		add(s, n, &p, ver);
	}
}

/* Mutate s[0..*n), which has room for cap packets. */
static void
mutate(struct pkt *s, int *n, int cap)
{
	int k = 1 + (int)rnd(6);
	while (k-- > 0 && *n > 0) {
		struct pkt *p = &s[rnd((uint32_t)*n)];
		switch (rnd(8)) {
		case 0: /* flip a bit */
		case 1:
			if (p->len)
				p->body[rnd(p->len)] ^= (uint8_t)(1u << rnd(8));
			break;
		case 2: /* overwrite a byte */
			if (p->len)
				p->body[rnd(p->len)] = (uint8_t)rnd(256);
			break;
		case 3: /* cut */
			if (p->len)
				p->len = rnd(p->len);
			break;
		case 4: /* insert */
			if (p->len < MAX_BODY) {
				uint32_t at = rnd(p->len + 1);
				memmove(p->body + at + 1, p->body + at,
				        p->len - at);
				p->body[at] = (uint8_t)rnd(256);
				p->len++;
			}
			break;
		case 5: /* flags */
			p->type_flags ^= (uint8_t)(1u << rnd(4));
			break;
		case 6: /* drop a packet (not the CONNECT) */
			if (*n > 1 && p != &s[0]) {
				*p = s[*n - 1];
				(*n)--;
			}
			break;
		default: /* repeat one */
			if (*n < cap)
				s[(*n)++] = *p;
			break;
		}
	}
}

static size_t
frame(const struct pkt *s, int n, uint8_t *out)
{
	size_t o = 0;
	for (int i = 0; i < n; i++) {
		uint32_t l = s[i].len;
		out[o++] = s[i].type_flags;
		do {
			uint8_t b = (uint8_t)(l & 0x7f);
			l >>= 7;
			out[o++] = (uint8_t)(b | (l ? 0x80 : 0));
		} while (l);
		memcpy(out + o, s[i].body, s[i].len);
		o += s[i].len;
	}
	return o;
}

/* One batch of mutated connections, side by side; read what comes until
 * the broker closes or 300 ms pass. */
static void
batch(uint16_t port)
{
	static struct pkt script[MAX_SCRIPT];
	static uint8_t bytes[MAX_SCRIPT * (MAX_BODY + 5)];
	struct pollfd pf[BATCH];
	int nfd = 0;
	for (int c = 0; c < BATCH; c++) {
		int n = 0, fd = hf_raw_open(port);
		uint8_t ver = rnd(2) ? V5 : V3;
		if (fd < 0)
			continue;
		script_connect(script, &n, ver);
		script_rest(script, &n, ver);
		if (rnd(8)) { /* mostly get past CONNECT */
			int m = n - 1;
			mutate(script + 1, &m, MAX_SCRIPT - 1);
			n = m + 1;
		} else {
			mutate(script, &n, MAX_SCRIPT);
		}
		size_t len = frame(script, n, bytes);
		(void)!send(fd, bytes, len, MSG_NOSIGNAL);
		fcntl(fd, F_SETFL, O_NONBLOCK);
		pf[nfd].fd = fd;
		pf[nfd++].events = POLLIN;
	}
	int64_t end = hf_now_ms() + 300;
	int open = nfd;
	while (open > 0 && hf_now_ms() < end) {
		if (poll(pf, (nfds_t)nfd, 50) <= 0)
			continue;
		for (int i = 0; i < nfd; i++) {
			uint8_t buf[4096];
			if (pf[i].fd < 0 ||
			    !(pf[i].revents & (POLLIN | POLLHUP)))
				continue;
			ssize_t r = recv(pf[i].fd, buf, sizeof(buf), 0);
			if (r <= 0 && !(r < 0 && errno == EAGAIN)) {
				close(pf[i].fd);
				pf[i].fd = -1;
				open--;
			}
		}
	}
	for (int i = 0; i < nfd; i++)
		if (pf[i].fd >= 0)
			close(pf[i].fd);
}

/* A fresh client is served: QoS 1 to itself. */
static bool
serves(uint16_t port)
{
	struct hf_packet p;
	uint8_t buf[256];
	int fd = hf_raw_sub_client(port, V5, "fresh-abuse", "fresh/a", 1);
	bool ok =
	    fd >= 0 &&
	    hf_raw_publish(fd, V5, "fresh/a", "ok", 2, 0, false, 0) == 0 &&
	    hf_raw_expect_publish(fd, V5, 3000, true, &p, buf, sizeof(buf)) ==
	        1 &&
	    hf_bytes_eq(p.u.publish.payload, "ok");
	if (fd >= 0)
		close(fd);
	return ok;
}

static void
mutated_sequences(struct hf_bproc *b)
{
	uint64_t seeds[4] = {1, 7, 0xfeed, 0};
	int nseeds = 3;
	if (getenv("HF_ABUSE_SEED"))
		seeds[nseeds++] = strtoull(getenv("HF_ABUSE_SEED"), NULL, 0);
	for (int k = 0; k < nseeds; k++) {
		rng = seeds[k] * 0x9E3779B97F4A7C15ull + 1;
		for (int g = 0; g < PER_SEED / BATCH; g++) {
			batch(b->port);
			if (!serves(b->port)) {
				fprintf(stderr,
				        "seed %llu group %d: not served\n",
				        (unsigned long long)seeds[k], g);
				CHECK(0);
			}
		}
	}
	CHECK(!hf_bproc_log_contains(b, "inconsistency"));
	CHECK_EQ(hf_bproc_stop(b), 0);
	CHECK_EQ(hf_test_store_check(b->dir), 0);
	CHECK_EQ(hf_bproc_restart(b), 0);
	CHECK(serves(b->port));
}

/* Connections that never complete a CONNECT. */
static void
floods(struct hf_bproc *b)
{
	enum { N = 1000, SLOW = 200 };
	static int fds[N + SLOW];
	struct rlimit rl;
	int n = 0;
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < N + SLOW + 64 && rl.rlim_max >= N + SLOW + 64) {
		rl.rlim_cur = N + SLOW + 64;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	for (int i = 0; i < N + SLOW; i++) {
		int fd = hf_raw_open(b->port);
		if (fd < 0)
			break;
		if (i >= N)
			(void)!send(fd, "\x10", 1, MSG_NOSIGNAL);
		fds[n++] = fd;
	}
	CHECK(n > N / 2);
	CHECK(serves(b->port));
	/* connect_timeout 2: every one of them is closed by the broker. */
	int closed = 0;
	for (int i = 0; i < n; i++)
		closed += hf_raw_wait_close(fds[i], i == 0 ? 6000 : 500, NULL);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	CHECK_EQ(closed, n);
	CHECK(serves(b->port));
}

/* A subscriber that never reads; publishers flood it. */
static void
non_reading_subscriber(struct hf_bproc *b)
{
	static uint8_t payload[4096];
	int lazy = hf_raw_sub_client(b->port, V5, "lazy", "flood/#", 1);
	int pub = hf_raw_connect(b->port, V5, "flooder", true, 60, NULL, NULL);
	CHECK(lazy >= 0 && pub >= 0);
	memset(payload, 'z', sizeof(payload));
	/* 64 MiB of QoS 0 and 2000 QoS 1 messages at it, never read. */
	for (int i = 0; i < 16384; i++) {
		struct hf_packet p;
		memset(&p, 0, sizeof(p));
		p.type = HF_PUBLISH;
		p.u.publish.topic.p = (const uint8_t *)"flood/0";
		p.u.publish.topic.len = 7;
		p.u.publish.payload.p = payload;
		p.u.publish.payload.len = sizeof(payload);
		CHECK_EQ(hf_raw_send_pkt(pub, &p, V5), 0);
	}
	for (int i = 0; i < 2000; i++)
		CHECK(
		    HF_PUB_OK(hf_raw_publish(pub, V5, "flood/1", "q", 1, 1,
		                             false, (uint16_t)(i % 100 + 1))));
	CHECK(serves(b->port));
	/* Bounded: the QoS 0 backlog limit (16 MiB) and the window. */
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)b->pid);
	FILE *f = fopen(path, "r");
	long rss_kb = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &rss_kb) == 1)
			break;
	if (f)
		fclose(f);
	fprintf(stderr, "broker RSS with a non-reading subscriber: %ld KiB\n",
	        rss_kb);
	/* (A sanitizer build keeps freed memory in quarantine: no bound.) */
	if (!getenv("ASAN_OPTIONS"))
		CHECK(rss_kb > 0 && rss_kb < 64 * 1024);
	close(lazy);
	close(pub);
	CHECK(serves(b->port));
}

int
main(void)
{
	HF_BCASE(mutated_sequences, "max_packet_size 1048576\n"
	                            "connect_timeout 2\n");
	HF_BCASE(floods, "connect_timeout 2\nmax_connections -1\n");
	HF_BCASE(non_reading_subscriber, NULL);
	return HF_DONE();
}
