/* tests/helpers/wsclient.c - see wsclient.h. */
#include "wsclient.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rawclient.h"

static int64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until fd is readable or the deadline passes: 1, 0 (timeout), -1. */
static int
wait_in(int fd, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - now_ms();
		struct pollfd p = {fd, POLLIN, 0};
		int r = poll(&p, 1, left > 0 ? (int)left : 0);
		if (r < 0 && errno == EINTR)
			continue;
		return r < 0 ? -1 : r;
	}
}

/* Exactly n bytes before the deadline: 1, 0 (timeout), -1 (EOF, error). */
static int
read_n(int fd, uint8_t *p, size_t n, int64_t deadline)
{
	while (n) {
		int r = wait_in(fd, deadline);
		if (r <= 0)
			return r;
		ssize_t got = recv(fd, p, n, 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return -1;
		p += got;
		n -= (size_t)got;
	}
	return 1;
}

int
hf_ws_upgrade(int fd, const char *path, const char *proto, const char *version,
              const char *extra, char *head, size_t headlen)
{
	char req[1024], proto_line[256] = "";
	if (proto)
		snprintf(proto_line, sizeof(proto_line),
		         "Sec-WebSocket-Protocol: %s\r\n", proto);
	int n = snprintf(req, sizeof(req),
	                 "GET %s HTTP/1.1\r\n"
	                 "Host: 127.0.0.1\r\n"
	                 "Upgrade: websocket\r\n"
	                 "Connection: Upgrade\r\n"
	                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	                 "Sec-WebSocket-Version: %s\r\n"
	                 "%s%s\r\n",
	                 path, version ? version : "13", proto_line,
	                 extra ? extra : "");
	if (n < 0 || (size_t)n >= sizeof(req) ||
	    hf_raw_send(fd, req, (size_t)n))
		return -1;
	/* The head, byte by byte so nothing after it is consumed (frames
	 * may follow at once). */
	char buf[2048];
	size_t len = 0;
	int64_t deadline = now_ms() + 3000;
	while (len + 1 < sizeof(buf)) {
		if (read_n(fd, (uint8_t *)buf + len, 1, deadline) != 1)
			break;
		len++;
		if (len >= 4 && !memcmp(buf + len - 4, "\r\n\r\n", 4))
			break;
	}
	buf[len] = '\0';
	if (head && headlen) {
		snprintf(head, headlen, "%s", buf);
		/* a body (an error page) may follow: take what is there */
		size_t hl = strlen(head);
		while (hl + 1 < headlen && wait_in(fd, now_ms() + 100) == 1) {
			ssize_t got = recv(fd, head + hl, headlen - hl - 1, 0);
			if (got <= 0)
				break;
			hl += (size_t)got;
			head[hl] = '\0';
		}
	}
	int status = -1;
	if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
		return -1;
	return status;
}

int
hf_ws_send_frame(int fd, uint8_t opcode, bool fin, const void *p, uint64_t len,
                 size_t have)
{
	uint8_t h[14];
	size_t hn = 0;
	static const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
	h[hn++] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 15));
	if (len < 126) {
		h[hn++] = (uint8_t)(0x80 | len);
	} else if (len < 65536) {
		h[hn++] = 0x80 | 126;
		h[hn++] = (uint8_t)(len >> 8);
		h[hn++] = (uint8_t)len;
	} else {
		h[hn++] = 0x80 | 127;
		for (int i = 7; i >= 0; i--)
			h[hn++] = (uint8_t)(len >> (8 * i));
	}
	memcpy(h + hn, mask, 4);
	hn += 4;
	if (have > len)
		have = (size_t)len;
	uint8_t *m = malloc(hn + have);
	if (!m)
		return -1;
	memcpy(m, h, hn);
	for (size_t i = 0; i < have; i++)
		m[hn + i] = ((const uint8_t *)p)[i] ^ mask[i & 3];
	int r = hf_raw_send(fd, m, hn + have);
	free(m);
	return r;
}

int
hf_ws_recv_frame(int fd, int timeout_ms, uint8_t *opcode, uint8_t *buf,
                 size_t cap, size_t *len)
{
	int64_t deadline = now_ms() + timeout_ms;
	uint8_t h[8];
	int r = read_n(fd, h, 2, deadline);
	if (r != 1)
		return r;
	*opcode = h[0] & 15;
	uint64_t n = h[1] & 127;
	if (n == 126) {
		if (read_n(fd, h, 2, deadline) != 1)
			return -1;
		n = (uint64_t)h[0] << 8 | h[1];
	} else if (n == 127) {
		if (read_n(fd, h, 8, deadline) != 1)
			return -1;
		n = 0;
		for (int i = 0; i < 8; i++)
			n = n << 8 | h[i];
	}
	if (h[1] & 0x80 && (h[1] & 127) < 126) /* masked: not from a server */
		return -1;
	if (n > cap)
		return -1;
	*len = (size_t)n;
	return n ? (read_n(fd, buf, (size_t)n, deadline) == 1 ? 1 : -1) : 1;
}

bool
hf_ws_wait_close(int fd, int timeout_ms, int *code)
{
	int64_t deadline = now_ms() + timeout_ms;
	static uint8_t buf[1 << 20];
	if (code)
		*code = -1;
	for (;;) {
		int64_t left = deadline - now_ms();
		uint8_t op;
		size_t len;
		int r = hf_ws_recv_frame(fd, left > 0 ? (int)left : 0, &op, buf,
		                         sizeof(buf), &len);
		if (r == 0)
			return false;
		if (r < 0)
			return true;
		if (op == 8) {
			if (code)
				*code = len >= 2 ? buf[0] << 8 | buf[1] : 1005;
			/* the TCP close follows */
			uint8_t b;
			while (wait_in(fd, deadline) == 1 &&
			       recv(fd, &b, 1, 0) > 0)
				;
			return true;
		}
	}
}

/* ---- the bytes-only socket ------------------------------------------ */

struct proxy {
	int local;  /* our end of the socketpair */
	int remote; /* the WebSocket connection */
};

/* Frames from the broker: data payloads to local; a ping answered; a
 * close ends it. buf holds have bytes; returns bytes consumed, or -1 when
 * the connection is over. */
static ssize_t
from_remote(struct proxy *x, const uint8_t *buf, size_t have)
{
	size_t used = 0;
	for (;;) {
		const uint8_t *p = buf + used;
		size_t left = have - used, hn = 2;
		if (left < 2)
			return (ssize_t)used;
		uint64_t n = p[1] & 127;
		if (n == 126)
			hn = 4;
		else if (n == 127)
			hn = 10;
		if (left < hn)
			return (ssize_t)used;
		if (n == 126)
			n = (uint64_t)p[2] << 8 | p[3];
		else if (n == 127) {
			n = 0;
			for (int i = 2; i < 10; i++)
				n = n << 8 | p[i];
		}
		if (left - hn < n)
			return (ssize_t)used;
		uint8_t op = p[0] & 15;
		if (op == 8)
			return -1;
		if (op == 9) {
			if (hf_ws_send_frame(x->remote, 10, true, p + hn, n,
			                     (size_t)n))
				return -1;
		} else if (op <= 2 && n) {
			if (hf_raw_send(x->local, p + hn, (size_t)n))
				return -1;
		}
		used += hn + (size_t)n;
	}
}

static void *
proxy_main(void *arg)
{
	struct proxy *x = arg;
	size_t cap = 1 << 21, have = 0;
	uint8_t *in = malloc(cap), *out = malloc(65536);
	bool open = in && out;
	while (open) {
		struct pollfd p[2] = {{x->local, POLLIN, 0},
		                      {x->remote, POLLIN, 0}};
		if (poll(p, 2, 60000) <= 0)
			break; /* a minute of silence: the test is gone */
		if (p[0].revents) {
			ssize_t n = recv(x->local, out, 65536, 0);
			if (n <= 0) {
				uint8_t bye[2] = {0x03, 0xe8};
				hf_ws_send_frame(x->remote, 8, true, bye, 2, 2);
				shutdown(x->remote, SHUT_WR);
				int64_t end = now_ms() + 2000;
				while (wait_in(x->remote, end) == 1 &&
				       recv(x->remote, in, cap, 0) > 0)
					;
				break;
			}
			if (hf_ws_send_frame(x->remote, 2, true, out,
			                     (uint64_t)n, (size_t)n))
				break;
		}
		if (p[1].revents) {
			if (have == cap) {
				uint8_t *g = realloc(in, cap * 2);
				if (!g)
					break;
				in = g;
				cap *= 2;
			}
			ssize_t n = recv(x->remote, in + have, cap - have, 0);
			if (n <= 0)
				break;
			have += (size_t)n;
			ssize_t used = from_remote(x, in, have);
			if (used < 0)
				break;
			memmove(in, in + used, have - (size_t)used);
			have -= (size_t)used;
		}
	}
	close(x->remote);
	shutdown(x->local, SHUT_RDWR);
	close(x->local);
	free(in);
	free(out);
	free(x);
	return NULL;
}

int
hf_ws_open(uint16_t port, const char *proto)
{
	int fd = hf_raw_open(port);
	if (fd < 0)
		return -1;
	char head[512];
	int st = hf_ws_upgrade(fd, "/", proto ? proto : "mqtt", NULL, NULL,
	                       head, sizeof(head));
	if (st != 101) {
		fprintf(stderr, "WebSocket upgrade on port %u: status %d\n",
		        port, st);
		close(fd);
		return -1;
	}
	int sv[2];
	struct proxy *x = malloc(sizeof(*x));
	if (!x || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		free(x);
		close(fd);
		return -1;
	}
	x->local = sv[1];
	x->remote = fd;
	pthread_t t;
	if (pthread_create(&t, NULL, proxy_main, x) != 0) {
		close(sv[0]);
		close(sv[1]);
		close(fd);
		free(x);
		return -1;
	}
	pthread_detach(t);
	return sv[0];
}

int
hf_ws_connect(uint16_t port, uint8_t ver, const char *client_id, bool clean,
              uint32_t expiry, bool *session_present)
{
	struct hf_packet c, ca;
	uint8_t buf[1024];
	if (session_present)
		*session_present = false;
	int fd = hf_ws_open(port, NULL);
	if (fd < 0)
		return -1;
	hf_raw_connect_init(&c, ver, client_id, clean, 60);
	if (ver == HF_PROTO_V5 && expiry) {
		c.u.connect.props.present |= HF_PP_SESSION_EXPIRY;
		c.u.connect.props.session_expiry = expiry;
	}
	if (hf_raw_send_pkt(fd, &c, ver) != 0 ||
	    hf_raw_recvb(fd, ver, 3000, &ca, buf, sizeof(buf)) != 1 ||
	    ca.type != HF_CONNACK || ca.u.connack.rc != 0) {
		fprintf(stderr, "%s: no CONNACK 0 over WebSocket\n", client_id);
		close(fd);
		return -1;
	}
	if (session_present)
		*session_present = ca.u.connack.session_present;
	return fd;
}
