/* tests/protocol/p26_logs.c - the broker's log lines, as a parser written
 * for mosquitto 2.0.11 reads them (issue 12, item 6).
 *
 * Each case drives clients through the real broker (the harness runs it
 * with log_type all, so the -v packet lines are on) and waits for the
 * lines it must have written, as POSIX extended regular expressions in
 * mosquitto's format ("NNN: New client connected from IP:PORT as ID (p2,
 * c1, k60, u'user')."): connections, clean and unclean ends, keepalive,
 * takeover, refusals, protocol errors, an HTTP request to the MQTT port,
 * each packet in and out, log_format json, and a refused publish naming
 * the subscriber whose queue was full and the limit it hit. The expected
 * lines were taken from /usr/sbin/mosquitto -v for the same actions.
 *
 * One broker per HF_BCASE. Single-threaded; every wait has a deadline. */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker_proc.h"
#include "rawclient.h"
#include "test.h"

/* Read the current run's log (from b->log_off) into a fresh string. */
static char *
read_log(struct hf_bproc *b)
{
	FILE *f = fopen(b->log, "r");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t len = 0;
	if (fseek(f, b->log_off, SEEK_SET) == 0) {
		size_t cap = 1 << 16;
		buf = malloc(cap + 1);
		size_t n;
		while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
			len += n;
			if (len == cap) {
				char *nb = realloc(buf, cap * 2 + 1);
				if (!nb) {
					free(buf);
					buf = NULL;
					break;
				}
				buf = nb;
				cap *= 2;
			}
		}
	}
	fclose(f);
	if (buf)
		buf[len] = '\0';
	return buf;
}

/* Wait up to timeout_ms for a log line matching re (extended, anchored
 * per line with ^ and $). */
static bool
wait_re(struct hf_bproc *b, const char *re, int timeout_ms)
{
	regex_t rx;
	if (regcomp(&rx, re, REG_EXTENDED | REG_NEWLINE | REG_NOSUB) != 0) {
		fprintf(stderr, "bad regex: %s\n", re);
		return false;
	}
	int64_t end = hf_now_ms() + timeout_ms;
	bool found = false;
	for (;;) {
		char *log = read_log(b);
		found = log && regexec(&rx, log, 0, NULL, 0) == 0;
		free(log);
		if (found || hf_now_ms() >= end)
			break;
		hf_sleep_ms(20);
	}
	regfree(&rx);
	if (!found)
		fprintf(stderr, "no log line matches: %s\n", re);
	return found;
}

#define TS   "^[0-9]+: "
#define PEER "127\\.0\\.0\\.1:[0-9]+"

static int
connect_user(uint16_t port, uint8_t ver, const char *id, const char *user,
             uint16_t keepalive)
{
	struct hf_packet p, ca;
	uint8_t buf[256];
	hf_raw_connect_init(&p, ver, id, true, keepalive);
	if (user) {
		p.u.connect.has_username = true;
		p.u.connect.username.p = (const uint8_t *)user;
		p.u.connect.username.len = (uint32_t)strlen(user);
	}
	int fd = hf_raw_connect_pkt(port, &p, &ca, buf, sizeof(buf));
	if (fd >= 0 && ca.u.connack.rc != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* New connection, New client connected with p1/p2/p5 and u'NAME', the
 * clean disconnect, the closed connection, the takeover. */
static void
t_connections(struct hf_bproc *b)
{
	int a = connect_user(b->port, HF_PROTO_V311, "lg-a", "user", 60);
	int o = connect_user(b->port, HF_PROTO_V31, "lg-old", NULL, 30);
	int f = connect_user(b->port, HF_PROTO_V5, "lg-five", NULL, 60);
	CHECK(a >= 0 && o >= 0 && f >= 0);
	CHECK(wait_re(b, TS "New connection from " PEER " on port [0-9]+\\.$",
	              3000));
	CHECK(wait_re(b,
	              TS "New client connected from " PEER
	                 " as lg-a \\(p2, c1, k60, u'user'\\)\\.$",
	              3000));
	CHECK(wait_re(b,
	              TS "New client connected from " PEER
	                 " as lg-old \\(p1, c1, k30\\)\\.$",
	              3000));
	CHECK(wait_re(b,
	              TS "New client connected from " PEER
	                 " as lg-five \\(p5, c1, k60\\)\\.$",
	              3000));
	CHECK(wait_re(b, TS "No will message specified\\.$", 3000));
	CHECK(wait_re(b, TS "Sending CONNACK to lg-a \\(0, 0\\)$", 3000));
	CHECK_EQ(hf_raw_disconnect(a, HF_PROTO_V311, 0), 0);
	CHECK(wait_re(b, TS "Received DISCONNECT from lg-a$", 3000));
	CHECK(wait_re(b, TS "Client lg-a disconnected\\.$", 3000));
	close(o);
	CHECK(wait_re(b, TS "Client lg-old closed its connection\\.$", 3000));
	int f2 = connect_user(b->port, HF_PROTO_V5, "lg-five", NULL, 60);
	CHECK(f2 >= 0);
	CHECK(wait_re(b,
	              TS "Client lg-five already connected, closing old "
	                 "connection\\.$",
	              3000));
	CHECK(
	    wait_re(b, TS "Sending DISCONNECT to lg-five \\(rc142\\)$", 3000));
	close(f);
	close(f2);
}

/* Keepalive 1 s and silence: mosquitto's timeout line. */
static void
t_keepalive(struct hf_bproc *b)
{
	int k = connect_user(b->port, HF_PROTO_V311, "lg-k", NULL, 1);
	CHECK(k >= 0);
	CHECK(wait_re(
	    b, TS "Client lg-k has exceeded timeout, disconnecting\\.$", 5000));
	close(k);
}

/* A refused CONNECT: "<unknown>", as the client never got an id; then
 * Holdfast's reason. A reserved packet type after CONNECT. */
static void
t_refusals(struct hf_bproc *b)
{
	uint8_t rc = 0;
	bool sp;
	int r = hf_raw_connect(b->port, HF_PROTO_V311, "bad-id", true, 60, &rc,
	                       &sp);
	CHECK(r < 0);
	CHECK_EQ(rc, HF_CONNACK_NOT_AUTHORIZED);
	CHECK(wait_re(b, TS "Sending CONNACK to 127\\.0\\.0\\.1 \\(0, 5\\)$",
	              3000));
	CHECK(wait_re(b, TS "Client <unknown> disconnected, not authorised\\.$",
	              3000));
	CHECK(wait_re(b,
	              TS "Client connection from " PEER
	                 " refused: client id does not match "
	                 "clientid_prefixes\\.$",
	              3000));
	int e = connect_user(b->port, HF_PROTO_V311, "ok-e", NULL, 60);
	CHECK(e >= 0);
	CHECK_EQ(hf_raw_send(e, "\x00\x00", 2), 0);
	CHECK(hf_raw_wait_close(e, 3000, NULL));
	CHECK(wait_re(
	    b, TS "Client ok-e disconnected due to protocol error\\.$", 3000));
	close(e);
}

/* An HTTP request to the MQTT port: mosquitto's line, closed at once. */
static void
t_http_garbage(struct hf_bproc *b)
{
	int fd = hf_raw_open(b->port);
	CHECK(fd >= 0);
	const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	CHECK_EQ(hf_raw_send(fd, req, sizeof(req) - 1), 0);
	CHECK(hf_raw_wait_close(fd, 3000, NULL));
	CHECK(wait_re(b,
	              TS "Client <unknown> disconnected due to protocol "
	                 "error\\.$",
	              3000));
	close(fd);
}

/* -v: every packet in and out, in mosquitto's words. */
static void
t_packets(struct hf_bproc *b)
{
	const uint8_t v = HF_PROTO_V311;
	int s = hf_raw_sub_client(b->port, v, "lg-sub", "lg/#", 2);
	int p = connect_user(b->port, v, "lg-pub", NULL, 60);
	CHECK(s >= 0 && p >= 0);
	CHECK_EQ(hf_raw_publish(p, v, "lg/t", "hello", 5, 1, false, 1), 0);
	CHECK(hf_raw_expect_pub(s, v, "lg/t", "hello", NULL));
	CHECK_EQ(hf_raw_publish(p, v, "lg/t", "two", 3, 2, false, 2), 0);
	CHECK(hf_raw_expect_pub(s, v, "lg/t", "two", NULL));
	CHECK_EQ(hf_raw_ping(p, 3000), 1);
	/* completes the QoS 2 delivery (PUBREL answered with PUBCOMP) */
	CHECK_EQ(hf_raw_ping(s, 3000), 1);
	CHECK_EQ(hf_raw_unsubscribe(s, v, 9, "lg/#"), 0);
	static const char *const lines[] = {
	    TS "Received SUBSCRIBE from lg-sub$",
	    TS "\tlg/# \\(QoS 2\\)$",
	    TS "lg-sub 2 lg/#$",
	    TS "Sending SUBACK to lg-sub$",
	    TS "Received PUBLISH from lg-pub \\(d0, q1, r0, m1, 'lg/t', "
	       "\\.\\.\\. \\(5 bytes\\)\\)$",
	    TS "Sending PUBLISH to lg-sub \\(d0, q1, r0, m1, 'lg/t', "
	       "\\.\\.\\. \\(5 bytes\\)\\)$",
	    TS "Sending PUBACK to lg-pub \\(m1, rc0\\)$",
	    TS "Received PUBACK from lg-sub \\(Mid: 1, RC:0\\)$",
	    TS "Received PUBLISH from lg-pub \\(d0, q2, r0, m2, 'lg/t', "
	       "\\.\\.\\. \\(3 bytes\\)\\)$",
	    TS "Sending PUBREC to lg-pub \\(m2, rc0\\)$",
	    TS "Received PUBREL from lg-pub \\(Mid: 2\\)$",
	    TS "Sending PUBCOMP to lg-pub \\(m2\\)$",
	    TS "Sending PUBLISH to lg-sub \\(d0, q2, r0, m[0-9]+, 'lg/t', "
	       "\\.\\.\\. \\(3 bytes\\)\\)$",
	    TS "Received PUBREC from lg-sub \\(Mid: [0-9]+\\)$",
	    TS "Sending PUBREL to lg-sub \\(m[0-9]+\\)$",
	    TS "Received PUBCOMP from lg-sub \\(Mid: [0-9]+, RC:0\\)$",
	    TS "Received PINGREQ from lg-pub$",
	    TS "Sending PINGRESP to lg-pub$",
	    TS "Received UNSUBSCRIBE from lg-sub$",
	    TS "\tlg/#$",
	    TS "lg-sub lg/#$",
	    TS "Sending UNSUBACK to lg-sub$",
	};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		CHECK(wait_re(b, lines[i], 3000));
	close(s);
	close(p);
}

/* log_format json: one object a line, the event named, client and peer
 * as fields; other lines are event "log". */
static void
t_json(struct hf_bproc *b)
{
	int a = connect_user(b->port, HF_PROTO_V311, "lg-j", "u\"q", 60);
	CHECK(a >= 0);
	CHECK(wait_re(b,
	              "^\\{\"time\":\"[0-9]+\",\"level\":\"notice\","
	              "\"event\":\"client_connected\",\"client\":\"lg-j\","
	              "\"peer\":\"" PEER "\",\"msg\":\"New client connected "
	              "from " PEER " as lg-j \\(p2, c1, k60, "
	              "u'u\\\\\"q'\\)\\.\"\\}$",
	              3000));
	CHECK(wait_re(b,
	              "^\\{\"time\":\"[0-9]+\",\"level\":\"debug\","
	              "\"event\":\"packet\",\"client\":\"lg-j\",\"msg\":"
	              "\"Sending CONNACK to lg-j \\(0, 0\\)\"\\}$",
	              3000));
	CHECK(wait_re(b,
	              "^\\{\"time\":\"[0-9]+\",\"level\":\"notice\","
	              "\"event\":\"log\",\"msg\":\"[^\"]*listen socket on "
	              "port [0-9]+",
	              3000));
	close(a);
	CHECK(wait_re(b,
	              "^\\{.*\"event\":\"client_closed\",\"client\":\"lg-j\","
	              ".*\"msg\":\"Client lg-j closed its connection\\.\"\\}$",
	              3000));
}

/* A QoS 1 message a full queue cannot take is refused (5.0: PUBACK
 * 0x97), and the log names whose queue and which limit. */
static void
t_queue_full(struct hf_bproc *b)
{
	const uint8_t v = HF_PROTO_V5;
	int s = hf_raw_connect_expiry(b->port, v, "lg-slow", true, 3600, NULL);
	CHECK(s >= 0);
	CHECK_EQ(hf_raw_subscribe(s, v, 1, "lg/q", 1, 0), 1);
	close(s); /* offline, its queue fills */
	CHECK(wait_re(b, TS "Client lg-slow closed its connection\\.$", 3000));
	int p = connect_user(b->port, v, "lg-qp", NULL, 60);
	CHECK(p >= 0);
	CHECK(HF_PUB_OK(hf_raw_publish(p, v, "lg/q", "m1", 2, 1, false, 1)));
	CHECK_EQ(hf_raw_publish(p, v, "lg/q", "m2", 2, 1, false, 2),
	         HF_RC_QUOTA_EXCEEDED);
	CHECK(wait_re(b,
	              TS "Message from lg-qp on lg/q refused: queue or store "
	                 "full: queue of lg-slow at max_queued_messages 1 "
	                 "\\(1 messages, 2 bytes queued\\)\\.$",
	              3000));
	close(p);
}

int
main(void)
{
	HF_BCASE(t_connections, NULL);
	HF_BCASE(t_keepalive, NULL);
	HF_BCASE(t_refusals, "clientid_prefixes ok-\n");
	HF_BCASE(t_http_garbage, NULL);
	HF_BCASE(t_packets, NULL);
	HF_BCASE(t_json, "log_format json\n");
	HF_BCASE(t_queue_full, "max_queued_messages 1\n");
	return HF_DONE();
}
