/* tests/helpers/rawclient.c - the byte-level MQTT test client (see
 * rawclient.h).
 *
 * Reading: the fixed header is read one byte at a time (so nothing of the
 * next packet is consumed and no per-fd buffer is needed), then the body in
 * one go, every read behind a poll() bounded by the caller's deadline.
 * Decoding is the project codec's hf_decode(); SUBSCRIBE and UNSUBSCRIBE
 * are built by hand here so the tests do not depend on how the codec
 * encodes entry lists.
 *
 * No global state; the caller owns every fd and buffer. */
#include "rawclient.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *
hf_ptype_name(uint8_t type)
{
	static const char *const names[16] = {
	    "RESERVED0", "CONNECT",  "CONNACK",     "PUBLISH",
	    "PUBACK",    "PUBREC",   "PUBREL",      "PUBCOMP",
	    "SUBSCRIBE", "SUBACK",   "UNSUBSCRIBE", "UNSUBACK",
	    "PINGREQ",   "PINGRESP", "DISCONNECT",  "AUTH"};

	return names[type & 15];
}

bool
hf_bytes_eq(struct hf_bytes b, const char *s)
{
	size_t n = strlen(s);

	return b.len == n && (n == 0 || memcmp(b.p, s, n) == 0);
}

int
hf_raw_open(uint16_t port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

int
hf_raw_send(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
hf_raw_send_pkt(int fd, const struct hf_packet *p, uint8_t ver)
{
	struct hf_wbuf w = {0};
	int r;

	if (hf_encode(p, ver, &w) != HF_OK) {
		hf_wbuf_free(&w);
		return -1;
	}
	r = hf_raw_send(fd, w.p, w.len);
	hf_wbuf_free(&w);
	return r;
}

/* Read exactly len bytes before deadline. 1 ok, 0 timeout, -1 EOF/error. */
static int
read_full(int fd, uint8_t *buf, size_t len, int64_t deadline)
{
	while (len > 0) {
		struct pollfd pfd = {fd, POLLIN, 0};
		int64_t left = deadline - now_ms();
		ssize_t n;
		int r;

		if (left < 0)
			left = 0;
		r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			return 0;
		n = recv(fd, buf, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 1;
}

/* Read the fixed header. Returns 1, 0 (timeout), -1 (EOF, error, or a
 * Remaining Length longer than four bytes or than needed). */
static int
read_header(int fd, int64_t deadline, uint8_t *type_flags, uint32_t *len)
{
	uint32_t v = 0;
	int r, i;

	r = read_full(fd, type_flags, 1, deadline);
	if (r != 1)
		return r;
	for (i = 0; i < 4; i++) {
		uint8_t c;

		r = read_full(fd, &c, 1, deadline);
		if (r != 1)
			return r;
		v |= (uint32_t)(c & 0x7f) << (7 * i);
		if (!(c & 0x80)) {
			/* The broker must use the fewest bytes
			 * [MQTT-1.5.5-1]. */
			if (i > 0 && c == 0) {
				fprintf(stderr,
				        "rawclient: over-long Remaining "
				        "Length from broker\n");
				return -1;
			}
			*len = v;
			return 1;
		}
	}
	fprintf(stderr, "rawclient: bad Remaining Length from broker\n");
	return -1;
}

int
hf_raw_recv_frame(int fd, int timeout_ms, uint8_t *type_flags, uint8_t *buf,
                  size_t cap, uint32_t *len)
{
	int64_t deadline = now_ms() + timeout_ms;
	int r = read_header(fd, deadline, type_flags, len);

	if (r != 1)
		return r;
	if (*len > cap) {
		fprintf(stderr,
		        "rawclient: %s of %u bytes exceeds buffer %zu\n",
		        hf_ptype_name(*type_flags >> 4), *len, cap);
		return -1;
	}
	r = read_full(fd, buf, *len, deadline);
	return r;
}

int
hf_raw_recvb(int fd, uint8_t ver, int timeout_ms, struct hf_packet *pkt,
             uint8_t *buf, size_t cap)
{
	uint8_t tf;
	uint32_t len;
	int r = hf_raw_recv_frame(fd, timeout_ms, &tf, buf, cap, &len);

	memset(pkt, 0, sizeof(*pkt));
	if (r != 1)
		return r;
	r = hf_decode(tf, buf, len, ver, pkt);
	if (r != HF_OK) {
		fprintf(stderr,
		        "rawclient: broker sent an undecodable %s (0x%02x, "
		        "%u bytes): %d\n",
		        hf_ptype_name(tf >> 4), tf, len, r);
		pkt->type = tf >> 4;
		pkt->flags = tf & 15;
		return -2;
	}
	pkt->type = tf >> 4;
	pkt->flags = tf & 15;
	return 1;
}

int
hf_raw_recv(int fd, uint8_t ver, int timeout_ms, struct hf_packet *pkt,
            uint8_t **storage)
{
	int64_t deadline = now_ms() + timeout_ms;
	uint8_t tf;
	uint32_t len;
	uint8_t *body;
	int r;

	*storage = NULL;
	memset(pkt, 0, sizeof(*pkt));
	r = read_header(fd, deadline, &tf, &len);
	if (r != 1)
		return r;
	body = malloc(len ? len : 1);
	if (!body)
		return -1;
	r = read_full(fd, body, len, deadline);
	if (r != 1) {
		free(body);
		return r;
	}
	if (hf_decode(tf, body, len, ver, pkt) != HF_OK) {
		fprintf(stderr, "rawclient: broker sent an undecodable %s\n",
		        hf_ptype_name(tf >> 4));
		free(body);
		return -1;
	}
	pkt->type = tf >> 4;
	pkt->flags = tf & 15;
	*storage = body;
	return 1;
}

bool
hf_raw_wait_close(int fd, int timeout_ms, int *disconnect_rc)
{
	int64_t deadline = now_ms() + timeout_ms;
	uint8_t buf[4096];

	if (disconnect_rc)
		*disconnect_rc = -1;
	for (;;) {
		uint8_t tf;
		uint32_t len;
		int r = read_header(fd, deadline, &tf, &len);

		if (r == 0)
			return false;
		if (r < 0)
			return true;
		/* Discard the body in chunks. */
		while (len > 0) {
			size_t n = len < sizeof(buf) ? len : sizeof(buf);

			r = read_full(fd, buf, n, deadline);
			if (r == 0)
				return false;
			if (r < 0)
				return true;
			if ((tf >> 4) == HF_DISCONNECT && disconnect_rc &&
			    n == len)
				*disconnect_rc = buf[0];
			len -= (uint32_t)n;
		}
		if ((tf >> 4) == HF_DISCONNECT && disconnect_rc &&
		    *disconnect_rc < 0)
			*disconnect_rc = 0;
	}
}

void
hf_raw_connect_init(struct hf_packet *p, uint8_t ver, const char *client_id,
                    bool clean, uint16_t keepalive)
{
	memset(p, 0, sizeof(*p));
	p->type = HF_CONNECT;
	p->u.connect.proto_ver = ver;
	p->u.connect.clean_start = clean;
	p->u.connect.keepalive = keepalive;
	p->u.connect.client_id.p = (const uint8_t *)client_id;
	p->u.connect.client_id.len = (uint32_t)strlen(client_id);
}

int
hf_raw_connect_pkt(uint16_t port, const struct hf_packet *connect,
                   struct hf_packet *connack, uint8_t *buf, size_t cap)
{
	uint8_t ver = connect->u.connect.proto_ver;
	int fd = hf_raw_open(port);
	int r;

	memset(connack, 0, sizeof(*connack));
	if (fd < 0)
		return -1;
	if (hf_raw_send_pkt(fd, connect, ver) != 0) {
		close(fd);
		return -1;
	}
	r = hf_raw_recvb(fd, ver, 5000, connack, buf, cap);
	if (r != 1 || connack->type != HF_CONNACK) {
		fprintf(stderr, "rawclient: no CONNACK (r=%d, got %s)\n", r,
		        r == 1 ? hf_ptype_name(connack->type) : "-");
		close(fd);
		return -1;
	}
	return fd;
}

int
hf_raw_connect(uint16_t port, uint8_t ver, const char *client_id, bool clean,
               uint16_t keepalive, uint8_t *rc, bool *session_present)
{
	struct hf_packet c, ca;
	uint8_t buf[1024];
	int fd;

	if (rc)
		*rc = 0xff;
	if (session_present)
		*session_present = false;
	hf_raw_connect_init(&c, ver, client_id, clean, keepalive);
	fd = hf_raw_connect_pkt(port, &c, &ca, buf, sizeof(buf));
	if (fd < 0)
		return -1;
	if (rc)
		*rc = ca.u.connack.rc;
	if (session_present)
		*session_present = ca.u.connack.session_present;
	if (ca.u.connack.rc != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int
hf_raw_connect_expiry(uint16_t port, uint8_t ver, const char *client_id,
                      bool clean, uint32_t expiry, bool *session_present)
{
	struct hf_packet c, ca;
	uint8_t buf[1024];
	int fd;

	if (session_present)
		*session_present = false;
	hf_raw_connect_init(&c, ver, client_id, clean, 60);
	if (ver == HF_PROTO_V5 && expiry) {
		c.u.connect.props.present |= HF_PP_SESSION_EXPIRY;
		c.u.connect.props.session_expiry = expiry;
	}
	fd = hf_raw_connect_pkt(port, &c, &ca, buf, sizeof(buf));
	if (fd < 0)
		return -1;
	if (ca.u.connack.rc != 0) {
		fprintf(stderr, "%s: CONNACK rc 0x%02x\n", client_id,
		        ca.u.connack.rc);
		close(fd);
		return -1;
	}
	if (session_present)
		*session_present = ca.u.connack.session_present;
	return fd;
}

/* Append a Variable Byte Integer. */
static size_t
put_varint(uint8_t *out, uint32_t v)
{
	size_t n = 0;

	do {
		uint8_t c = v & 0x7f;

		v >>= 7;
		out[n++] = (uint8_t)(c | (v ? 0x80 : 0));
	} while (v);
	return n;
}

/* Frame header + body into out (cap at least body + 5). */
static size_t
frame(uint8_t *out, uint8_t type_flags, const uint8_t *body, size_t len)
{
	size_t n;

	out[0] = type_flags;
	n = 1 + put_varint(out + 1, (uint32_t)len);
	memcpy(out + n, body, len);
	return n + len;
}

int
hf_raw_send_subscribe(int fd, uint8_t ver, uint16_t pid, const char *filter,
                      uint8_t opts, uint32_t sub_id)
{
	size_t flen = strlen(filter), n = 0;
	uint8_t *body, *pkt;
	int r;

	body = malloc(flen + 32);
	pkt = malloc(flen + 40);
	if (!body || !pkt) {
		free(body);
		free(pkt);
		return -1;
	}
	body[n++] = (uint8_t)(pid >> 8);
	body[n++] = (uint8_t)pid;
	if (ver == HF_PROTO_V5) {
		if (sub_id) {
			uint8_t tmp[5];
			size_t k = put_varint(tmp, sub_id);

			body[n++] = (uint8_t)(1 + k);
			body[n++] = HF_PROP_SUBSCRIPTION_ID;
			memcpy(body + n, tmp, k);
			n += k;
		} else {
			body[n++] = 0;
		}
	}
	body[n++] = (uint8_t)(flen >> 8);
	body[n++] = (uint8_t)flen;
	memcpy(body + n, filter, flen);
	n += flen;
	body[n++] = opts;
	n = frame(pkt, 0x82, body, n);
	r = hf_raw_send(fd, pkt, n);
	free(body);
	free(pkt);
	return r;
}

int
hf_raw_subscribe(int fd, uint8_t ver, uint16_t pid, const char *filter,
                 uint8_t opts, uint32_t sub_id)
{
	struct hf_packet p;
	uint8_t buf[1024];
	int r;

	if (hf_raw_send_subscribe(fd, ver, pid, filter, opts, sub_id) != 0)
		return -1;
	r = hf_raw_recvb(fd, ver, 5000, &p, buf, sizeof(buf));
	if (r != 1 || p.type != HF_SUBACK || p.u.suback.pid != pid ||
	    p.u.suback.n != 1) {
		fprintf(stderr,
		        "rawclient: SUBSCRIBE %s: no matching SUBACK (r=%d, "
		        "%s)\n",
		        filter, r, r == 1 ? hf_ptype_name(p.type) : "-");
		return -1;
	}
	return p.u.suback.rcs[0];
}

int
hf_raw_unsubscribe(int fd, uint8_t ver, uint16_t pid, const char *filter)
{
	size_t flen = strlen(filter), n = 0;
	uint8_t body[600], pkt[610];
	struct hf_packet p;
	int r;

	if (flen > 500)
		return -1;
	body[n++] = (uint8_t)(pid >> 8);
	body[n++] = (uint8_t)pid;
	if (ver == HF_PROTO_V5)
		body[n++] = 0;
	body[n++] = (uint8_t)(flen >> 8);
	body[n++] = (uint8_t)flen;
	memcpy(body + n, filter, flen);
	n += flen;
	n = frame(pkt, 0xa2, body, n);
	if (hf_raw_send(fd, pkt, n) != 0)
		return -1;
	r = hf_raw_recvb(fd, ver, 5000, &p, body, sizeof(body));
	if (r != 1 || p.type != HF_UNSUBACK || p.u.suback.pid != pid) {
		fprintf(stderr, "rawclient: UNSUBSCRIBE %s: no UNSUBACK\n",
		        filter);
		return -1;
	}
	if (ver != HF_PROTO_V5)
		return 0;
	return p.u.suback.n >= 1 ? p.u.suback.rcs[0] : -1;
}

int
hf_raw_ack(int fd, uint8_t ver, uint8_t type, uint16_t pid, uint8_t rc)
{
	struct hf_packet p;

	memset(&p, 0, sizeof(p));
	p.type = type;
	p.flags = type == HF_PUBREL ? 2 : 0;
	p.u.ack.pid = pid;
	p.u.ack.rc = rc;
	return hf_raw_send_pkt(fd, &p, ver);
}

int
hf_raw_disconnect(int fd, uint8_t ver, uint8_t rc)
{
	struct hf_packet p;

	memset(&p, 0, sizeof(p));
	p.type = HF_DISCONNECT;
	p.u.ack.rc = rc;
	return hf_raw_send_pkt(fd, &p, ver);
}

/* Wait for an ack of the given type and pid as the next packet. Returns its
 * reason code or -1. */
static int
expect_ack(int fd, uint8_t ver, uint8_t type, uint16_t pid)
{
	struct hf_packet p;
	uint8_t buf[1024];
	int r = hf_raw_recvb(fd, ver, 5000, &p, buf, sizeof(buf));

	if (r != 1 || p.type != type || p.u.ack.pid != pid) {
		fprintf(stderr,
		        "rawclient: expected %s pid %u, got r=%d %s pid %u\n",
		        hf_ptype_name(type), pid, r,
		        r == 1 ? hf_ptype_name(p.type) : "-",
		        r == 1 ? p.u.ack.pid : 0);
		return -1;
	}
	return p.u.ack.rc;
}

int
hf_raw_publish(int fd, uint8_t ver, const char *topic, const void *payload,
               size_t len, uint8_t qos, bool retain, uint16_t pid)
{
	struct hf_packet p;
	int rc;

	memset(&p, 0, sizeof(p));
	p.type = HF_PUBLISH;
	p.u.publish.qos = qos;
	p.u.publish.retain = retain;
	p.u.publish.pid = qos ? pid : 0;
	p.u.publish.topic.p = (const uint8_t *)topic;
	p.u.publish.topic.len = (uint32_t)strlen(topic);
	p.u.publish.payload.p = payload;
	p.u.publish.payload.len = (uint32_t)len;
	if (hf_raw_send_pkt(fd, &p, ver) != 0)
		return -1;
	if (qos == 0)
		return 0;
	if (qos == 1)
		return expect_ack(fd, ver, HF_PUBACK, pid);
	rc = expect_ack(fd, ver, HF_PUBREC, pid);
	if (rc < 0 || rc >= 0x80)
		return rc;
	if (hf_raw_ack(fd, ver, HF_PUBREL, pid, 0) != 0)
		return -1;
	if (expect_ack(fd, ver, HF_PUBCOMP, pid) < 0)
		return -1;
	return rc;
}

int
hf_raw_expect_publish(int fd, uint8_t ver, int timeout_ms, bool ack,
                      struct hf_packet *pkt, uint8_t *buf, size_t cap)
{
	int64_t deadline = now_ms() + timeout_ms;
	uint16_t pid;
	int r;

	for (;;) {
		int64_t left = deadline - now_ms();

		r = hf_raw_recvb(fd, ver, left > 0 ? (int)left : 0, pkt, buf,
		                 cap);
		if (r != 1)
			return r == 0 ? 0 : -1;
		/* The release of an earlier QoS 2 delivery: complete it. */
		if (ack && pkt->type == HF_PUBREL) {
			if (hf_raw_ack(fd, ver, HF_PUBCOMP, pkt->u.ack.pid, 0))
				return -1;
			continue;
		}
		break;
	}
	if (pkt->type != HF_PUBLISH) {
		fprintf(stderr, "rawclient: expected PUBLISH, got %s\n",
		        hf_ptype_name(pkt->type));
		return -1;
	}
	if (!ack || pkt->u.publish.qos == 0)
		return 1;
	pid = pkt->u.publish.pid;
	/* QoS 2: PUBREC now; the PUBREL is answered when it comes (by a
	 * later hf_raw_expect_publish, hf_raw_until or hf_raw_ping). */
	return hf_raw_ack(fd, ver,
	                  pkt->u.publish.qos == 1 ? HF_PUBACK : HF_PUBREC, pid,
	                  0) == 0
	           ? 1
	           : -1;
}

int
hf_raw_ping(int fd, int timeout_ms)
{
	static const uint8_t ping[2] = {0xc0, 0x00};
	int64_t deadline = now_ms() + timeout_ms;
	uint8_t tf, buf[256];
	uint32_t len;
	int r;

	if (hf_raw_send(fd, ping, sizeof(ping)) != 0)
		return -1;
	for (;;) {
		int64_t left = deadline - now_ms();

		r = hf_raw_recv_frame(fd, left > 0 ? (int)left : 0, &tf, buf,
		                      sizeof(buf), &len);
		if (r != 1)
			return r;
		/* A PUBREL still due from a QoS 2 delivery: complete it. */
		if (tf == 0x62 && len >= 2) {
			uint8_t comp[4] = {0x70, 0x02, buf[0], buf[1]};

			if (hf_raw_send(fd, comp, sizeof(comp)) != 0)
				return -1;
			continue;
		}
		break;
	}
	if (tf != 0xd0 || len != 0) {
		fprintf(stderr, "rawclient: expected PINGRESP, got %s\n",
		        hf_ptype_name(tf >> 4));
		return -1;
	}
	return 1;
}

int
hf_raw_until(int fd, uint8_t ver, const char *marker_topic, int timeout_ms,
             int *others)
{
	int64_t deadline = now_ms() + timeout_ms;
	uint8_t buf[8192];

	*others = 0;
	for (;;) {
		struct hf_packet p;
		int64_t left = deadline - now_ms();
		int r;

		if (left <= 0)
			return 0;
		r = hf_raw_expect_publish(fd, ver, (int)left, true, &p, buf,
		                          sizeof(buf));
		if (r != 1)
			return r;
		if (hf_bytes_eq(p.u.publish.topic, marker_topic))
			return 1;
		fprintf(stderr, "rawclient: (before marker) PUBLISH %.*s\n",
		        (int)p.u.publish.topic.len,
		        (const char *)p.u.publish.topic.p);
		(*others)++;
	}
}

int
hf_raw_sub_client(uint16_t port, uint8_t ver, const char *client_id,
                  const char *filter, uint8_t opts)
{
	int fd = hf_raw_connect(port, ver, client_id, true, 60, NULL, NULL);
	int rc;

	if (fd < 0)
		return -1;
	rc = hf_raw_subscribe(fd, ver, 1, filter, opts, 0);
	if (rc < 0 || rc >= 0x80) {
		fprintf(stderr, "rawclient: subscribe %s refused: %d\n", filter,
		        rc);
		close(fd);
		return -1;
	}
	return fd;
}

/* Read a Variable Byte Integer at *off; false if truncated or too long. */
static bool
get_varint(const uint8_t *b, uint32_t len, uint32_t *off, uint32_t *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		if (*off >= len)
			return false;
		*v |= (uint32_t)(b[*off] & 0x7f) << (7 * i);
		if (!(b[(*off)++] & 0x80))
			return true;
	}
	return false;
}

int
hf_raw_pub_sub_ids(uint8_t type_flags, const uint8_t *body, uint32_t len,
                   uint32_t *ids, int max)
{
	uint32_t off, plen, end;
	int n = 0;

	if (len < 2)
		return -1;
	off = 2 + ((uint32_t)body[0] << 8 | body[1]);
	if ((type_flags >> 1) & 3)
		off += 2;
	if (!get_varint(body, len, &off, &plen) || off + plen > len)
		return -1;
	end = off + plen;
	while (off < end) {
		uint8_t id = body[off++];
		uint32_t v, l;

		switch (id) {
		case 0x01:
		case 0x17:
		case 0x19:
		case 0x24:
		case 0x25:
		case 0x28:
		case 0x29:
		case 0x2a:
			off += 1;
			break;
		case 0x13:
		case 0x21:
		case 0x22:
		case 0x23:
			off += 2;
			break;
		case 0x02:
		case 0x11:
		case 0x18:
		case 0x27:
			off += 4;
			break;
		case 0x0b:
			if (!get_varint(body, end, &off, &v))
				return -1;
			if (n < max)
				ids[n] = v;
			n++;
			break;
		case 0x03:
		case 0x08:
		case 0x09:
		case 0x12:
		case 0x15:
		case 0x16:
		case 0x1a:
		case 0x1c:
		case 0x1f:
			if (off + 2 > end)
				return -1;
			off += 2 + ((uint32_t)body[off] << 8 | body[off + 1]);
			break;
		case 0x26:
			for (int k = 0; k < 2; k++) {
				if (off + 2 > end)
					return -1;
				l = (uint32_t)body[off] << 8 | body[off + 1];
				off += 2 + l;
			}
			break;
		default:
			return -1;
		}
	}
	return off == end ? n : -1;
}

bool
hf_raw_expect_pub(int fd, uint8_t ver, const char *topic, const char *payload,
                  bool *retain)
{
	struct hf_packet p;
	uint8_t buf[4096];

	if (hf_raw_expect_publish(fd, ver, 3000, true, &p, buf, sizeof(buf)) !=
	    1) {
		fprintf(stderr, "no PUBLISH (wanted %s)\n", topic);
		return false;
	}
	if (!hf_bytes_eq(p.u.publish.topic, topic) ||
	    !hf_bytes_eq(p.u.publish.payload, payload)) {
		fprintf(stderr, "got %.*s '%.*s', wanted %s '%s'\n",
		        (int)p.u.publish.topic.len,
		        (const char *)p.u.publish.topic.p,
		        (int)p.u.publish.payload.len,
		        (const char *)p.u.publish.payload.p, topic, payload);
		return false;
	}
	if (retain)
		*retain = p.u.publish.retain;
	return true;
}
