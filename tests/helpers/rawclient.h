/* tests/helpers/rawclient.h - a byte-level MQTT client for protocol tests.
 *
 * Blocking TCP sockets to 127.0.0.1 with poll()-based deadlines: every read
 * has a timeout, so a test never hangs on a silent broker. Packets go out as
 * raw bytes (hf_raw_send) or through the project codec (hf_raw_send_pkt,
 * hf_encode) and come back framed by the fixed header and decoded with
 * hf_decode. The convenience calls at the end (subscribe, publish with its
 * acknowledgement flow, ...) expect the reply to be the next packet on the
 * connection, so tests use separate connections for publishing and
 * receiving when both happen at once.
 *
 * Sends use MSG_NOSIGNAL: a broker closing the connection is an expected
 * outcome, never a SIGPIPE.
 *
 * Ownership: the caller owns fds and buffers. hf_raw_recv() allocates the
 * body (free *storage); hf_raw_recvb() decodes into a caller buffer and
 * allocates nothing, which suits test cases that may return early. No
 * global state; one thread per fd. */
#ifndef HF_RAWCLIENT_H
#define HF_RAWCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "holdfast/codec.h"

/* TCP connect to 127.0.0.1:port; returns fd or -1. */
int hf_raw_open(uint16_t port);
/* Send all bytes or return -1. */
int hf_raw_send(int fd, const void *buf, size_t len);
/* hf_encode + send. Returns 0 or -1. */
int hf_raw_send_pkt(int fd, const struct hf_packet *p, uint8_t ver);
/* Read one whole packet within timeout_ms and decode it with hf_decode for
 * version ver. Returns 1 with *pkt filled (views into *storage, which the
 * caller frees), 0 on timeout, -1 on EOF/error or an undecodable packet. */
int hf_raw_recv(int fd, uint8_t ver, int timeout_ms, struct hf_packet *pkt,
                uint8_t **storage);
/* True if the peer closes the connection within timeout_ms (reading and
 * discarding packets first). If disconnect_rc is non-NULL it receives the
 * reason code of a DISCONNECT read before the close (0 for one without a
 * reason code), or -1 when none came. */
bool hf_raw_wait_close(int fd, int timeout_ms, int *disconnect_rc);
/* CONNECT (ver, client_id, clean, keepalive) and wait for CONNACK. Returns
 * the fd when the CONNACK accepted the connection, else -1 (the fd is then
 * closed). *rc and *session_present are set when non-NULL (*rc = 0xff when
 * no CONNACK came). */
int hf_raw_connect(uint16_t port, uint8_t ver, const char *client_id,
                   bool clean, uint16_t keepalive, uint8_t *rc,
                   bool *session_present);

/* ---- Additions beyond the agreed interface ---- */

/* CONNECT (keepalive 60) with, for 5.0, a Session Expiry Interval of expiry
 * seconds (0: the property is absent); wait for CONNACK. Returns the fd on
 * CONNACK 0, else -1 (the code is printed). *session_present is set when
 * non-NULL. The helper the session, restart and store tests share. */
int hf_raw_connect_expiry(uint16_t port, uint8_t ver, const char *client_id,
                          bool clean, uint32_t expiry, bool *session_present);

/* Read one packet's raw bytes: *type_flags = first byte, body (Remaining
 * Length bytes) into buf[cap], *len its length. Returns 1, 0 on timeout, -1
 * on EOF/error/too big for cap. */
int hf_raw_recv_frame(int fd, int timeout_ms, uint8_t *type_flags, uint8_t *buf,
                      size_t cap, uint32_t *len);
/* hf_raw_recv without allocation: views point into buf. Returns 1, 0 on
 * timeout, -1 on EOF/error, -2 when hf_decode refused the packet (a broker
 * sent something malformed; pkt->type is still set). */
int hf_raw_recvb(int fd, uint8_t ver, int timeout_ms, struct hf_packet *pkt,
                 uint8_t *buf, size_t cap);
/* Send the given CONNECT packet (its proto_ver is used) and read the reply.
 * Returns the fd when a CONNACK came (whatever its code; *connack decoded
 * into buf), else -1 with the fd closed. */
int hf_raw_connect_pkt(uint16_t port, const struct hf_packet *connect,
                       struct hf_packet *connack, uint8_t *buf, size_t cap);
/* Fill a CONNECT packet with the usual fields (all else zero). client_id
 * must outlive the packet. */
void hf_raw_connect_init(struct hf_packet *p, uint8_t ver,
                         const char *client_id, bool clean, uint16_t keepalive);
/* Build a SUBSCRIBE for one filter (opts = QoS and v5 option bits;
 * sub_id 0 = none) and send it. Returns 0 or -1. */
int hf_raw_send_subscribe(int fd, uint8_t ver, uint16_t pid, const char *filter,
                          uint8_t opts, uint32_t sub_id);
/* Send the SUBSCRIBE and wait for its SUBACK (the next packet). Returns the
 * one reason code / granted QoS, or -1. */
int hf_raw_subscribe(int fd, uint8_t ver, uint16_t pid, const char *filter,
                     uint8_t opts, uint32_t sub_id);
/* UNSUBSCRIBE one filter, wait for UNSUBACK. Returns the v5 reason code (0
 * for v3.1.1), or -1. */
int hf_raw_unsubscribe(int fd, uint8_t ver, uint16_t pid, const char *filter);
/* PUBLISH and complete the acknowledgement flow (PUBACK; or PUBREC, PUBREL,
 * PUBCOMP), expecting each reply as the next packet. Returns the v5 reason
 * code of the PUBACK/PUBREC (0 for QoS 0 and v3.1.1), or -1. */
int hf_raw_publish(int fd, uint8_t ver, const char *topic, const void *payload,
                   size_t len, uint8_t qos, bool retain, uint16_t pid);
/* hf_raw_publish() succeeded: 5.0 allows PUBACK/PUBREC 0x10 (No matching
 * subscribers) for a message nobody receives. */
#define HF_PUB_OK(rc) ((rc) == 0 || (rc) == HF_RC_NO_MATCHING_SUBSCRIBERS)
/* Send PUBACK/PUBREC/PUBREL/PUBCOMP (type) for pid with reason code rc. */
int hf_raw_ack(int fd, uint8_t ver, uint8_t type, uint16_t pid, uint8_t rc);
/* Send DISCONNECT (v5 with reason code rc). */
int hf_raw_disconnect(int fd, uint8_t ver, uint8_t rc);
/* Receive the next packet, which must be a PUBLISH. When ack is true, a
 * QoS 1 PUBLISH is answered with PUBACK, a QoS 2 one with PUBREC, and
 * PUBRELs arriving before the PUBLISH are answered with PUBCOMP and
 * skipped. Returns 1, 0 on timeout, -1 on error or another packet type
 * (printed). */
int hf_raw_expect_publish(int fd, uint8_t ver, int timeout_ms, bool ack,
                          struct hf_packet *pkt, uint8_t *buf, size_t cap);
/* Send PINGREQ and expect PINGRESP as the next packet (PUBRELs before it
 * are answered with PUBCOMP and skipped). Returns 1, 0 on timeout, -1
 * otherwise. */
int hf_raw_ping(int fd, int timeout_ms);
/* Read PUBLISHes (acknowledging them) until one arrives on marker_topic.
 * *others counts the PUBLISHes on other topics before it. Returns 1 when
 * the marker came, 0 on timeout, -1 on error or a non-PUBLISH packet. */
int hf_raw_until(int fd, uint8_t ver, const char *marker_topic, int timeout_ms,
                 int *others);
/* Connect (clean) and subscribe to one filter: returns the fd, or -1 when
 * either step fails or the SUBACK is a failure. */
int hf_raw_sub_client(uint16_t port, uint8_t ver, const char *client_id,
                      const char *filter, uint8_t opts);
/* Parse the Subscription Identifiers of a 5.0 PUBLISH body (type_flags =
 * first header byte) by hand, since a PUBLISH may carry several. Stores up
 * to max in ids; returns how many there are, or -1 if the body is bad. */
int hf_raw_pub_sub_ids(uint8_t type_flags, const uint8_t *body, uint32_t len,
                       uint32_t *ids, int max);
/* Compare a decoded byte view with a C string. */
bool hf_bytes_eq(struct hf_bytes b, const char *s);
/* One PUBLISH within 3 s (acknowledged) with exactly this topic and payload,
 * else false and what came instead on stderr; *retain (if not NULL) gets
 * its retain flag. */
bool hf_raw_expect_pub(int fd, uint8_t ver, const char *topic,
                       const char *payload, bool *retain);
/* Packet type name, for messages. */
const char *hf_ptype_name(uint8_t type);

#endif
