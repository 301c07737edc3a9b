/* broker/engine/client.c - one network connection as the engine sees it:
 * input framing and dispatch, output buffering, close.
 *
 * Bytes from the transport are parsed in place; what is left of an
 * incomplete packet is kept in c->in; whole packets are cut out
 * with hf_frame_parse() (which refuses a packet over the size limit before
 * its body is buffered), decoded with hf_decode() and dispatched to the
 * handle_* functions. Every packet the engine sends is encoded into c->out;
 * the broker's before-sleep hook hands c->out to the transport once per loop
 * turn, after the turn's store commit, so an acknowledgment never leaves
 * before what it acknowledges is durable. Loop thread only. */
#include <stdlib.h>
#include <string.h>

#include "holdfast/store.h"
#include "ack.h"
#include "bridge.h"
#include "broker.h"
#include "client.h"
#include "flow.h"
#include "connect.h"
#include "durable.h"
#include "inbound.h"
#include "logpkt.h"
#include "outq.h"
#include "subscribe.h"

static void on_data(struct hf_client *c, const uint8_t *p, size_t n);
static void ev_data(void *owner, const uint8_t *p, size_t n);
static void ev_drained(void *owner);
static void ev_eof(void *owner);
static void ev_closed(void *owner);

/* What the transport tells a client (net/conn.h). */
static const struct hf_conn_events client_events = {
    .data = ev_data,
    .drained = ev_drained,
    .eof = ev_eof,
    .closed = ev_closed,
};

int
hf_engine_accept(void *ctx, struct hf_conn *conn)
{
	struct hf_broker *b = ctx;
	struct hf_client *c = calloc(1, sizeof(*c));
	if (!c)
		return -1;
	c->b = b;
	b->m.sockets++;
	c->conn = conn;
	c->policy = conn->policy;
	conn->ev = &client_events;
	conn->owner = c;
	c->state = HF_C_NEW;
	/* Until CONNECT, last_rx is when the connection was accepted: only a
	 * whole packet moves it, so the connect_timeout deadline stays put
	 * while a CONNECT trickles in. */
	c->last_rx = hf_now_ms(b);
	b->n_clients_new++;
	hf_broker_arm_connect_timer(b);
	c->recv_max = 65535;
	c->request_problem = true;
	c->all_next = b->all_clients;
	if (b->all_clients)
		b->all_clients->all_prev = c;
	b->all_clients = c;
	if (b->conf->connection_messages && !conn->policy->outgoing)
		hf_logpkt_accepted(c);
	return 0;
}

void
hf_client_set_state(struct hf_client *c, enum hf_cstate state)
{
	if (c->state == HF_C_NEW && state != HF_C_NEW)
		c->b->n_clients_new--;
	c->state = state;
}

void
hf_client_mark_dirty(struct hf_client *c)
{
	if (c->dirty)
		return;
	c->dirty = true;
	c->dirty_next = c->b->dirty;
	c->b->dirty = c;
}

/* Bookkeeping for n bytes of a packet just put in c's output. */
static void
queued(struct hf_client *c, uint8_t type, uint8_t qos, size_t n)
{
	switch (type) {
	case HF_PUBLISH:
		/* A QoS 2 delivery's packet id must be durable first, or a
		 * crash could make it arrive twice; QoS 0/1 may go early. */
		if (qos < 2)
			break;
		__attribute__((fallthrough));
	case HF_CONNACK:
	case HF_PUBACK:
	case HF_PUBREC:
	case HF_PUBREL:
	case HF_PUBCOMP:
	case HF_SUBACK:
	case HF_UNSUBACK:
		c->waits_commit = true;
		break;
	default:
		break;
	}
	c->b->stats.bytes_sent += n;
	hf_client_mark_dirty(c);
}

/* The packet could not be buffered (out of memory): it is lost in transit
 * together with the connection, which closes at the end of the turn (not
 * here: the caller may be in the middle of a fan-out). Whatever it carried
 * is sent again as MQTT provides after a broken connection: in-flight
 * messages with DUP, an unacknowledged PUBLISH by its publisher. */
static void
lose_output(struct hf_client *c, size_t keep)
{
	c->out.len = keep;
	c->output_lost = true;
	hf_client_mark_dirty(c);
}

bool
hf_client_send(struct hf_client *c, const struct hf_packet *p)
{
	uint8_t ver = c->proto ? c->proto : HF_PROTO_V311;
	if (c->max_packet && hf_encode_size(p, ver) > c->max_packet)
		return false;
	if ((c->state == HF_C_CLOSING && p->type != HF_DISCONNECT) ||
	    c->output_lost)
		return true; /* lost with the connection */
	size_t before = c->out.len;
	if (hf_encode(p, ver, &c->out) != HF_OK) {
		lose_output(c, before);
		return true;
	}
	HF_LOGPKT_OUT(c, p);
	queued(c, p->type, p->type == HF_PUBLISH ? p->u.publish.qos : 0,
	       c->out.len - before);
	return true;
}

bool
hf_client_send_publish_bytes(struct hf_client *c, const uint8_t *p, size_t len,
                             uint8_t qos, size_t pid_off, uint16_t pid)
{
	if (c->max_packet && len > c->max_packet)
		return false;
	if (c->state == HF_C_CLOSING || c->output_lost)
		return true;
	size_t at = c->out.len;
	if (hf_wbuf_put(&c->out, p, len) != HF_OK) {
		lose_output(c, at);
		return true;
	}
	if (qos > 0) {
		c->out.p[at + pid_off] = (uint8_t)(pid >> 8);
		c->out.p[at + pid_off + 1] = (uint8_t)pid;
	}
	if (HF_LOGPKT_ON(c))
		hf_logpkt_out_bytes(c, c->out.p + at, len, pid);
	queued(c, HF_PUBLISH, qos, len);
	return true;
}

static size_t
backlog(const struct hf_client *c)
{
	return c->out.len + (c->conn ? c->conn->ops->pending(c->conn) : 0);
}

bool
hf_client_backlogged(const struct hf_client *c)
{
	uint64_t cap = c->b->conf->client_max_write_buffer_size;
	return cap && c->conn && c->conn->ops->pending(c->conn) > cap;
}

/* Back-pressure: a client whose output waits beyond the limit is not read
 * until it has taken it (its own PUBACKs then wait, and so does the next
 * PUBLISH it sends: the TCP window fills and the client slows down). */
static void
throttle(struct hf_client *c)
{
	uint64_t cap = c->b->conf->client_max_write_buffer_size;
	if (!c->throttled && c->conn && c->state != HF_C_CLOSING && cap &&
	    backlog(c) > cap) {
		c->throttled = true;
		c->conn->ops->pause(c->conn, true);
	}
}

/* After handing output to the transport: a client paused because the
 * engine's own buffer went over (a read's worth of answers) whose socket
 * took it all gets no drained event, so it reads again now; then the
 * limit is checked against what is left. */
static void
after_write(struct hf_client *c)
{
	if (c->throttled && c->conn && c->conn->ops->pending(c->conn) == 0) {
		c->throttled = false;
		hf_flow_resume_reading(c);
	}
	throttle(c);
}

void
hf_client_flush(struct hf_client *c)
{
	if (c->out.len == 0 || !c->conn)
		return;
	c->conn->ops->write(c->conn, &c->out);
	/* A small buffer (a CONNACK, a PINGRESP) is not worth keeping on an
	 * idle connection; busy ones keep theirs. */
	if (c->out.len == 0 && c->out.cap <= 128)
		hf_wbuf_free(&c->out);
	after_write(c);
}

void
hf_client_flush_prefix(struct hf_client *c, size_t n)
{
	if (n >= c->out.len || !c->conn) {
		hf_client_flush(c);
		return;
	}
	if (n == 0)
		return;
	/* The transport takes a whole buffer: give it the first n bytes in
	 * one of their own and keep the rest. Out of memory, everything
	 * waits for the next release (nothing is lost, only later). */
	struct hf_wbuf head = {0};
	if (hf_wbuf_put(&head, c->out.p, n) != HF_OK) {
		hf_wbuf_free(&head);
		return;
	}
	memmove(c->out.p, c->out.p + n, c->out.len - n);
	c->out.len -= n;
	c->conn->ops->write(c->conn, &head);
	hf_wbuf_free(&head);
	after_write(c);
}

void
hf_client_close(struct hf_client *c, int rc)
{
	if (c->state == HF_C_CLOSING)
		return;
	if (rc >= 0 && c->proto == HF_PROTO_V5 && c->state == HF_C_CONNECTED) {
		struct hf_packet d;
		memset(&d, 0, sizeof(d));
		d.type = HF_DISCONNECT;
		d.u.ack.rc = (uint8_t)rc;
		hf_client_send(c, &d);
	}
	bool was_connected = c->state == HF_C_CONNECTED;
	hf_client_set_state(c, HF_C_CLOSING);
	if (was_connected)
		hf_client_detach(c);
	/* The output (acknowledgments among it) leaves only after this
	 * turn's commit, and so does the close itself: a client that sees
	 * its connection end may rely on what it did before being stored
	 * (before_sleep() flushes, then closes). */
	c->close_pending = true;
	c->waits_commit = true;
	hf_client_mark_dirty(c);
}

static void
ev_eof(void *owner)
{
	struct hf_client *c = owner;
	if (c->state == HF_C_CLOSING)
		return;
	if (c->state == HF_C_CONNECTED && c->b->conf->connection_messages)
		hf_logpkt_gone(c, HF_GONE_CLOSED, NULL);
	hf_client_close(c, -1);
}

static void
ev_closed(void *owner)
{
	struct hf_client *c = owner;
	struct hf_broker *b = c->b;
	c->conn = NULL; /* gone with this call */
	hf_flow_client_gone(c);
	if (c->policy->outgoing)
		hf_bridge_closed(c);
	if (b->publisher == c)
		b->publisher = NULL;
	if (c->state != HF_C_CLOSING) {
		hf_client_set_state(c, HF_C_CLOSING);
		hf_client_detach(c);
	}
	if (c->dirty) {
		for (struct hf_client **pp = &b->dirty; *pp;
		     pp = &(*pp)->dirty_next) {
			if (*pp == c) {
				*pp = c->dirty_next;
				break;
			}
		}
	}
	if (c->all_prev)
		c->all_prev->all_next = c->all_next;
	else
		b->all_clients = c->all_next;
	if (c->all_next)
		c->all_next->all_prev = c->all_prev;
	for (uint16_t i = 0; i < c->alias_in_n; i++)
		free((void *)c->alias_in[i].p);
	free(c->alias_in);
	if (c->alias_out) {
		hf_map_free(c->alias_out);
		free(c->alias_out);
	}
	if (c->in) {
		hf_wbuf_free(c->in);
		free(c->in);
	}
	hf_wbuf_free(&c->out);
	free(c);
}

const char *
hf_client_peer(const struct hf_client *c, char *buf)
{
	if (c->conn)
		c->conn->ops->peer(c->conn, buf, HF_PEER_LEN);
	else
		snprintf(buf, HF_PEER_LEN, "?");
	return buf;
}

/* mosquitto's line for the error (an undecodable packet is "malformed",
 * one over max_packet_size "oversize", anything else a protocol error),
 * then what Holdfast found, then close with rc. */
static void
fail_as(struct hf_client *c, int rc, const char *what, enum hf_gone gone)
{
	char detail[200];
	snprintf(detail, sizeof(detail), "%s (reason 0x%02x), disconnecting",
	         what, rc);
	hf_logpkt_gone(c, gone, detail);
	hf_client_close(c, rc);
}

void
hf_client_fail(struct hf_client *c, int rc, const char *what)
{
	fail_as(c, rc, what,
	        rc == HF_RC_MALFORMED          ? HF_GONE_MALFORMED
	        : rc == HF_RC_PACKET_TOO_LARGE ? HF_GONE_OVERSIZE
	                                       : HF_GONE_PROTOCOL);
}

/* Peek at a CONNECT body for its protocol level, to answer a CONNECT that
 * fails to decode in the right form. */
static uint8_t
peek_level(const uint8_t *body, uint32_t len)
{
	if (len >= 7 && body[0] == 0 && body[1] == 4 &&
	    memcmp(body + 2, "MQTT", 4) == 0)
		return body[6];
	return HF_PROTO_V311;
}

/* Does the CONNECT body name a protocol we know ("MQTT" or "MQIsdp")? */
static bool
peek_name_known(const uint8_t *body, uint32_t len)
{
	return (len >= 6 && body[0] == 0 && body[1] == 4 &&
	        memcmp(body + 2, "MQTT", 4) == 0) ||
	       (len >= 8 && body[0] == 0 && body[1] == 6 &&
	        memcmp(body + 2, "MQIsdp", 6) == 0);
}

static void
connect_fail(struct hf_client *c, int rc, const uint8_t *body, uint32_t len)
{
	uint8_t lvl = peek_level(body, len);
	struct hf_packet ca;
	memset(&ca, 0, sizeof(ca));
	ca.type = HF_CONNACK;
	if (rc == HF_RC_UNSUPPORTED_PROTOCOL && !peek_name_known(body, len)) {
		/* Not MQTT at all [MQTT-3.1.2-1]: the server may not go on
		 * by this specification, so no CONNACK of any version (5.0
		 * would allow 0x84, but nothing says the peer reads MQTT
		 * 5); mosquitto closes silently too. */
	} else if (lvl == HF_PROTO_V5 && rc >= 0x80) {
		c->proto = HF_PROTO_V5;
		ca.u.connack.rc = (uint8_t)rc;
		hf_client_send(c, &ca);
	} else if (rc == HF_RC_UNSUPPORTED_PROTOCOL) {
		/* A known name with a level we do not speak ("MQTT" with
		 * other than 4 or 5, "MQIsdp" with other than 3): 3.1.1
		 * [MQTT-3.1.2-2] (and 3.1) answer 0x01 then close. An
		 * unknown level may be a future version: answer in the
		 * 3.1.1 form, which every version can read. */
		c->proto = HF_PROTO_V311;
		ca.u.connack.rc = HF_CONNACK_BAD_PROTOCOL;
		hf_client_send(c, &ca);
	}
	/* mosquitto 2.0.11: "Client <unknown> disconnected due to protocol
	 * error." for every CONNECT it cannot take, garbage included. */
	char detail[64];
	snprintf(detail, sizeof(detail), "bad CONNECT (reason 0x%02x)", rc);
	hf_logpkt_gone(c, HF_GONE_PROTOCOL, detail);
	hf_client_close(c, -1);
}

static void
dispatch(struct hf_client *c, uint8_t type_flags, const uint8_t *body,
         uint32_t len)
{
	struct hf_packet pkt;
	uint8_t type = type_flags >> 4;

	if (c->state == HF_C_NEW && c->policy->outgoing) {
		/* A bridge of ours: the remote's first packet is CONNACK. */
		int rc = type == HF_CONNACK
		             ? hf_decode(type_flags, body, len, c->proto, &pkt)
		             : HF_RC_PROTOCOL_ERROR;
		if (rc != HF_OK) {
			hf_logpkt_gone(c, HF_GONE_PROTOCOL,
			               "the remote's first packet is not a "
			               "valid CONNACK");
			hf_client_close(c, -1);
			return;
		}
		hf_bridge_connack(c, &pkt.u.connack);
		return;
	}
	if (c->state == HF_C_NEW) {
		if (type != HF_CONNECT) {
			/* [MQTT-3.1.0-1] first packet must be CONNECT (an HTTP
			 * request to an MQTT port ends here too) */
			hf_logpkt_gone(c, HF_GONE_PROTOCOL,
			               "the first packet is not CONNECT");
			hf_client_close(c, -1);
			return;
		}
		int rc = hf_decode(type_flags, body, len, 0, &pkt);
		if (rc != HF_OK) {
			connect_fail(c, rc, body, len);
			return;
		}
		hf_handle_connect(c, &pkt.u.connect);
		return;
	}
	int rc = hf_decode(type_flags, body, len, c->proto, &pkt);
	if (rc == HF_RC_PAYLOAD_FORMAT_INVALID && type == HF_PUBLISH) {
		/* Well formed, only its payload does not match its format
		 * indicator (hf_decode reports that last): refused with
		 * PUBACK/PUBREC 0x99, the connection stays. */
		hf_handle_publish(c, &pkt.u.publish, rc);
		return;
	}
	if (rc != HF_OK) {
		hf_client_fail(c, rc, "invalid packet");
		return;
	}
	if (type != HF_PUBLISH) /* inbound.c: after the ACL, as mosquitto */
		HF_LOGPKT_IN(c, &pkt);
	switch (type) {
	case HF_CONNECT:
		hf_client_fail(c, HF_RC_PROTOCOL_ERROR, "second CONNECT");
		break;
	case HF_PUBLISH:
		hf_handle_publish(c, &pkt.u.publish, HF_OK);
		break;
	case HF_PUBACK:
		hf_handle_puback(c, &pkt.u.ack);
		break;
	case HF_PUBREC:
		hf_handle_pubrec(c, &pkt.u.ack);
		break;
	case HF_PUBREL:
		hf_handle_pubrel(c, &pkt.u.ack);
		break;
	case HF_PUBCOMP:
		hf_handle_pubcomp(c, &pkt.u.ack);
		break;
	case HF_SUBSCRIBE:
		hf_handle_subscribe(c, &pkt.u.subscribe);
		break;
	case HF_UNSUBSCRIBE:
		hf_handle_unsubscribe(c, &pkt.u.subscribe);
		break;
	case HF_PINGREQ: {
		struct hf_packet r;
		memset(&r, 0, sizeof(r));
		r.type = HF_PINGRESP;
		hf_client_send(c, &r);
		break;
	}
	case HF_DISCONNECT:
		hf_handle_disconnect(c, &pkt.u.ack);
		break;
	case HF_SUBACK:
	case HF_UNSUBACK:
	case HF_PINGRESP:
		/* The answers a server gives its client: from a bridge's
		 * remote only. */
		if (!c->policy->outgoing) {
			hf_client_fail(c, HF_RC_PROTOCOL_ERROR,
			               "unexpected packet");
			break;
		}
		if (type != HF_PINGRESP)
			hf_bridge_suback(c, type, &pkt.u.suback);
		break;
	case HF_AUTH:
		/* No enhanced authentication method is offered, so an AUTH
		 * packet is a protocol error [MQTT-4.12.0-1]. */
		hf_client_fail(
		    c, c->proto == HF_PROTO_V5 ? HF_RC_PROTOCOL_ERROR : -1,
		    "AUTH without an authentication method");
		break;
	default:
		/* Server-to-client packet types from a client. */
		hf_client_fail(c, HF_RC_PROTOCOL_ERROR, "unexpected packet");
		break;
	}
}

static uint32_t
max_in_packet(const struct hf_client *c)
{
	uint32_t m = c->b->conf->max_packet_size;
	return m ? m : HF_MAX_VARINT + 5;
}

/* Cut and dispatch every whole packet at the start of buf. Returns the bytes
 * consumed. */
static size_t
process(struct hf_client *c, const uint8_t *buf, size_t len)
{
	size_t off = 0;
	if (len && c->state == HF_C_NEW && !c->policy->outgoing &&
	    (buf[0] >> 4) != HF_CONNECT) {
		/* Not MQTT (an HTTP request to an MQTT port, a TLS hello to
		 * a plain one): said and closed at its first byte, as
		 * mosquitto does, not after connect_timeout while the
		 * framer waits for a length that never comes. */
		hf_logpkt_gone(c, HF_GONE_PROTOCOL,
		               "the first packet is not CONNECT");
		hf_client_close(c, -1);
		return len;
	}
	while (off < len && c->state != HF_C_CLOSING) {
		struct hf_frame f;
		int rc =
		    hf_frame_parse(buf + off, len - off, max_in_packet(c), &f);
		if (rc == HF_AGAIN)
			break;
		if (rc != HF_OK) {
			if (c->state == HF_C_NEW)
				connect_fail(c, rc, NULL, 0);
			else if (rc == HF_RC_PACKET_TOO_LARGE)
				fail_as(c, rc, "packet too large",
				        HF_GONE_OVERSIZE);
			else /* a reserved type, as mosquitto words it */
				fail_as(c, rc, "malformed length",
				        HF_GONE_PROTOCOL);
			return len;
		}
		size_t whole = (size_t)f.hdr_len + f.body_len;
		if (len - off < whole)
			break;
		c->b->stats.bytes_received += whole;
		dispatch(c, f.type_flags, buf + off + f.hdr_len, f.body_len);
		off += whole;
	}
	/* Keep Alive counts whole control packets [MQTT-3.1.2-24] (5.0:
	 * [MQTT-3.1.2-22]): bytes that trickle in without completing one
	 * do not hold the connection open. */
	if (off)
		c->last_rx = hf_now_ms(c->b);
	/* Window slots freed by this read's acknowledgments are refilled
	 * once, with one read of the queue instead of one per ack. */
	if (c->pump_due) {
		c->pump_due = false;
		if (c->s)
			hf_session_pump(c->s);
	}
	return off;
}

static void
bound_txn(struct hf_broker *b)
{
	/* Group-commit bound: a long burst commits in slices. The turn's
	 * acknowledgments still wait for the turn's last commit. */
	if (b->store &&
	    hf_store_pending(b->store) >= b->conf->persistence_commit_max)
		hf_dur_commit(b);
}

/* The transport has sent everything: read again, and send what waited
 * for room (queued deliveries, on disk for a durable session). */
static void
ev_drained(void *owner)
{
	struct hf_client *c = owner;
	if (c->throttled) {
		c->throttled = false;
		hf_flow_resume_reading(c);
	}
	if (c->s && c->state == HF_C_CONNECTED)
		hf_session_pump(c->s);
}

static void
ev_data(void *owner, const uint8_t *p, size_t n)
{
	struct hf_client *c = owner;
	if (c->state == HF_C_CLOSING)
		return;
	on_data(c, p, n);
	throttle(c); /* its answers to this input may already be too many */
	bound_txn(c->b);
}

static void
on_data(struct hf_client *c, const uint8_t *p, size_t n)
{
	if (!c->in || c->in->len == 0) {
		/* Common case: parse straight from the read buffer, keep only
		 * an incomplete packet's bytes. */
		size_t used = process(c, p, n);
		if (used == n || c->state == HF_C_CLOSING)
			return;
		if ((!c->in && !(c->in = calloc(1, sizeof(*c->in)))) ||
		    hf_wbuf_put(c->in, p + used, n - used) != HF_OK)
			hf_client_close(c, HF_RC_UNSPECIFIED);
		return;
	}
	if (hf_wbuf_put(c->in, p, n) != HF_OK) {
		hf_client_close(c, HF_RC_UNSPECIFIED);
		return;
	}
	size_t used = process(c, c->in->p, c->in->len);
	if (c->state == HF_C_CLOSING) {
		c->in->len = 0;
		return;
	}
	memmove(c->in->p, c->in->p + used, c->in->len - used);
	c->in->len -= used;
}
