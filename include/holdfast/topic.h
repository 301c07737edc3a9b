/* holdfast/topic.h - the subscription tree and the retained-message tree.
 *
 * Both are tries with one node per topic level. The subscription tree holds
 * filters ('+' and '#' are ordinary children with a flag) and, per node, the
 * plain subscriptions and the shared-subscription groups ($share/GROUP/...)
 * ending there. The retained tree holds one opaque message pointer per topic.
 *
 * The tree knows nothing of sessions or messages: a subscriber is an opaque
 * `owner` pointer, a retained message an opaque `void *`. Owned by the loop
 * thread; not thread-safe. Empty nodes are pruned on removal, so memory
 * follows the live subscriptions and retained topics, not their history.
 *
 * Matching rules (MQTT 3.1.1 4.7, 5.0 4.7): '+' matches one whole level
 * (including an empty one), '#' the parent level and everything below it,
 * and a filter starting with a wildcard does not match a topic starting with
 * '$' [MQTT-4.7.2-1]. */
#ifndef HOLDFAST_TOPIC_H
#define HOLDFAST_TOPIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hf_tree;
struct hf_retain_tree;

/* One subscription. Stored by value inside the tree; pointers passed to the
 * callbacks are valid only during the callback. */
struct hf_sub {
	void *owner;     /* the subscribing session, opaque */
	uint8_t opts;    /* subscription options byte (HF_SUBOPT_*) */
	uint32_t sub_id; /* subscription identifier, 0 = none */
};

/* A shared-subscription group at one filter: the members in subscription
 * order and a cursor the engine may use to spread messages round-robin.
 * `name` is the group name (not NUL-terminated, name_len bytes). */
struct hf_share_group {
	const uint8_t *name;
	size_t name_len;
	struct hf_sub *members;
	uint32_t n;
	uint32_t next; /* free for the engine's round-robin; starts at 0 */
};

typedef void (*hf_sub_cb)(void *ctx, const struct hf_sub *sub);
typedef void (*hf_group_cb)(void *ctx, struct hf_share_group *g);
typedef void (*hf_retained_cb)(void *ctx, void *msg);

/* Create an empty tree. Returns NULL when out of memory. */
struct hf_tree *hf_tree_new(void);
void hf_tree_free(struct hf_tree *t);

/* Add or replace owner's subscription to filter (filter may be
 * "$share/GROUP/FILTER"; it must already be valid, see
 * hf_topic_filter_valid()). A subscription is identified by (owner, share
 * group or none, filter); subscribing again replaces its opts and sub_id.
 * @param[out] existed  (may be NULL) set to whether it already existed
 * @return 0 on success, -1 when out of memory (the tree is unchanged). */
int hf_tree_sub(struct hf_tree *t, const uint8_t *filter, size_t len,
                void *owner, uint8_t opts, uint32_t sub_id, bool *existed);

/* Remove owner's subscription to filter (same identity as above).
 * @return 1 if it was there and is removed, 0 if there was none. */
int hf_tree_unsub(struct hf_tree *t, const uint8_t *filter, size_t len,
                  void *owner);

/* Call sub_cb once for every plain subscription whose filter matches topic,
 * and group_cb once for every shared group whose filter matches. The tree
 * must not be modified from inside the callbacks. topic must be a valid
 * topic name (no wildcards). */
void hf_tree_match(struct hf_tree *t, const uint8_t *topic, size_t len,
                   hf_sub_cb sub_cb, hf_group_cb group_cb, void *ctx);

/* Number of subscriptions (plain + shared members) in the tree. */
size_t hf_tree_count(const struct hf_tree *t);
/* Of those, members of shared groups ($share/GROUP/FILTER). */
size_t hf_tree_shared_count(const struct hf_tree *t);

/* True when filter (no $share prefix) matches topic. */
bool hf_topic_matches(const uint8_t *filter, size_t flen, const uint8_t *topic,
                      size_t tlen);

/* Retained messages. */
struct hf_retain_tree *hf_retain_new(void);
/* Frees the tree; calls release(msg) for every message still held. */
void hf_retain_free(struct hf_retain_tree *r, void (*release)(void *msg));
/* Empty the tree (release called for each message); it stays usable. */
void hf_retain_clear(struct hf_retain_tree *r, void (*release)(void *msg));

/* Set topic's retained message to msg, or remove it when msg is NULL.
 * @param[out] old  the message it replaces or removes (NULL if none); the
 *                  caller releases it.
 * @return 0, or -1 when out of memory (nothing changed, *old = NULL). */
int hf_retain_set(struct hf_retain_tree *r, const uint8_t *topic, size_t len,
                  void *msg, void **old);

/* Look up one topic's retained message (NULL if none). */
void *hf_retain_get(struct hf_retain_tree *r, const uint8_t *topic, size_t len);

/* Call cb for every retained message whose topic matches filter (a plain
 * filter, no $share prefix). Must not modify the tree from the callback. */
void hf_retain_match(struct hf_retain_tree *r, const uint8_t *filter,
                     size_t len, hf_retained_cb cb, void *ctx);

/* Call cb for every retained message (any order). */
void hf_retain_foreach(struct hf_retain_tree *r, hf_retained_cb cb, void *ctx);

size_t hf_retain_count(const struct hf_retain_tree *r);

#endif
