/* holdfast/store.h - the durable store: records in, records out.
 *
 * The store knows sessions, subscriptions, message bodies, per-session
 * queue entries, inbound QoS 2 packet ids and retained-message markers. It
 * does not know MQTT packets: message properties are an opaque blob the
 * engine encodes, and nothing here includes codec.h.
 *
 * Transactions: writes made between two hf_store_commit() calls form one
 * transaction (group commit). The first write after a commit begins it;
 * hf_store_commit() makes everything since the last commit durable at the
 * configured sync level, in one go. Reads made while a transaction is open
 * see its writes. If the map fills up mid-transaction, the store grows the
 * map and replays the transaction by itself (up to max_map_size); the caller
 * never sees MDB_MAP_FULL, only HF_STORE_EFULL when the configured maximum
 * is reached, after which the open transaction is aborted (everything since
 * the last commit is lost, so the caller must not have acknowledged any of
 * it: acknowledgments are released only after hf_store_commit() returns 0).
 *
 * Keys: client ids, filters and topics can be 65535 bytes, LMDB keys at most
 * 511. Sessions are keyed by a 64-bit session id (the client id is in the
 * value) and subscriptions by (session id, 64-bit hash of the filter) with
 * the filter in the value and collisions probed; messages by a 64-bit id.
 * The layout is versioned and documented in persistence/README.md.
 *
 * Ownership: every pointer in a record passed to a write function is
 * borrowed for the call (the store copies). Every pointer in a record
 * passed to a read callback is owned by the store and valid only during the
 * callback. Thread rules: one thread (the loop) uses a store; with a writer
 * thread (hf_store_start_writer) the store runs a thread of its own that
 * applies and commits the batches the loop hands it, and nothing else
 * touches LMDB while it works. */
#ifndef HOLDFAST_STORE_H
#define HOLDFAST_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Errors (negative; 0 is success). Their values are the store's own, apart
 * from the codec's (holdfast/codec.h: HF_AGAIN, HF_ENOMEM) and from MQTT
 * reason codes, so a code never means two things. */
#define HF_STORE_EIO (-101) /* LMDB or file-system error; see errmsg */
#define HF_STORE_EFULL                                                         \
	(-102)                    /* max_map_size reached, or the disk is      \
	                           full (ENOSPC, EDQUOT) */
#define HF_STORE_ECORRUPT  (-103) /* damaged or foreign store, or bad record */
#define HF_STORE_EVERSION  (-104) /* written by an incompatible version */
#define HF_STORE_ENOMEM    (-105)
#define HF_STORE_ENOTFOUND (-106)
/* Another process has the store open for writing (one broker per store:
 * see hf_store_open). */
#define HF_STORE_EBUSY (-108)
/* A write met records that disagree with it (a reference change on a
 * message that is not stored, a count that would go below zero, a damaged
 * record it had to delete, a subscription whose hash slots are all taken).
 * The transaction is intact: the write's other effects are applied and
 * will be committed; errmsg names the records. Only writes return it. */
#define HF_STORE_EINCONSISTENT (-107)

enum hf_store_sync {
	HF_SYNC_FULL = 0, /* fsync on every commit: survives power loss */
	HF_SYNC_OS = 1,   /* no fsync: survives a broker crash (the data is in
	                     the OS page cache), not a power cut */
};

struct hf_store_conf {
	const char *dir;  /* persistence_location; created if missing */
	const char *file; /* persistence_file, inside dir */
	enum hf_store_sync sync;
	uint64_t initial_map_size; /* bytes; rounded to the page size */
	uint64_t max_map_size;     /* bytes; the map grows up to this */
	bool read_only;            /* for the inspection tool */
};

struct hf_store;

/* A session. client_id is not NUL-terminated. */
struct hf_store_session {
	uint64_t sid;
	const uint8_t *client_id;
	uint16_t client_id_len;
	uint8_t proto;   /* protocol level */
	uint32_t expiry; /* session expiry interval, s; UINT32_MAX = never */
	int64_t disconnected_at; /* wall-clock ms; 0 = was connected */
	uint64_t will_msg;       /* message id of the will, 0 = none */
	uint32_t will_delay;     /* s */
	int64_t will_at; /* wall-clock ms when an armed will is due; 0 = none */
	/* Who the session is checked as (include/holdfast/auth.h), also
	 * while offline and after a restart (format version 2): the
	 * username and the TLS certificate's common name its last CONNECT
	 * gave (not NUL-terminated; absent when has_* is false, which is not
	 * the same as empty), and the port of the listener it came through. */
	bool has_username;
	bool has_cert_cn;
	uint16_t listener_port;
	const uint8_t *username;
	uint16_t username_len;
	const uint8_t *cert_cn;
	uint16_t cert_cn_len;
};

struct hf_store_sub {
	uint64_t sid;
	const uint8_t *filter; /* may start with $share/ */
	uint16_t filter_len;
	uint8_t opts;
	uint32_t sub_id;
};

/* A message body. props is opaque to the store. */
struct hf_store_msg {
	uint64_t id;
	uint8_t qos;
	bool retain;
	int64_t expiry_at; /* wall-clock ms; 0 = never */
	const uint8_t *topic;
	uint16_t topic_len;
	const uint8_t *payload;
	uint32_t payload_len;
	const uint8_t *props;
	uint32_t props_len;
};

/* One entry of a session's outgoing queue, ordered by seq. */
struct hf_store_qentry {
	uint64_t sid;
	uint64_t seq;
	uint64_t msg_id;
	uint32_t payload_len; /* copied from the message, for byte limits */
	uint8_t qos;
	uint8_t state; /* 0 queued, 1 PUBLISH sent, 2 PUBREL sent */
	bool retain;
	uint16_t pid; /* 0 until sent */
	uint16_t n_subids;
	const uint32_t *subids;
	/* Wall-clock ms when the entry was first written (format 3). A write
	 * keeps the stored entry's value when there is one, else stores this
	 * one, the current time when this is 0 (the engine leaves it 0), or
	 * 0 when it is HF_STORE_QUEUED_UNKNOWN (an import that does not know
	 * it). Read back as 0 when unknown (also for entries that predate
	 * format 3). */
	int64_t queued_at;
};
#define HF_STORE_QUEUED_UNKNOWN (-1)

/* Open (creating when missing) and validate the store.
 * @param[out] st   the store, on success
 * @param[out] err  a message naming the file and the way out, on failure
 * One writer per store: a writable open takes an exclusive lock
 * (flock) on "<dir>/<file>.owner" and writes its pid there; while another
 * process holds it the open fails with HF_STORE_EBUSY, err naming the
 * store and that pid. The kernel drops the lock when the holder exits,
 * however it exits (kill -9 included), so a stale file never blocks a
 * start. A read-only open (the inspection tool) takes no lock: LMDB lets
 * readers in beside the writer.
 *
 * @return 0, HF_STORE_EIO, HF_STORE_ECORRUPT, HF_STORE_EVERSION,
 *         HF_STORE_EBUSY or HF_STORE_ENOMEM. */
int hf_store_open(struct hf_store **st, const struct hf_store_conf *conf,
                  char *err, size_t errlen);
/* Abort any open transaction and close. */
void hf_store_close(struct hf_store *st);
/* Rename the store file (and its lock file) aside to
 * "<file>.damaged-<unix time>" so a new one can be created. Returns 0 or
 * HF_STORE_EIO with err filled. */
int hf_store_move_aside(const struct hf_store_conf *conf, char *err,
                        size_t errlen);

/* Commit the open transaction (no-op when none). Returns 0, HF_STORE_EIO or
 * HF_STORE_EFULL (then nothing since the last commit is stored). */
int hf_store_commit(struct hf_store *st);
/* Drop the open transaction (nothing since the last commit is stored).
 * With a writer thread: waits for the batch it is committing (which stays
 * committed if it succeeds) and drops what is logged since, and any
 * result not yet reaped. */
void hf_store_abort(struct hf_store *st);

/* Writer thread: overlap the fsync with the loop's next turns.
 *
 * From hf_store_start_writer() on, writes are only logged (they return 0
 * or HF_STORE_ENOMEM; soft failures and map growth happen at commit).
 * hf_store_submit() hands everything logged since the last hand-over to
 * the store's writer thread, which applies it in one write transaction
 * and commits it (synced as configured) while the caller goes on logging
 * the next batch; at most one batch is in flight. When it is done the
 * thread calls notify(arg) (from that thread: it must only wake the
 * caller's loop), and the caller takes the result with hf_store_reap().
 * Batches are numbered 1, 2, ... in hand-over order (hf_store_gen() is the
 * last one handed over); a batch is durable once reaped with rc 0.
 *
 * Everything else stays synchronous: hf_store_commit() waits for the batch
 * in flight, then commits what is logged and waits for that too; every
 * read first does the same (so a read sees every write logged before it),
 * except hf_store_stats() and hf_store_usage(), which wait only for the
 * batch in flight and report committed data. Returns 0, or an error with
 * errmsg set (the store stays without a writer). */
int hf_store_start_writer(struct hf_store *st, void (*notify)(void *arg),
                          void *arg);
/* Wait for the batch in flight and end the thread; writes are applied at
 * once again (what is logged and not handed over is then applied by the
 * next hf_store_commit: call it first). No-op without a writer. */
void hf_store_stop_writer(struct hf_store *st);
/* Hand what is logged to the writer thread. Returns 0 (handed over, or
 * nothing logged), HF_STORE_EBUSY while a batch is in flight (nothing
 * handed over: try again once it is reaped). Without a writer thread it
 * is hf_store_commit(). */
int hf_store_submit(struct hf_store *st);
/* A batch is in flight. */
bool hf_store_busy(struct hf_store *st);
/* What the writer finished since the last reap (also batches a
 * synchronous commit or read waited for). */
struct hf_store_batch {
	uint64_t batches;     /* committed (or failed) since the last reap */
	double seconds;       /* their apply + commit time, summed */
	unsigned soft;        /* writes that met soft failures (errmsg: last) */
	int rc;               /* first failure (errmsg set), or 0 */
	uint64_t durable_gen; /* every batch up to this one is done */
	bool in_flight;       /* a batch is still being committed */
};
/* Returns true when something finished (or failed) since the last reap. */
bool hf_store_reap(struct hf_store *st, struct hf_store_batch *out);
/* The number of the last batch handed over (what is logged now goes with
 * the next one). */
uint64_t hf_store_gen(const struct hf_store *st);
/* With a writer thread, reads commit what is logged first (see above).
 * A caller that knows the records it is about to read are not among its
 * logged writes (a queue's older entries) may say so: until called again
 * with true, reads wait for the batch in flight and read committed data,
 * without committing the log. */
void hf_store_read_pending(struct hf_store *st, bool see_pending);
/* Number of write operations in the open transaction. */
size_t hf_store_pending(const struct hf_store *st);
/* Last error text (for logs). */
const char *hf_store_errmsg(const struct hf_store *st);

/* Writes. All return 0, HF_STORE_EINCONSISTENT (the transaction stands),
 * or HF_STORE_EFULL, HF_STORE_EIO or HF_STORE_ENOMEM: then the open
 * transaction is gone (nothing since the last commit will be stored) and
 * the next write begins a new one. */
int hf_store_session_put(struct hf_store *st, const struct hf_store_session *s);
/* Delete a session with its subscriptions, queue entries (releasing their
 * message references), inbound QoS 2 ids, and its will reference. */
int hf_store_session_del(struct hf_store *st, uint64_t sid);
int hf_store_sub_put(struct hf_store *st, const struct hf_store_sub *s);
int hf_store_sub_del(struct hf_store *st, uint64_t sid, const uint8_t *filter,
                     uint16_t len);
/* Store a body with reference count `refs` (> 0). */
int hf_store_msg_put(struct hf_store *st, const struct hf_store_msg *m,
                     uint32_t refs);
/* Add delta to a body's reference count; at 0 the body is deleted. */
int hf_store_msg_ref(struct hf_store *st, uint64_t msg_id, int32_t delta);
/* Add or overwrite (same sid+seq) a queue entry. Does not touch message
 * reference counts: the caller counts one reference per entry. */
int hf_store_queue_put(struct hf_store *st, const struct hf_store_qentry *e);
/* Delete a queue entry and release its message reference. */
int hf_store_queue_del(struct hf_store *st, uint64_t sid, uint64_t seq);
int hf_store_qos2_put(struct hf_store *st, uint64_t sid, uint16_t pid);
int hf_store_qos2_del(struct hf_store *st, uint64_t sid, uint16_t pid);
/* Mark a message as the retained message of its topic (the caller holds
 * one reference for it) or remove the mark (releasing that reference). */
int hf_store_retain_put(struct hf_store *st, uint64_t msg_id);
int hf_store_retain_del(struct hf_store *st, uint64_t msg_id);

/* Reads. Callbacks return 0 to continue, non-zero to stop (that value is
 * returned). Functions return 0, HF_STORE_EIO or HF_STORE_ECORRUPT. */
int hf_store_sessions_each(struct hf_store *st,
                           int (*cb)(void *ctx,
                                     const struct hf_store_session *s),
                           void *ctx);
int hf_store_subs_each(struct hf_store *st,
                       int (*cb)(void *ctx, const struct hf_store_sub *s),
                       void *ctx);
int hf_store_qos2_each(struct hf_store *st,
                       int (*cb)(void *ctx, uint64_t sid, uint16_t pid),
                       void *ctx);
int hf_store_retained_each(struct hf_store *st,
                           int (*cb)(void *ctx, const struct hf_store_msg *m),
                           void *ctx);
/* Queue entries of sid with seq >= from, in seq order, at most max. */
int hf_store_queue_each(struct hf_store *st, uint64_t sid, uint64_t from,
                        size_t max,
                        int (*cb)(void *ctx, const struct hf_store_qentry *e),
                        void *ctx);
/* Count and payload bytes of sid's queue; *last_seq = highest seq or 0. */
int hf_store_queue_stat(struct hf_store *st, uint64_t sid, uint64_t *count,
                        uint64_t *bytes, uint64_t *last_seq);
/* Read one body. Returns 0 (cb called), HF_STORE_ENOTFOUND, EIO, ECORRUPT. */
int hf_store_msg_get(struct hf_store *st, uint64_t msg_id,
                     void (*cb)(void *ctx, const struct hf_store_msg *m),
                     void *ctx);
/* Highest session id and message id in use (0 when none). */
int hf_store_max_ids(struct hf_store *st, uint64_t *max_sid,
                     uint64_t *max_msg_id);

struct hf_store_stats {
	uint64_t map_size;   /* current map size, bytes */
	uint64_t used_bytes; /* pages in use × page size */
	uint64_t max_map_size;
	uint64_t sessions, subs, msgs, queue_entries, retained, qos2;
	uint64_t commits, grows;
};
int hf_store_stats(struct hf_store *st, struct hf_store_stats *out);
/* Unmap the pages of the store file this process has read through LMDB's
 * memory map (they stay in the page cache; nothing is lost or written).
 * Keeps the resident set to the broker's own memory however large the
 * store. Never call it from inside a read callback. */
void hf_store_release_pages(struct hf_store *st);
/* Bytes in use (pages not free for reuse) and the maximum: the configured
 * one, or, while the disk is full, the space the file already holds (the
 * store reserves disk space ahead of use and retries once a second, so the
 * maximum comes back when space does). Cheap (no table walk) while far
 * from the maximum. Returns 0 or HF_STORE_EIO. */
int hf_store_usage(struct hf_store *st, uint64_t *used, uint64_t *max);

/* Records hf_store_check() walked, per database. */
struct hf_store_check_counts {
	uint64_t sessions, subs, msgs, queue_entries, qos2, retained;
};

/* Verify every invariant of the store (persistence/README.md,
 * "Invariants"): meta data; every key and value decodes; each message's
 * reference count equals the queue entries, retained marks and session
 * wills naming it; every queue entry, subscription and QoS 2 id belongs to
 * a stored session; every message id named is stored; queue entry states,
 * subscription slots, retained topics and client ids are coherent.
 *
 * It reads one snapshot: the committed state, or, when this handle has a
 * write transaction open, the state that transaction would commit. A
 * read-only handle is enough, so it may run beside a live broker. Each
 * record is read once and looked up by binary search in sorted arrays of
 * the sessions and message ids (O(n log n) time, memory in proportion to
 * sessions + messages; a million queue entries take well under a second).
 * Disk bytes are untrusted: a damaged record is a violation, never a
 * crash; a damaged LMDB page that LMDB itself reports is an error.
 * @param[in] st      an open store
 * @param[in] report  called once per violation with one human-readable
 *                    line naming the record (database, session id and client
 *                    id, seq, message id, ...). The string is owned by the
 *                    checker and valid only during the call; the callback
 *                    must not write to the store. May be NULL (count only).
 * @param[in] ctx     passed to report
 * @param[out] counts records walked, or NULL
 * @return the number of violations (0: consistent; capped at INT_MAX), or
 *         HF_STORE_EIO, HF_STORE_ECORRUPT (LMDB reported a damaged page;
 *         see hf_store_errmsg) or HF_STORE_ENOMEM when the store could not
 *         be read to the end. Never call it from inside a read callback. */
int hf_store_check(struct hf_store *st,
                   void (*report)(void *ctx, const char *violation), void *ctx,
                   struct hf_store_check_counts *counts);

#endif
