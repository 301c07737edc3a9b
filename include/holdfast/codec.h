/* holdfast/codec.h - the pure MQTT codec: bytes in, structs out, and back.
 *
 * Nothing here does I/O or keeps state between calls. Three steps:
 *
 *   hf_frame_parse()  finds one packet in a byte stream (fixed header and
 *                     Remaining Length), refusing it before any allocation
 *                     when it is larger than the caller's limit;
 *   hf_decode()       turns the body of one packet into a struct hf_packet;
 *   hf_encode()       turns a struct hf_packet into bytes, appended to a
 *                     growable hf_wbuf.
 *
 * Ownership: every struct hf_bytes a decoded packet holds is a *view* into
 * the body passed to hf_decode(). It is valid only while that body is; copy
 * what you keep. Lists (user properties, SUBSCRIBE entries, UNSUBSCRIBE
 * entries) are not copied either: iterate them with the hf_*_next()
 * functions below, which walk the same body again.
 *
 * Validation: hf_decode() checks everything the specifications make a
 * property of the packet alone: reserved flag bits, lengths (Variable Byte
 * Integers in the fewest bytes [MQTT-1.5.5-1]), UTF-8
 * well-formedness and U+0000, properties allowed for the packet type and not
 * duplicated, packet identifier not 0, wildcards in PUBLISH topic names, topic
 * filter syntax in (UN)SUBSCRIBE, QoS 3. What depends on session state (topic
 * aliases, receive maximum, a second CONNECT) is the engine's to check.
 *
 * Thread rules: all functions are reentrant; no global state. */
#ifndef HOLDFAST_CODEC_H
#define HOLDFAST_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "holdfast/mqtt.h"

/* Return values that are not MQTT reason codes. Reason codes (>= 0x80) are
 * returned as positive ints; these are negative. */
#define HF_OK     0
#define HF_AGAIN  (-1) /* need more bytes */
#define HF_ENOMEM (-2)

/* A view of bytes owned by someone else. */
struct hf_bytes {
	const uint8_t *p;
	uint32_t len;
};

/* Growable output buffer. Zero-initialise; free p with free(). */
struct hf_wbuf {
	uint8_t *p;
	size_t len;
	size_t cap;
};

/* Ensure room for n more bytes. Returns HF_OK or HF_ENOMEM. */
int hf_wbuf_reserve(struct hf_wbuf *b, size_t n);
/* Append n bytes. Returns HF_OK or HF_ENOMEM. */
int hf_wbuf_put(struct hf_wbuf *b, const void *data, size_t n);
void hf_wbuf_free(struct hf_wbuf *b);

/* Presence bits of struct hf_props fields (one per property id). */
#define HF_PP_PAYLOAD_FORMAT     (1u << 0)
#define HF_PP_MESSAGE_EXPIRY     (1u << 1)
#define HF_PP_CONTENT_TYPE       (1u << 2)
#define HF_PP_RESPONSE_TOPIC     (1u << 3)
#define HF_PP_CORRELATION_DATA   (1u << 4)
#define HF_PP_SUBSCRIPTION_ID    (1u << 5)
#define HF_PP_SESSION_EXPIRY     (1u << 6)
#define HF_PP_ASSIGNED_CLIENT_ID (1u << 7)
#define HF_PP_SERVER_KEEP_ALIVE  (1u << 8)
#define HF_PP_AUTH_METHOD        (1u << 9)
#define HF_PP_AUTH_DATA          (1u << 10)
#define HF_PP_REQUEST_PROBLEM    (1u << 11)
#define HF_PP_WILL_DELAY         (1u << 12)
#define HF_PP_REQUEST_RESPONSE   (1u << 13)
#define HF_PP_RESPONSE_INFO      (1u << 14)
#define HF_PP_SERVER_REFERENCE   (1u << 15)
#define HF_PP_REASON_STRING      (1u << 16)
#define HF_PP_RECEIVE_MAX        (1u << 17)
#define HF_PP_TOPIC_ALIAS_MAX    (1u << 18)
#define HF_PP_TOPIC_ALIAS        (1u << 19)
#define HF_PP_MAXIMUM_QOS        (1u << 20)
#define HF_PP_RETAIN_AVAILABLE   (1u << 21)
#define HF_PP_MAX_PACKET_SIZE    (1u << 22)
#define HF_PP_WILDCARD_SUB_AVAIL (1u << 23)
#define HF_PP_SUB_ID_AVAIL       (1u << 24)
#define HF_PP_SHARED_SUB_AVAIL   (1u << 25)
#define HF_PP_USER_PROPERTY      (1u << 26)

/* MQTT 5.0 properties of one packet. Only fields whose HF_PP_* bit is set in
 * `present` are meaningful.
 *
 * User properties keep their order. On decode, `user` is the whole property
 * block (a view) and `n_user` the number of user properties in it: walk them
 * with hf_props_user_next(). On encode, `user` must instead hold user
 * properties already in wire form, each as [0x26][len][key][len][value]
 * (hf_props_user_copy() builds that from a decoded packet), and is written
 * verbatim; n_user is ignored.
 *
 * Subscription identifiers: on decode `sub_id` holds the one identifier a
 * SUBSCRIBE may carry (for a PUBLISH, the first; n_sub_ids counts them all,
 * sub_ids is NULL: walk them with hf_props_sub_id_next()). On encode
 * (PUBLISH to a subscriber) `sub_ids` points at n_sub_ids identifiers, each
 * written as its own property; `sub_id` is then ignored. With sub_ids NULL,
 * sub_id is written once when HF_PP_SUBSCRIPTION_ID is present. */
struct hf_props {
	uint32_t present;
	uint8_t payload_format;
	uint8_t request_problem;
	uint8_t request_response;
	uint8_t maximum_qos;
	uint8_t retain_available;
	uint8_t wildcard_sub_avail;
	uint8_t sub_id_avail;
	uint8_t shared_sub_avail;
	uint16_t server_keep_alive;
	uint16_t receive_max;
	uint16_t topic_alias_max;
	uint16_t topic_alias;
	uint32_t message_expiry;
	uint32_t session_expiry;
	uint32_t will_delay;
	uint32_t max_packet_size;
	uint32_t sub_id;
	const uint32_t *sub_ids;
	uint32_t n_sub_ids;
	struct hf_bytes content_type;
	struct hf_bytes response_topic;
	struct hf_bytes correlation_data;
	struct hf_bytes assigned_client_id;
	struct hf_bytes auth_method;
	struct hf_bytes auth_data;
	struct hf_bytes response_info;
	struct hf_bytes server_reference;
	struct hf_bytes reason_string;
	struct hf_bytes user;
	uint32_t n_user;
};

/* Iterate decoded user properties. *off starts at 0. Returns true and fills
 * key/val for the next user property, false at the end. */
bool hf_props_user_next(const struct hf_props *pr, uint32_t *off,
                        struct hf_bytes *key, struct hf_bytes *val);
/* Length in bytes of the wire form of pr's decoded user properties. */
size_t hf_props_user_wire_len(const struct hf_props *pr);
/* Write that wire form to out (hf_props_user_wire_len() bytes). */
void hf_props_user_copy(const struct hf_props *pr, uint8_t *out);
/* Iterate the subscription identifiers of decoded properties (a PUBLISH from
 * a server may carry several; n_sub_ids counts them, sub_id is the first).
 * *off starts at 0. Returns true and fills *id for the next one. */
bool hf_props_sub_id_next(const struct hf_props *pr, uint32_t *off,
                          uint32_t *id);

struct hf_connect {
	uint8_t proto_ver; /* HF_PROTO_V31, V311 or V5 */
	/* The protocol level's top bit (0x80, v3.1 and v3.1.1 only): the
	 * client is a bridge (mosquitto's try_private), which wants no echo
	 * of its own messages and retain flags as published. Encode sets the
	 * bit when true. */
	bool bridge;
	bool clean_start;
	bool will;
	uint8_t will_qos;
	bool will_retain;
	bool has_username;
	bool has_password;
	uint16_t keepalive;
	struct hf_props props;
	struct hf_bytes client_id;
	struct hf_props will_props;
	struct hf_bytes will_topic;
	struct hf_bytes will_payload;
	struct hf_bytes username;
	struct hf_bytes password;
};

struct hf_connack {
	bool session_present;
	uint8_t rc; /* v3.1.1 return code or v5 reason code */
	struct hf_props props;
};

struct hf_publish {
	uint8_t qos;
	bool dup;
	bool retain;
	uint16_t pid; /* 0 for QoS 0 */
	struct hf_bytes
	    topic; /* may be empty in v5 when a topic alias is set */
	struct hf_props props;
	struct hf_bytes payload;
};

/* PUBACK, PUBREC, PUBREL, PUBCOMP; also DISCONNECT and AUTH (pid unused).
 * On decode rc is 0 when the packet omits it. On encode (v5) the reason code
 * and properties are omitted when rc is 0 and there are no properties, as
 * the specification allows. */
struct hf_ack {
	uint16_t pid;
	uint8_t rc;
	struct hf_props props;
};

/* SUBSCRIBE / UNSUBSCRIBE: `entries` is a view of the entry list, iterated
 * with hf_sub_next() / hf_unsub_next(); `n` entries, at least one. On encode
 * `entries` is written verbatim (wire form: [len][filter][options] per
 * SUBSCRIBE entry, [len][filter] per UNSUBSCRIBE entry) and n is ignored. */
struct hf_subscribe {
	uint16_t pid;
	struct hf_props props;
	struct hf_bytes entries;
	uint32_t n;
};

/* SUBACK / UNSUBACK: one reason code per entry. UNSUBACK in v3.1.1 carries
 * none (rcs ignored). */
struct hf_suback {
	uint16_t pid;
	struct hf_props props;
	const uint8_t *rcs;
	uint32_t n;
};

struct hf_packet {
	uint8_t type;  /* enum hf_ptype */
	uint8_t flags; /* low nibble of the fixed header */
	union {
		struct hf_connect connect;
		struct hf_connack connack;
		struct hf_publish publish;
		struct hf_ack ack; /* PUBACK..PUBCOMP, DISCONNECT, AUTH */
		struct hf_subscribe subscribe; /* SUBSCRIBE, UNSUBSCRIBE */
		struct hf_suback suback;       /* SUBACK, UNSUBACK */
	} u;
};

/* One framed packet found in a stream. */
struct hf_frame {
	uint8_t type_flags; /* first byte */
	uint32_t hdr_len;   /* 2..5: fixed header bytes */
	uint32_t body_len;  /* Remaining Length */
};

/* Find a packet at the start of buf[0..len).
 * @param[in] max_size  largest whole packet (header + body) accepted; 0 means
 *                      no limit other than the protocol's.
 * @return HF_OK with *f filled when the fixed header is complete (the body
 *         may still be incomplete: the caller checks hdr_len + body_len
 *         against what it has); HF_AGAIN when the fixed header itself is
 *         incomplete; HF_RC_MALFORMED for a Remaining Length longer than four
 *         bytes or than needed (over-long, e.g. 0x80 0x00 for 0: refused
 *         in every version, see frame.c); HF_RC_PACKET_TOO_LARGE
 *         when hdr_len + body_len exceeds max_size. Packet type 0 is reported
 *         as HF_RC_MALFORMED. */
int hf_frame_parse(const uint8_t *buf, size_t len, uint32_t max_size,
                   struct hf_frame *f);

/* Decode one packet body.
 * @param[in] type_flags  the fixed header's first byte
 * @param[in] body        the Remaining Length bytes; views in *out point here
 * @param[in] proto_ver   the connection's protocol level (ignored for
 *                        CONNECT, which carries its own)
 * @param[out] out        filled on success
 * @return HF_OK; or an MQTT 5 reason code saying why the packet is refused:
 *         HF_RC_MALFORMED (bad lengths, bad UTF-8, reserved bits, duplicate
 *         or misplaced properties), HF_RC_PROTOCOL_ERROR (e.g. packet id 0,
 *         QoS 3, flags the spec defines as protocol errors),
 *         HF_RC_TOPIC_NAME_INVALID (wildcards in a PUBLISH topic),
 *         HF_RC_TOPIC_FILTER_INVALID, HF_RC_UNSUPPORTED_PROTOCOL (CONNECT with
 *         an unknown name or level; out->u.connect.proto_ver is then set to
 *         the level seen when the name was recognised, so the caller can pick
 *         the CONNACK form), HF_RC_PAYLOAD_FORMAT_INVALID (payload format
 *         indicator 1 with a payload that is not UTF-8, for PUBLISH and will
 *         payloads). Never allocates. */
int hf_decode(uint8_t type_flags, const uint8_t *body, uint32_t len,
              uint8_t proto_ver, struct hf_packet *out);

/* Iterate SUBSCRIBE entries: *off starts at 0. Returns true with the filter
 * and options byte of the next entry, false at the end. */
bool hf_sub_next(const struct hf_subscribe *s, uint32_t *off,
                 struct hf_bytes *filter, uint8_t *opts);
/* Iterate UNSUBSCRIBE entries the same way. */
bool hf_unsub_next(const struct hf_subscribe *s, uint32_t *off,
                   struct hf_bytes *filter);

/* Encode a packet for a peer speaking proto_ver, appending to out.
 * Properties are written only for HF_PROTO_V5. type/flags come from pkt
 * (for PUBLISH the flags are computed from qos/dup/retain; for PUBREL,
 * SUBSCRIBE, UNSUBSCRIBE the required 0x2 is used).
 * @return HF_OK or HF_ENOMEM (out unchanged on failure); HF_RC_MALFORMED
 *         when a field cannot be represented (a string or binary over 65535
 *         bytes), HF_RC_PACKET_TOO_LARGE when the body would exceed
 *         HF_MAX_VARINT. */
int hf_encode(const struct hf_packet *pkt, uint8_t proto_ver,
              struct hf_wbuf *out);

/* Size the encoded packet would have (header included), without writing;
 * 0 when hf_encode() would refuse it. */
size_t hf_encode_size(const struct hf_packet *pkt, uint8_t proto_ver);

/* Validation helpers used by the decoder and by the engine. */
/* Well-formed UTF-8 per RFC 3629, no U+0000, no surrogates. Control
 * characters and non-characters are accepted (the spec says SHOULD NOT). */
bool hf_utf8_valid(const uint8_t *s, size_t len);
/* A topic name for PUBLISH: at least one byte, no '+' or '#'. */
bool hf_topic_name_valid(const uint8_t *s, size_t len);
/* A topic filter: at least one byte, '+' alone in its level, '#' alone in
 * the last level. For "$share/GROUP/FILTER" the group must be non-empty and
 * hold no '+', '#' or '/', and FILTER must be a valid filter. */
bool hf_topic_filter_valid(const uint8_t *s, size_t len);
/* Levels of a topic name or filter: one more than its '/' characters ("" and
 * "a" have 1, "/" and "a/b" 2). A "$share/GROUP/" prefix is counted too;
 * strip it first to count the levels of the filter itself. */
uint32_t hf_topic_levels(const uint8_t *s, size_t len);

/* Variable byte integer helpers. */
/* Bytes needed to encode v (1..4). */
unsigned hf_varint_size(uint32_t v);
/* Write v to out (hf_varint_size(v) bytes); returns bytes written. */
unsigned hf_varint_write(uint32_t v, uint8_t *out);

#endif
