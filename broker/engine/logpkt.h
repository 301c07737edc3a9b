/* broker/engine/logpkt.h - the engine's log lines in mosquitto 2.0.11's
 * words (logpkt.c): connections, refusals, disconnections, and with debug
 * each packet in and out. A parser written for mosquitto's log keeps
 * working on Holdfast's.
 *
 * The per-packet calls cost one bit test when debug logging is off: call
 * them through HF_LOGPKT_IN/OUT, which test the type before anything is
 * formatted. Loop thread only. */
#ifndef HOLDFAST_ENGINE_LOGPKT_H
#define HOLDFAST_ENGINE_LOGPKT_H

#include <stddef.h>
#include <stdint.h>

#include "holdfast/codec.h"
#include "broker.h"
#include "client.h"

/* Why a connection ended, for the line that says so. */
enum hf_gone {
	HF_GONE_CLOSED,    /* the peer closed or the socket broke: mosquitto
	                    * 2.0.11 says "closed its connection" for both */
	HF_GONE_PROTOCOL,  /* a protocol error */
	HF_GONE_MALFORMED, /* a packet that does not decode */
	HF_GONE_OVERSIZE,  /* over max_packet_size */
	HF_GONE_NOT_AUTHORISED,
};

#define HF_LOGPKT_ON(c) HF_LOG_ON(&(c)->b->log, HF_LOG_DEBUG)
#define HF_LOGPKT_IN(c, p)                                                     \
	do {                                                                   \
		if (HF_LOGPKT_ON(c))                                           \
			hf_logpkt_in(c, p);                                    \
	} while (0)
#define HF_LOGPKT_OUT(c, p)                                                    \
	do {                                                                   \
		if (HF_LOGPKT_ON(c))                                           \
			hf_logpkt_out(c, p);                                   \
	} while (0)

/* The name mosquitto gives a client in its lines: the client id once
 * known, before that the peer's address without the port. */
const char *hf_logpkt_name(const struct hf_client *c, char *buf, size_t cap);

/* The "p" of "New client connected ... (p2, ...)": mosquitto numbers 3.1
 * as 1 and 3.1.1 as 2 (not the CONNECT's level, 3 and 4); 5.0 is 5. */
int hf_logpkt_pnum(uint8_t level);

/* "Received TYPE from ID ..." for a decoded packet. */
void hf_logpkt_in(struct hf_client *c, const struct hf_packet *p);
/* "Sending TYPE to ID ..." for a packet being queued. */
void hf_logpkt_out(struct hf_client *c, const struct hf_packet *p);
/* The same for a PUBLISH queued as encoded bytes (the shared encoding of
 * a fan-out): it is decoded again, only when debug is on. */
void hf_logpkt_out_bytes(struct hf_client *c, const uint8_t *pkt, size_t len,
                         uint16_t pid);

/* "New connection from IP:PORT on port N." (connection_messages). */
void hf_logpkt_accepted(struct hf_client *c);
/* "Client ID <why>." as mosquitto words each reason; "<unknown>" when no
 * CONNECT was accepted. detail, when not NULL, is Holdfast's own reason
 * and follows on a line of its own (json: in the same event). */
void hf_logpkt_gone(struct hf_client *c, enum hf_gone why, const char *detail);
/* A CONNECT refused (after its CONNACK): mosquitto's line for a refusal
 * of authentication (not_authorised) or any other (a protocol error to
 * mosquitto), then Holdfast's reason, "Client connection from IP:PORT
 * refused: WHY." */
void hf_logpkt_refused(struct hf_client *c, bool not_authorised,
                       const char *why);

#endif
