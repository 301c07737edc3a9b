/* tests/engine/eclient.h - a client of the harness's broker (eharness.h),
 * shared by the engine tests: CONNECT, SUBSCRIBE, PUBLISH and the
 * acknowledgments encoded with the project codec and fed to a slot, and a
 * reader that collects what the slot received and answers it (PUBACK or
 * PUBREC for a PUBLISH, PUBCOMP for a PUBREL, PUBREL for a PUBREC).
 * Single-threaded. */
#ifndef HF_ECLIENT_H
#define HF_ECLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "eharness.h"

/* What one slot saw in a turn. */
struct eh_got {
	bool connack_ok;
	uint16_t acked[8]; /* pids of success PUBACK/PUBREC */
	int n_acked;
	char payloads[16][16];
	int n_payloads;
	bool puback_seen;
};

/* Encode p for version ver and feed it to slot i. */
void eh_send(struct eh *e, int i, struct hf_packet *p, uint8_t ver);
/* A new connection in slot i and its CONNECT (keepalive 60; for 5.0 a
 * user property, and a Session Expiry Interval when expiry != 0; a QoS 1
 * will on will_topic unless NULL). */
void eh_cl_connect(struct eh *e, int i, uint8_t ver, const char *id, bool clean,
                   uint32_t expiry, const char *will_topic);
/* A CONNECT with just the usual fields (keepalive 60), to add to; id must
 * outlive p. */
void eh_cl_connect_init(struct hf_packet *p, uint8_t ver, const char *id,
                        bool clean);
/* SUBSCRIBE one filter (opts: QoS and 5.0 option bits; id: a subscription
 * identifier, 0 = none). */
void eh_cl_subscribe(struct eh *e, int i, uint8_t ver, const char *f,
                     uint8_t opts, uint32_t id);
void eh_cl_publish(struct eh *e, int i, uint8_t ver, const char *topic,
                   const char *payload, uint8_t qos, bool retain, uint16_t pid);
/* PUBACK, PUBREC, PUBREL or PUBCOMP (type) for pid. */
void eh_cl_ack(struct eh *e, int i, uint8_t ver, uint8_t type, uint16_t pid);
/* Read everything slot i has received into g, answering it. */
void eh_cl_read(struct eh *e, int i, uint8_t ver, struct eh_got *g);
bool eh_got_payload(const struct eh_got *g, const char *payload);
bool eh_got_acked(const struct eh_got *g, uint16_t pid);

#endif
