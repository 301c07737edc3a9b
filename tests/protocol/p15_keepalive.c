/* tests/protocol/p15_keepalive.c - slow clients: Keep Alive counts whole
 * control packets, and a connection must complete CONNECT within
 * connect_timeout.
 *
 * Keep Alive: "If the Keep Alive value is non-zero and the Server does not
 * receive a Control Packet from the Client within one and a half times the
 * Keep Alive time period, it MUST disconnect" [MQTT-3.1.2-24] (5.0:
 * [MQTT-3.1.2-22], DISCONNECT 0x8D first). A client that sends one byte of
 * a packet at a time never completes a control packet, so it is closed on
 * time. Keep Alive 1 s (the smallest) keeps these cases short; that whole
 * packets keep a connection open is p01_connect's keepalive_kept.
 *
 * CONNECT: "If the Server does not receive a CONNECT packet within a
 * reasonable amount of time after the Network Connection is established,
 * the Server SHOULD close the Network Connection" (3.1.4). Holdfast's
 * connect_timeout (default 10 s) is set to 1 or 2 s here; the close must
 * come at the deadline (the bounds allow 800 ms for a loaded machine; it
 * is a few ms when idle, not the one-second tick), also while the CONNECT
 * trickles in byte by byte, and for several connections at different
 * deadlines. No CONNACK or DISCONNECT is sent before closing.
 *
 * Each case has its own broker (HF_BCASE). Waits are bounded reads. */
#include <stdlib.h>
#include <unistd.h>

#include "broker_proc.h"
#include "rawclient.h"
#include "test.h"

/* A CONNECT (3.1.1, client id "slow", clean, Keep Alive 60). */
static const uint8_t connect311[] = {0x10, 0x10, 0x00, 0x04, 'M',  'Q',
                                     'T',  'T',  0x04, 0x02, 0x00, 0x3c,
                                     0x00, 0x04, 's',  'l',  'o',  'w'};

/* Send buf one byte every gap_ms until the server closes the connection.
 * Returns the ms from t0 to the close, or -1 if all bytes went out and the
 * connection stayed open for wait_ms more. *drc gets a DISCONNECT's reason
 * code (-1 none); *other is set when any other packet came back. */
static int64_t
trickle(int fd, const uint8_t *buf, size_t len, int gap_ms, int wait_ms,
        int64_t t0, int *drc, bool *other)
{
	*drc = -1;
	*other = false;
	for (size_t i = 0; i <= len; i++) {
		uint8_t tf, body[64];
		uint32_t blen;
		int r;

		if (i < len && hf_raw_send(fd, buf + i, 1) != 0)
			return hf_now_ms() - t0; /* already closed */
		r = hf_raw_recv_frame(fd, i < len ? gap_ms : wait_ms, &tf, body,
		                      sizeof(body), &blen);
		if (r < 0)
			return hf_now_ms() - t0;
		if (r == 1) {
			if ((tf >> 4) == HF_DISCONNECT)
				*drc = blen ? body[0] : 0;
			else
				*other = true;
			if (hf_raw_wait_close(fd, 2000, NULL))
				return hf_now_ms() - t0;
			return -1;
		}
	}
	return -1;
}

/* After CONNECT with Keep Alive 1, the bytes of a PUBLISH arrive one every
 * 300 ms (it would take 9 s to complete): the server closes the connection
 * 1.5 s after the CONNECT, give or take its one-second tick. */
static void
trickle_publish(struct hf_bproc *b, uint8_t ver)
{
	uint8_t pub[32] = {0x30, 30, 0x00, 0x04, 't', 'r', 'i', 'c'};
	int64_t t0, ms;
	int drc;
	bool other;
	int fd = hf_raw_connect(b->port, ver, "slow", true, 1, NULL, NULL);

	CHECK(fd >= 0);
	t0 = hf_now_ms();
	ms = trickle(fd, pub, sizeof(pub), 300, 3000, t0, &drc, &other);
	fprintf(stderr, "closed after %lld ms\n", (long long)ms);
	CHECK(ms >= 1400);
	CHECK(ms <= 3500); /* 1.5 s, the 1 s tick, scheduling slack */
	CHECK(!other);
	if (ver == V5)
		CHECK_EQ(drc, HF_RC_KEEP_ALIVE_TIMEOUT);
	else
		CHECK_EQ(drc, -1);
	close(fd);
}
BOTH(trickle_publish)

/* connect_timeout 1: a connection that sends nothing is closed about 1 s
 * after it was accepted, without any packet. */
static void
t_connect_timeout_silent(struct hf_bproc *b)
{
	int64_t t0 = hf_now_ms(), ms;
	int drc;
	int fd = hf_raw_open(b->port);

	CHECK(fd >= 0);
	CHECK(hf_raw_wait_close(fd, 5000, &drc));
	ms = hf_now_ms() - t0;
	fprintf(stderr, "closed after %lld ms\n", (long long)ms);
	CHECK(ms >= 900);
	CHECK(ms <= 1800);
	CHECK_EQ(drc, -1);
	close(fd);
	CHECK(hf_bproc_log_contains(b, "no CONNECT within 1 s"));
}

/* connect_timeout 2: the CONNECT arrives one byte every 250 ms (4.5 s in
 * all): trickled bytes do not extend the deadline, the connection is
 * closed about 2 s after it was accepted and no CONNACK is sent. */
static void
t_connect_timeout_trickle(struct hf_bproc *b)
{
	int64_t t0 = hf_now_ms(), ms;
	int drc;
	bool other;
	int fd = hf_raw_open(b->port);

	CHECK(fd >= 0);
	ms = trickle(fd, connect311, sizeof(connect311), 250, 3000, t0, &drc,
	             &other);
	fprintf(stderr, "closed after %lld ms\n", (long long)ms);
	CHECK(ms >= 1900);
	CHECK(ms <= 2800);
	CHECK(!other); /* no CONNACK */
	CHECK_EQ(drc, -1);
	close(fd);
}

/* connect_timeout 1 and three connections accepted 400 ms apart: each is
 * closed at its own deadline (one timer serves them in turn); a fourth
 * that sends CONNECT in time stays. */
static void
t_connect_timeout_staggered(struct hf_bproc *b)
{
	int fds[3];
	int64_t t0[3];
	uint8_t rc = 0xff;
	int ok = hf_raw_connect(b->port, V5, "in-time", true, 60, &rc, NULL);

	CHECK(ok >= 0);
	for (int i = 0; i < 3; i++) {
		fds[i] = hf_raw_open(b->port);
		t0[i] = hf_now_ms();
		CHECK(fds[i] >= 0);
		/* 400 ms on: the first one is still open. */
		if (i < 2)
			CHECK(!hf_raw_wait_close(fds[0], 400, NULL));
	}
	for (int i = 0; i < 3; i++) {
		int64_t ms;

		CHECK(hf_raw_wait_close(fds[i], 3000, NULL));
		ms = hf_now_ms() - t0[i];
		fprintf(stderr, "connection %d closed after %lld ms\n", i,
		        (long long)ms);
		CHECK(ms >= 900);
		CHECK(ms <= 1800);
		close(fds[i]);
	}
	/* The connected client is not subject to connect_timeout. */
	CHECK_EQ(hf_raw_ping(ok, 2000), 1);
	close(ok);
}

/* A CONNECT completed in time, in pieces: accepted. */
static void
t_connect_in_pieces(struct hf_bproc *b)
{
	struct hf_packet ca;
	uint8_t buf[64];
	int fd = hf_raw_open(b->port);

	CHECK(fd >= 0);
	CHECK_EQ(hf_raw_send(fd, connect311, 5), 0);
	CHECK(!hf_raw_wait_close(fd, 300, NULL));
	CHECK_EQ(hf_raw_send(fd, connect311 + 5, sizeof(connect311) - 5), 0);
	CHECK_EQ(hf_raw_recvb(fd, V3, 3000, &ca, buf, sizeof(buf)), 1);
	CHECK_EQ(ca.type, HF_CONNACK);
	CHECK_EQ(ca.u.connack.rc, 0);
	/* Past the deadline of the accepted connection: still served. */
	CHECK(!hf_raw_wait_close(fd, 1500, NULL));
	CHECK_EQ(hf_raw_ping(fd, 2000), 1);
	close(fd);
}

int
main(void)
{
	HF_BCASE(trickle_publish_v311, NULL);
	HF_BCASE(trickle_publish_v5, NULL);
	HF_BCASE(t_connect_timeout_silent, "connect_timeout 1");
	HF_BCASE(t_connect_timeout_trickle, "connect_timeout 2");
	HF_BCASE(t_connect_timeout_staggered, "connect_timeout 1");
	HF_BCASE(t_connect_in_pieces, "connect_timeout 1");
	return HF_DONE();
}
