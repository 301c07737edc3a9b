/*
 * tools/bench/proto.h - hfbench's own minimal MQTT 3.1.1 / 5.0 wire code.
 *
 * Design: the load tool must not share code with the broker it measures, so
 * it carries its own encoder and decoder, reduced to the packets a load
 * generator needs (CONNECT/CONNACK, PUBLISH and the four QoS acks,
 * SUBSCRIBE/SUBACK, PINGREQ/PINGRESP, DISCONNECT). Encoders append to a
 * caller-owned byte buffer (struct hf_bench_buf) that grows by doubling, so
 * the steady state never allocates. The decoder only splits a byte stream
 * into packets (hf_bench_frame) and pulls out the few fields the tool reads;
 * it checks what it needs to stay memory-safe and to detect a broker that
 * breaks the protocol, not every rule of the specifications.
 *
 * Threading/ownership: pure functions; buffers belong to the caller.
 */
#ifndef HF_BENCH_PROTO_H
#define HF_BENCH_PROTO_H

#include <stddef.h>
#include <stdint.h>

enum {
	HFB_CONNECT = 1,
	HFB_CONNACK = 2,
	HFB_PUBLISH = 3,
	HFB_PUBACK = 4,
	HFB_PUBREC = 5,
	HFB_PUBREL = 6,
	HFB_PUBCOMP = 7,
	HFB_SUBSCRIBE = 8,
	HFB_SUBACK = 9,
	HFB_PINGREQ = 12,
	HFB_PINGRESP = 13,
	HFB_DISCONNECT = 14,
};

/* Bytes at the start of every benchmark payload: u32 publisher id, u64
 * sequence number (from 1), u64 CLOCK_MONOTONIC send time in ns. */
#define HFB_STAMP_LEN 20

struct hf_bench_buf {
	uint8_t *data;
	size_t len; /* bytes used, from data[off] */
	size_t off; /* bytes already consumed at the front */
	size_t cap;
};

void hf_bench_buf_init(struct hf_bench_buf *b, size_t cap);
void hf_bench_buf_free(struct hf_bench_buf *b);
/* Make room for n more bytes at the end; returns the write pointer. */
uint8_t *hf_bench_buf_reserve(struct hf_bench_buf *b, size_t n);
/* Drop n bytes from the front (compacts lazily). */
void hf_bench_buf_consume(struct hf_bench_buf *b, size_t n);

struct hf_bench_connect {
	int version; /* 4 (3.1.1) or 5 */
	const char *client_id;
	int clean;
	uint16_t keepalive;
	uint32_t session_expiry; /* v5 only; 0 = omit */
};

void hf_bench_put_connect(struct hf_bench_buf *b,
                          const struct hf_bench_connect *c);
void hf_bench_put_subscribe(struct hf_bench_buf *b, int version, uint16_t id,
                            const char *filter, int qos);
/* PUBACK, PUBREC, PUBREL, PUBCOMP: 4 bytes in both versions (v5 success
 * with no properties may omit the reason code). */
void hf_bench_put_ack(struct hf_bench_buf *b, int type, uint16_t id);
void hf_bench_put_simple(struct hf_bench_buf *b, int type);

/*
 * A PUBLISH whose only varying parts are the packet id and the stamp: the
 * header is built once (hf_bench_pub_template) and copied per message.
 */
struct hf_bench_pubtpl {
	uint8_t head[300];
	size_t head_len;  /* bytes before the packet id / properties */
	size_t id_off;    /* offset of the packet id, 0 if QoS 0 */
	size_t stamp_off; /* offset of the payload start */
	size_t total;     /* whole packet length */
	size_t payload;   /* payload length */
};

int hf_bench_pub_template(struct hf_bench_pubtpl *t, int version,
                          const char *topic, int qos, size_t payload);
/* Append one PUBLISH; the padding after the stamp is zero. */
void hf_bench_put_publish(struct hf_bench_buf *b,
                          const struct hf_bench_pubtpl *t, uint16_t id,
                          uint32_t pub, uint64_t seq, uint64_t ts);

/*
 * Find one whole packet at p[0..n). Returns its total length, 0 if more
 * bytes are needed, -1 if the fixed header is malformed. *type, *flags and
 * *body and *body_len describe the packet.
 */
long hf_bench_frame(const uint8_t *p, size_t n, int *type, int *flags,
                    const uint8_t **body, size_t *body_len);

struct hf_bench_publish {
	int qos, dup, retain;
	uint16_t id;
	const uint8_t *topic;
	size_t topic_len;
	const uint8_t *payload;
	size_t payload_len;
};

/* Decode a PUBLISH body. Returns 0 or -1 if malformed. */
int hf_bench_get_publish(int version, int flags, const uint8_t *body,
                         size_t len, struct hf_bench_publish *out);

/* CONNACK: return/reason code in *rc, v5 Receive Maximum in *recv_max
 * (65535 when absent). Returns 0 or -1 if malformed. */
int hf_bench_get_connack(int version, const uint8_t *body, size_t len, int *rc,
                         uint16_t *recv_max);

/* PUBACK/PUBREC/PUBREL/PUBCOMP: packet id and reason code (0 if absent). */
int hf_bench_get_ack(const uint8_t *body, size_t len, uint16_t *id, int *rc);

/* SUBACK: packet id and first return/reason code. */
int hf_bench_get_suback(int version, const uint8_t *body, size_t len,
                        uint16_t *id, int *rc);

/* Stamp helpers (host byte order: the tool reads what it wrote). */
void hf_bench_stamp_read(const uint8_t *p, uint32_t *pub, uint64_t *seq,
                         uint64_t *ts);

#endif
