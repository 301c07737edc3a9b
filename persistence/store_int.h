/* persistence/store_int.h - internals shared by the store's own files.
 *
 * The on-disk record encodings (records.c) and a testing hook of the LMDB
 * store (store_lmdb.c). Nothing outside persistence/ and its unit test
 * includes this. Every integer on disk is big-endian so that LMDB's
 * bytewise key order is numeric order; the byte layouts are documented in
 * persistence/README.md and must change only together with
 * HF_STORE_FORMAT_VERSION.
 *
 * Decoders treat their input as untrusted (it comes from disk): they check
 * every length against the bytes present and return -1 rather than read
 * past the end. Decoded pointers point into the input buffer.
 *
 * Threading: pure functions, no state. */
#ifndef HF_STORE_INT_H
#define HF_STORE_INT_H

#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "holdfast/bytes.h"
#include "holdfast/store.h"

/* 2: session records carry the username, certificate CN and listener
 * port; 3: queue entries end with the time they were queued. An older
 * store is migrated when opened for writing. */
#define HF_STORE_FORMAT_VERSION 3u
#define HF_STORE_MAGIC          "holdfast-store"

/* The named databases, in the order of the store's handle array. */
enum hf_db {
	HF_DB_META,
	HF_DB_SESSIONS,
	HF_DB_SUBS,
	HF_DB_MSGS,
	HF_DB_MREFS,
	HF_DB_QUEUE,
	HF_DB_QOS2,
	HF_DB_RETAINED,
	HF_DB_COUNT
};

/* How many consecutive hash slots a filter may use in one session. */
#define HF_SUB_PROBES 16

/* Fixed part of each value, in bytes (see README.md). */
#define HF_REC_SESSION_HDR 35u
#define HF_REC_SUB_HDR     7u
#define HF_REC_MSG_HDR     20u
#define HF_REC_QENTRY_HDR  19u

/* 64-bit FNV-1a of a filter: the subscription key's hash part. */
uint64_t hf_rec_hash(const uint8_t *p, size_t n);

/* Encoders return a malloc'd value (caller frees) and its length, or NULL
 * when out of memory. */
uint8_t *hf_rec_session_enc(const struct hf_store_session *s, size_t *len);
uint8_t *hf_rec_sub_enc(const struct hf_store_sub *s, size_t *len);
uint8_t *hf_rec_msg_enc(const struct hf_store_msg *m, size_t *len);
uint8_t *hf_rec_qentry_enc(const struct hf_store_qentry *e, size_t *len);

/* Decoders fill *out (the key parts come from the caller) and return 0, or
 * -1 when the bytes are not a valid record. */
int hf_rec_session_dec(const uint8_t *p, size_t n, uint64_t sid,
                       unsigned version, struct hf_store_session *out);
int hf_rec_sub_dec(const uint8_t *p, size_t n, uint64_t sid,
                   struct hf_store_sub *out);
int hf_rec_msg_dec(const uint8_t *p, size_t n, uint64_t id,
                   struct hf_store_msg *out);
/* out->subids is left NULL; *raw_subids gets the n_subids big-endian u32
 * on disk, to be converted with hf_rec_subids(). */
int hf_rec_qentry_dec(const uint8_t *p, size_t n, uint64_t sid, uint64_t seq,
                      unsigned version, struct hf_store_qentry *out,
                      const uint8_t **raw_subids);
void hf_rec_subids(const uint8_t *raw, uint16_t n, uint32_t *out);

/* For check.c, which reads the databases directly. Begin a read the way
 * every read function does (the open write transaction when there is one,
 * else the cached read-only one; writes are refused until the matching
 * hf_store_int_read_end()), and give the database handles (dbi gets
 * HF_DB_COUNT entries). Returns 0, HF_STORE_EIO or HF_STORE_ENOMEM with
 * the error message set. */
int hf_store_int_read_begin(struct hf_store *st, MDB_txn **txn, MDB_dbi *dbi);
void hf_store_int_read_end(struct hf_store *st, MDB_txn *txn);
/* The format version of the open store's records (HF_STORE_FORMAT_VERSION,
 * or an older one a read-only handle found). */
unsigned hf_store_int_version(const struct hf_store *st);
/* The mask applied to filter hashes (all ones unless the test hook below
 * changed it). */
uint64_t hf_store_int_hash_mask(const struct hf_store *st);
/* Set the error message for an LMDB failure rc met while doing `what`;
 * returns HF_STORE_ECORRUPT for LMDB's damage codes, HF_STORE_ENOMEM or
 * HF_STORE_EIO otherwise. */
int hf_store_int_fail(struct hf_store *st, const char *what, int rc);

/* Testing only: keep the low `bits` bits of the filter hash (64 = all), so
 * a test can force subscription key collisions. */
void hf_store_test_hash_bits(struct hf_store *st, unsigned bits);

#endif
