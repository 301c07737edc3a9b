/* broker/engine/route.c - where a message goes.
 *
 * hf_tree_match() reports every matching subscription; they are merged per
 * session (one copy at the highest granted QoS with every subscription
 * identifier, as 3.1.1 [MQTT-3.3.5-1] and 5.0 3.3.4 allow), while each
 * matching shared group gives its message to one member, round-robin,
 * preferring members that are online. A session whose ACL does not let it
 * read the topic gets nothing. A QoS 1/2 message that a full queue or a
 * full store cannot take is refused whole before anything is delivered.
 * The retained tree is updated on the way. Loop thread only. */
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "ident.h"
#include "durable.h"
#include "msg.h"
#include "outq.h"
#include "route.h"
#include "session.h"

/* Routing context for one publish. */
struct route {
	struct hf_broker *b;
	struct hf_msg *m;
	const struct hf_session *origin;
	bool oom;
};

static uint8_t
granted(const struct hf_broker *b, const struct hf_msg *m, uint8_t subopts)
{
	uint8_t sq = subopts & HF_SUBOPT_QOS_MASK;
	if (b->conf->upgrade_outgoing_qos)
		return sq;
	return m->qos < sq ? m->qos : sq;
}

static struct hf_target *
add_target(struct route *r)
{
	struct hf_broker *b = r->b;
	if (b->n_targets == b->cap_targets) {
		size_t ncap = b->cap_targets ? b->cap_targets * 2 : 64;
		void *n = realloc(b->targets, ncap * sizeof(*b->targets));
		if (!n) {
			r->oom = true;
			return NULL;
		}
		b->targets = n;
		b->cap_targets = ncap;
	}
	struct hf_target *t = &b->targets[b->n_targets++];
	memset(t, 0, sizeof(*t));
	return t;
}

bool
hf_session_may_read(const struct hf_session *s, const struct hf_msg *m)
{
	if (s->bridge) /* a bridge of ours reads what its topics say */
		return true;
	struct hf_acl_subject who = hf_session_subject(s);
	return hf_acl_check(hf_session_auth(s), &who, hf_msg_topic(m),
	                    m->topic_len, HF_ACL_READ);
}

/* Forget the last pass's targets (and the identifier arrays some had). */
static void
drop_targets(struct hf_broker *b)
{
	for (size_t i = 0; i < b->n_targets; i++)
		free(b->targets[i].more_subids);
	b->n_targets = 0;
}

/* The target's subscription identifiers: in place, or past
 * HF_TARGET_SUBIDS in an array of its own. */
static const uint32_t *
target_subids(const struct hf_target *t)
{
	return t->more_subids ? t->more_subids : t->subids;
}

/* Add id once (an identifier shared by several matching subscriptions is
 * sent once). Out of memory, the message is refused or the turn fails (a
 * delivery would lose an identifier it must carry). */
static void
add_subid(struct route *r, struct hf_target *t, uint32_t id)
{
	const uint32_t *ids = target_subids(t);
	for (uint16_t k = 0; k < t->nsub; k++)
		if (ids[k] == id)
			return;
	if (!t->more_subids && t->nsub < HF_TARGET_SUBIDS) {
		t->subids[t->nsub++] = id;
		return;
	}
	if (t->nsub == UINT16_MAX)
		return; /* 65535 matching subscriptions of one session */
	if (t->nsub >= t->cap_more) {
		uint16_t cap = t->cap_more ? (uint16_t)(t->cap_more * 2u > 65535
		                                            ? 65535
		                                            : t->cap_more * 2u)
		                           : 2 * HF_TARGET_SUBIDS;
		uint32_t *n = realloc(t->more_subids, cap * sizeof(*n));
		if (!n) {
			r->oom = true;
			return;
		}
		if (!t->more_subids)
			memcpy(n, t->subids, sizeof(t->subids));
		t->more_subids = n;
		t->cap_more = cap;
	}
	t->more_subids[t->nsub++] = id;
}

static void
on_sub(void *ctx, const struct hf_sub *sub)
{
	struct route *r = ctx;
	struct hf_session *s = sub->owner;
	if ((sub->opts & HF_SUBOPT_NO_LOCAL) && s == r->origin)
		return; /* [MQTT-3.8.3-3] */
	if (s->match_gen != r->b->match_gen && !hf_session_may_read(s, r->m))
		return; /* the receiver's ACL (once per session and message) */
	uint8_t q = granted(r->b, r->m, sub->opts);
	bool rap = (sub->opts & HF_SUBOPT_RAP) != 0;
	struct hf_target *t;
	if (s->match_gen != r->b->match_gen) {
		if (!(t = add_target(r)))
			return;
		s->match_gen = r->b->match_gen;
		s->match_idx = (uint32_t)(r->b->n_targets - 1);
		t->s = s;
		t->qos = q;
		t->rap = rap;
	} else {
		t = &r->b->targets[s->match_idx];
		if (q > t->qos)
			t->qos = q;
		t->rap |= rap;
	}
	/* One copy, at the highest granted QoS, carrying the identifier of
	 * every matching subscription [MQTT-3.3.4-2], [MQTT-3.3.4-4]; an
	 * identifier shared by several of them is sent once. */
	if (sub->sub_id)
		add_subid(r, t, sub->sub_id);
}

static void
on_group(void *ctx, struct hf_share_group *g)
{
	struct route *r = ctx;
	if (g->n == 0)
		return;
	/* Round-robin, preferring a connected member; only members the
	 * ACL lets read the topic. */
	uint32_t pick = UINT32_MAX;
	for (uint32_t i = 0; i < g->n; i++) {
		uint32_t idx = (g->next + i) % g->n;
		struct hf_session *s = g->members[idx].owner;
		if (!hf_session_may_read(s, r->m))
			continue;
		if (pick == UINT32_MAX)
			pick = idx;
		if (s->client && s->client->state == HF_C_CONNECTED) {
			pick = idx;
			break;
		}
	}
	if (pick == UINT32_MAX)
		return;
	g->next = (pick + 1) % g->n;
	const struct hf_sub *sub = &g->members[pick];
	struct hf_target *t = add_target(r);
	if (!t)
		return;
	t->s = sub->owner;
	t->shared = true;
	t->qos = granted(r->b, r->m, sub->opts);
	t->retain = r->m->retain && (sub->opts & HF_SUBOPT_RAP);
	if (sub->sub_id)
		t->subids[t->nsub++] = sub->sub_id;
}

/* Would this delivery be refused (queue or store full)? */
static bool
target_refuses(struct hf_broker *b, const struct hf_target *t, uint8_t qos,
               const struct hf_msg *m)
{
	if (qos == 0)
		return false;
	struct hf_session *s = t->s;
	b->refused_by = s;
	if (s->sid && b->store_full) {
		b->refused_limit =
		    "the store (persistence_max_size or disk space)";
		return true;
	}
	b->refused_limit = hf_session_queue_limit(s, m->payload_len);
	return b->refused_limit != NULL;
}

int
hf_publish_route(struct hf_broker *b, struct hf_msg *m,
                 const struct hf_session *origin, bool may_refuse)
{
	struct route r = {.b = b, .m = m, .origin = origin};
	b->refused_by = NULL;
	b->refused_limit = NULL;
	b->match_gen++;
	drop_targets(b);
	hf_tree_match(b->tree, hf_msg_topic(m), m->topic_len, on_sub, on_group,
	              &r);
	size_t n = b->n_targets;
	for (size_t i = 0; i < n; i++) {
		struct hf_target *t = &b->targets[i];
		if (!t->shared)
			t->retain = m->retain && t->rap;
	}
	if (r.oom && m->qos > 0) {
		/* Some matching sessions are missing from the targets. */
		if (may_refuse)
			return -1;
		hf_dur_fail_turn(b, "out of memory routing a message");
	}
	if (may_refuse && m->qos > 0) {
		for (size_t i = 0; i < n; i++)
			if (target_refuses(b, &b->targets[i], b->targets[i].qos,
			                   m))
				return -1;
	}
	if (m->retain && b->conf->retain_available) {
		void *old = NULL;
		if (m->payload_len == 0) {
			hf_retain_set(b->retained, hf_msg_topic(m),
			              m->topic_len, NULL, &old);
			hf_dur_retain(b, old, NULL);
		} else if (hf_retain_set(b->retained, hf_msg_topic(m),
		                         m->topic_len, m, &old) == 0) {
			hf_msg_ref(m);
			hf_dur_retain(b, old, m);
		} else if (m->qos > 0) {
			hf_dur_fail_turn(b,
			                 "out of memory retaining a message");
		}
		hf_msg_unref(old);
	}
	/* Deliveries may route again (never: no callbacks publish), but take
	 * the count first: the target array is the broker's scratch. */
	b->routing = true;
	for (size_t i = 0; i < n; i++) {
		struct hf_target *t = &b->targets[i];
		struct hf_session *s = t->s;
		hf_session_deliver(s, m, t->qos, t->retain, target_subids(t),
		                   t->nsub);
	}
	b->routing = false;
	if (m->dur_pending) {
		int32_t d = m->dur_pending;
		m->dur_pending = 0;
		hf_dur_msg_ref(b, m, d);
	}
	return (int)n;
}

void
hf_route_free(struct hf_broker *b)
{
	drop_targets(b);
	free(b->targets);
	b->targets = NULL;
	b->n_targets = b->cap_targets = 0;
}
