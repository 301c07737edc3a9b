/* persistence/mosq_import.h - read a mosquitto 2.0 persistence file
 * (mosquitto.db, format version 6) and write what it holds into a Holdfast
 * store.
 *
 * Two steps so that the parser can be fuzzed and tested without a store:
 * hf_mq_parse() reads the whole file from memory into arrays of views (every
 * pointer points into the caller's buffer, which must outlive the result)
 * and checks every length, range and cross-reference; hf_mq_import() writes
 * the parsed records through include/holdfast/store.h in the open
 * transaction of the store (the caller commits). Every error names the
 * file offset of the chunk (or field) that is wrong and what is wrong.
 *
 * The file layout, as mosquitto 2.0.x writes it (learned from its
 * persist.h and from files written by Debian's mosquitto 2.0.11): a 15-byte
 * magic, a u32 CRC (unused, 0), a u32 format version, then chunks of
 * {u32 type, u32 length, body}. 16- and 32-bit fields are big-endian; the
 * 64-bit ones (message ids, expiry times, the last id) are written in the
 * host's byte order, which we read as little-endian (x86, ARM): a file
 * from a big-endian host is refused by the CFG chunk's id size check only
 * by chance, so persistence/README.md states the assumption.
 *
 * Threading: pure functions, no global state. */
#ifndef HF_MOSQ_IMPORT_H
#define HF_MOSQ_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "holdfast/store.h"

struct hf_mq_msg {        /* DB_CHUNK_MSG_STORE */
	size_t off;       /* of its chunk header */
	uint64_t id;      /* mosquitto's store id */
	int64_t expiry_s; /* wall-clock seconds, 0 = never */
	uint8_t qos;
	bool retain;
	const uint8_t *topic, *payload;
	uint16_t topic_len;
	uint32_t payload_len;
	/* MQTT 5 properties kept by Holdfast (the engine's blob). */
	bool has_pf;
	uint8_t pf;
	const uint8_t *ctype, *rtopic, *corr, *user;
	uint16_t ctype_len, rtopic_len, corr_len;
	uint32_t user_len, n_user; /* user properties, wire encoded */
	/* Filled by the import. */
	uint32_t refs;
	uint64_t new_id;
};

struct hf_mq_client { /* DB_CHUNK_CLIENT */
	size_t off;
	const uint8_t *id, *username;
	uint16_t id_len, username_len;
	int64_t expiry_time_s; /* when the session expires, 0 = not set */
	uint32_t expiry_interval;
	uint16_t listener_port;
	bool v5; /* something in the file needs MQTT 5 */
};

struct hf_mq_cmsg { /* DB_CHUNK_CLIENT_MSG */
	size_t off;
	uint64_t store_id;
	uint16_t mid;
	const uint8_t *cid;
	uint16_t cid_len;
	uint8_t qos, state, direction;
	bool retain;
	uint32_t subid; /* 0 = none */
};

struct hf_mq_sub { /* DB_CHUNK_SUB */
	size_t off;
	const uint8_t *cid, *topic;
	uint16_t cid_len, topic_len;
	uint32_t identifier;
	uint8_t qos, options;
};

struct hf_mq_retain {
	size_t off;
	uint64_t store_id;
};

struct hf_mq_db {
	struct hf_mq_msg *msgs;
	struct hf_mq_client *clients;
	struct hf_mq_cmsg *cmsgs;
	struct hf_mq_sub *subs;
	struct hf_mq_retain *retains;
	size_t n_msgs, n_clients, n_cmsgs, n_subs, n_retains;
	uint64_t last_db_id;
};

/* What hf_mq_import() did and what it left out. */
struct hf_mq_report {
	uint64_t sessions, subs, msgs, queued, retained;
	uint64_t skipped_inbound; /* inbound QoS 2 not yet released */
	uint64_t skipped_subs;    /* of clients without a session */
	uint64_t skipped_cmsgs;   /* for clients without a session */
	uint64_t skipped_unused;  /* bodies nothing names */
};

/* Parse and validate buf[0..len). On success *db holds views into buf
 * (free with hf_mq_free). Returns 0, or -1 with err = "offset N: what"
 * (also when out of memory). */
int hf_mq_parse(const uint8_t *buf, size_t len, struct hf_mq_db *db, char *err,
                size_t errlen);
void hf_mq_free(struct hf_mq_db *db);

/* Write db into st (in its open transaction; the caller commits or
 * aborts). Session and message ids start after sid_base and mid_base (the
 * store's highest ids). now_ms is the import's wall-clock time (the
 * disconnect time of a session whose file does not give one). Returns 0,
 * or -1 with err filled (a store error, or a client id or retained topic
 * that exists[] says is already there). exists may be NULL; it returns
 * true when a client id (kind 0) or retained topic (kind 1) is taken. */
int hf_mq_import(struct hf_store *st, struct hf_mq_db *db, uint64_t sid_base,
                 uint64_t mid_base, int64_t now_ms,
                 bool (*exists)(void *ctx, int kind, const uint8_t *p,
                                size_t n),
                 void *ctx, struct hf_mq_report *rep, char *err, size_t errlen);

#endif
