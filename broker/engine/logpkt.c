/* broker/engine/logpkt.c - see logpkt.h.
 *
 * The words are mosquitto 2.0.11's, checked side by side against
 * /usr/sbin/mosquitto -v for the same client actions (tests/protocol/
 * p24_logs.c holds the lines as regular expressions): a parser that reads
 * "New client connected from ... (p2, c1, k60, u'user')." or "Received
 * PUBLISH from ..." must not tell the two brokers apart. Where Holdfast
 * knows more (why a CONNECT was refused, which limit a queue hit) it says
 * so on a line of its own after mosquitto's, so both kinds of reader are
 * served. */
#include <stdio.h>
#include <string.h>

#include "logpkt.h"
#include "session.h"

/* mosquitto's "p" number is its own protocol numbering, not the CONNECT
 * level: 3.1 is p1, 3.1.1 p2, 5.0 p5. */
int
hf_logpkt_pnum(uint8_t level)
{
	switch (level) {
	case HF_PROTO_V31:
		return 1;
	case HF_PROTO_V311:
		return 2;
	default:
		return level;
	}
}

const char *
hf_logpkt_name(const struct hf_client *c, char *buf, size_t cap)
{
	if (c->s)
		return c->s->id;
	char peer[HF_PEER_LEN];
	hf_client_peer(c, peer);
	/* "ip:port" or "[v6]:port": mosquitto names the address alone */
	char *colon = strrchr(peer, ':');
	if (colon && colon != peer)
		*colon = '\0';
	if (peer[0] == '[' && colon && colon[-1] == ']') {
		colon[-1] = '\0';
		snprintf(buf, cap, "%s", peer + 1);
	} else {
		snprintf(buf, cap, "%s", peer);
	}
	return buf;
}

static const char *const type_names[16] = {
    "RESERVED", "CONNECT",  "CONNACK",    "PUBLISH", "PUBACK",      "PUBREC",
    "PUBREL",   "PUBCOMP",  "SUBSCRIBE",  "SUBACK",  "UNSUBSCRIBE", "UNSUBACK",
    "PINGREQ",  "PINGRESP", "DISCONNECT", "AUTH",
};

/* "(d0, q1, r0, m1, 't', ... (5 bytes))" */
static void
publish_line(struct hf_client *c, const char *dir, const char *to,
             const char *name, const struct hf_publish *p)
{
	struct hf_logger *l = &c->b->log;
	hf_log_ev(l, HF_LOG_DEBUG, "packet", name, NULL,
	          "%s PUBLISH %s %s (d%d, q%d, r%d, m%d, '%.*s', ... (%lu "
	          "bytes))",
	          dir, to, name, p->dup ? 1 : 0, p->qos, p->retain ? 1 : 0,
	          p->pid, (int)p->topic.len, (const char *)p->topic.p,
	          (unsigned long)p->payload.len);
}

void
hf_logpkt_in(struct hf_client *c, const struct hf_packet *p)
{
	struct hf_logger *l = &c->b->log;
	char nb[HF_PEER_LEN];
	const char *name = hf_logpkt_name(c, nb, sizeof(nb));
	const char *t = type_names[p->type & 15];
	switch (p->type) {
	case HF_CONNECT:
		/* mosquitto says nothing until it has decided; the
		 * "New client connected" line follows. */
		return;
	case HF_PUBLISH:
		publish_line(c, "Received", "from", name, &p->u.publish);
		return;
	case HF_PUBACK:
	case HF_PUBCOMP:
		hf_log_ev(l, HF_LOG_DEBUG, "packet", name, NULL,
		          "Received %s from %s (Mid: %d, RC:%d)", t, name,
		          p->u.ack.pid, p->u.ack.rc);
		return;
	case HF_PUBREC:
	case HF_PUBREL:
		hf_log_ev(l, HF_LOG_DEBUG, "packet", name, NULL,
		          "Received %s from %s (Mid: %d)", t, name,
		          p->u.ack.pid);
		return;
	default:
		/* SUBSCRIBE and UNSUBSCRIBE: their filters follow, one line
		 * each, from subscribe.c. */
		hf_log_ev(l, HF_LOG_DEBUG, "packet", name, NULL,
		          "Received %s from %s", t, name);
		return;
	}
}

void
hf_logpkt_out(struct hf_client *c, const struct hf_packet *p)
{
	struct hf_logger *l = &c->b->log;
	char nb[HF_PEER_LEN];
	const char *name = hf_logpkt_name(c, nb, sizeof(nb));
	const char *t = type_names[p->type & 15];
	switch (p->type) {
	case HF_CONNACK:
		hf_log_ev(l, HF_LOG_DEBUG, "packet", name, NULL,
		          "Sending CONNACK to %s (%d, %d)", name,
		          p->u.connack.session_present ? 1 : 0,
		          p->u.connack.rc);
		return;
	case HF_PUBLISH:
		publish_line(c, "Sending", "to", name, &p->u.publish);
		return;
	case HF_PUBACK:
	case HF_PUBREC:
		hf_log_ev(l, HF_LOG_DEBUG, "packet", name, NULL,
		          "Sending %s to %s (m%d, rc%d)", t, name, p->u.ack.pid,
		          p->u.ack.rc);
		return;
	case HF_PUBREL:
	case HF_PUBCOMP:
		hf_log_ev(l, HF_LOG_DEBUG, "packet", name, NULL,
		          "Sending %s to %s (m%d)", t, name, p->u.ack.pid);
		return;
	case HF_DISCONNECT:
		hf_log_ev(l, HF_LOG_DEBUG, "packet", name, NULL,
		          "Sending DISCONNECT to %s (rc%d)", name, p->u.ack.rc);
		return;
	default:
		hf_log_ev(l, HF_LOG_DEBUG, "packet", name, NULL,
		          "Sending %s to %s", t, name);
		return;
	}
}

void
hf_logpkt_out_bytes(struct hf_client *c, const uint8_t *pkt, size_t len,
                    uint16_t pid)
{
	struct hf_frame f;
	struct hf_packet p;
	uint8_t ver = c->proto ? c->proto : HF_PROTO_V311;
	/* The bytes were encoded by us: they decode, but the packet id in
	 * them is the template's; the caller's is the one sent. */
	if (hf_frame_parse(pkt, len, 0, &f) != HF_OK ||
	    hf_decode(f.type_flags, pkt + f.hdr_len, f.body_len, ver, &p) !=
	        HF_OK)
		return;
	if (p.u.publish.qos)
		p.u.publish.pid = pid;
	hf_logpkt_out(c, &p);
}

void
hf_logpkt_accepted(struct hf_client *c)
{
	char peer[HF_PEER_LEN];
	hf_client_peer(c, peer);
	hf_log_ev(&c->b->log, HF_LOG_NOTICE, "new_connection", NULL, peer,
	          "New connection from %s on port %u.", peer,
	          (unsigned)(c->policy ? c->policy->port : 0));
}

void
hf_logpkt_gone(struct hf_client *c, enum hf_gone why, const char *detail)
{
	static const struct {
		const char *event, *fmt;
	} lines[] = {
	    [HF_GONE_CLOSED] = {"client_closed",
	                        "Client %s closed its connection."},
	    [HF_GONE_PROTOCOL] = {"protocol_error",
	                          "Client %s disconnected due to protocol "
	                          "error."},
	    [HF_GONE_MALFORMED] = {"protocol_error",
	                           "Client %s disconnected due to malformed "
	                           "packet."},
	    [HF_GONE_OVERSIZE] = {"protocol_error",
	                          "Client %s disconnected due to oversize "
	                          "packet."},
	    [HF_GONE_NOT_AUTHORISED] = {"connect_refused",
	                                "Client %s disconnected, not "
	                                "authorised."},
	};
	struct hf_logger *l = &c->b->log;
	char peer[HF_PEER_LEN];
	const char *id = c->s ? c->s->id : "<unknown>";
	hf_client_peer(c, peer);
	char msg[192];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	/* one of the literals above */
	snprintf(msg, sizeof(msg), lines[why].fmt, id);
#pragma GCC diagnostic pop
	if (detail && l->format == HF_LOGF_JSON) {
		hf_log_ev(l, HF_LOG_NOTICE, lines[why].event, c->s ? id : NULL,
		          peer, "%s (%s)", msg, detail);
		return;
	}
	hf_log_ev(l, HF_LOG_NOTICE, lines[why].event, c->s ? id : NULL, peer,
	          "%s", msg);
	if (detail)
		hf_log_ev(l, HF_LOG_NOTICE, lines[why].event, c->s ? id : NULL,
		          peer, "Client %s: %s.", c->s ? id : peer, detail);
}

void
hf_logpkt_refused(struct hf_client *c, bool not_authorised, const char *why)
{
	struct hf_logger *l = &c->b->log;
	char peer[HF_PEER_LEN], detail[256];
	hf_client_peer(c, peer);
	snprintf(detail, sizeof(detail),
	         "Client connection from %s refused: %s.", peer, why);
	enum hf_gone g =
	    not_authorised ? HF_GONE_NOT_AUTHORISED : HF_GONE_PROTOCOL;
	if (l->format == HF_LOGF_JSON) {
		hf_log_ev(l, HF_LOG_NOTICE, "connect_refused", NULL, peer, "%s",
		          detail);
		return;
	}
	hf_logpkt_gone(c, g, NULL);
	hf_log_ev(l, HF_LOG_NOTICE, "connect_refused", NULL, peer, "%s",
	          detail);
}
