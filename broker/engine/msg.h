/* broker/engine/msg.h - a message: one refcounted copy of a PUBLISH (or a
 * will, or a $SYS value) shared by every queue entry, retained slot and
 * will that refers to it (msg.c). Also the wall clock. */
#ifndef HOLDFAST_ENGINE_MSG_H
#define HOLDFAST_ENGINE_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "holdfast/codec.h"

struct hf_map;

/* A message, stored once and referenced by every queue that holds it.
 * data[] holds, in this order: topic, payload, content type, response topic,
 * correlation data, user properties (wire form, see codec.h). */
struct hf_msg {
	uint32_t refs;
	uint64_t store_id;     /* body id in the store; 0 = not stored */
	struct hf_map *cache;  /* the broker's id -> msg cache, when in it */
	bool retained_durable; /* the store marks it as a retained message */
	int32_t dur_pending;   /* store references not yet written (routing) */
	uint64_t dur_gen;      /* routing generation that wrote its first one */
	uint8_t qos;
	bool retain;
	bool has_payload_format;
	uint8_t payload_format;
	bool has_expiry;
	uint16_t topic_len;
	uint16_t ctype_len;
	uint16_t rtopic_len;
	uint16_t corr_len;
	uint32_t payload_len;
	uint32_t user_len;
	uint32_t n_user;
	int64_t expiry_at; /* wall-clock ms when has_expiry */
	uint8_t data[];
};

static inline const uint8_t *
hf_msg_topic(const struct hf_msg *m)
{
	return m->data;
}
static inline const uint8_t *
hf_msg_payload(const struct hf_msg *m)
{
	return m->data + m->topic_len;
}

/* msg.c */
int64_t hf_wall_ms(void); /* wall clock, ms */
struct hf_msg *hf_msg_new(const struct hf_publish *p, int64_t now_wall);
struct hf_msg *hf_msg_new_simple(const char *topic, const void *payload,
                                 size_t len, uint8_t qos, bool retain);
void hf_msg_ref(struct hf_msg *m);
void hf_msg_unref(struct hf_msg *m);
/* Count a message just made (every allocation of a struct hf_msg calls
 * it once; the last unref uncounts it), and read the counts: messages
 * alive in the process and their payload bytes. */
void hf_msg_counted(const struct hf_msg *m);
void hf_msg_tally(uint64_t *count, uint64_t *bytes);
bool hf_msg_expired(const struct hf_msg *m, int64_t now_wall);

#endif
