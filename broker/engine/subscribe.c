/* broker/engine/subscribe.c - SUBSCRIBE/UNSUBSCRIBE and retained delivery.
 *
 * A session keeps its own list of subscriptions (filter, options,
 * identifier) beside the shared topic tree, so that ending a session can
 * remove exactly its entries and, in later work, so that the store can save
 * them. max_topic_levels and max_subscriptions_per_client are checked before
 * the tree is touched. The SUBACK is queued before any retained message the
 * subscription brings, as clients expect. Shared subscriptions get no retained
 * messages (MQTT 5.0 4.8.2). Loop thread only. */
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "ident.h"
#include "client.h"
#include "durable.h"
#include "msg.h"
#include "mount.h"
#include "outq.h"
#include "route.h"
#include "session.h"
#include "subscribe.h"

static bool
is_shared(const uint8_t *f, size_t len)
{
	return len > 7 && memcmp(f, "$share/", 7) == 0;
}

/* Sessions with many subscriptions index them by filter (value: position
 * + 1), so subscribing N filters stays O(N), not O(N^2). */
#define SUBREC_INDEX_FROM 16

static struct hf_subrec *
find_subrec(struct hf_session *s, const uint8_t *f, size_t len)
{
	if (s->sub_index) {
		uintptr_t i = (uintptr_t)hf_map_get(s->sub_index, f, len);
		return i ? &s->subs[i - 1] : NULL;
	}
	for (uint32_t i = 0; i < s->n_subs; i++)
		if (s->subs[i].len == len &&
		    memcmp(s->subs[i].filter, f, len) == 0)
			return &s->subs[i];
	return NULL;
}

static int
index_put(struct hf_session *s, uint32_t i)
{
	return hf_map_put(s->sub_index, s->subs[i].filter, s->subs[i].len,
	                  (void *)(uintptr_t)(i + 1));
}

static int
build_index(struct hf_session *s)
{
	s->sub_index = calloc(1, sizeof(*s->sub_index));
	if (!s->sub_index)
		return -1;
	for (uint32_t i = 0; i < s->n_subs; i++) {
		if (index_put(s, i) != 0) {
			/* A partial index would hide subscriptions: none. */
			hf_map_free(s->sub_index);
			free(s->sub_index);
			s->sub_index = NULL;
			return -1;
		}
	}
	return 0;
}

int
hf_session_add_subrec(struct hf_session *s, const uint8_t *f, size_t len,
                      uint8_t opts, uint32_t sub_id)
{
	struct hf_subrec *r = find_subrec(s, f, len);
	if (!r) {
		if (s->n_subs == s->cap_subs) {
			uint32_t ncap = s->cap_subs ? s->cap_subs * 2 : 4;
			void *n = realloc(s->subs, ncap * sizeof(*s->subs));
			if (!n)
				return -1;
			s->subs = n;
			s->cap_subs = ncap;
		}
		char *copy = malloc(len + 1);
		if (!copy)
			return -1;
		memcpy(copy, f, len);
		copy[len] = '\0';
		r = &s->subs[s->n_subs++];
		r->filter = copy;
		r->len = (uint16_t)len;
		if (s->sub_index ? index_put(s, s->n_subs - 1) != 0
		                 : s->n_subs >= SUBREC_INDEX_FROM &&
		                       build_index(s) != 0) {
			s->n_subs--;
			free(copy);
			return -1;
		}
	}
	r->opts = opts;
	r->sub_id = sub_id;
	return 0;
}

static void
del_subrec(struct hf_session *s, const uint8_t *f, size_t len)
{
	struct hf_subrec *r = find_subrec(s, f, len);
	if (!r)
		return;
	if (s->sub_index)
		hf_map_del(s->sub_index, r->filter, r->len);
	free(r->filter);
	*r = s->subs[--s->n_subs];
	if (s->sub_index && r != &s->subs[s->n_subs])
		index_put(s, (uint32_t)(r - s->subs)); /* moved: re-point */
}

void
hf_session_drop_subs(struct hf_session *s)
{
	for (uint32_t i = 0; i < s->n_subs; i++) {
		hf_tree_unsub(s->b->tree, (const uint8_t *)s->subs[i].filter,
		              s->subs[i].len, s);
		free(s->subs[i].filter);
	}
	s->n_subs = 0;
	if (s->sub_index) {
		hf_map_free(s->sub_index);
		free(s->sub_index);
		s->sub_index = NULL;
	}
}

struct retained_ctx {
	struct hf_session *s;
	uint8_t qos;
	uint32_t sub_id;
	int64_t now;
};

static void
on_retained(void *ctx, void *msg)
{
	struct retained_ctx *r = ctx;
	struct hf_msg *m = msg;
	if (hf_msg_expired(m, r->now) || !hf_session_may_read(r->s, m))
		return;
	uint8_t q = m->qos < r->qos ? m->qos : r->qos;
	if (r->s->b->conf->upgrade_outgoing_qos)
		q = r->qos;
	/* Sent because of a new subscription: retain flag set
	 * [MQTT-3.3.1-8]. */
	hf_session_deliver(r->s, m, q, true, r->sub_id ? &r->sub_id : NULL,
	                   r->sub_id ? 1 : 0);
}

/* max_topic_levels and max_subscriptions_per_client, checked before the
 * tree is touched, so a filter of 65 000 levels never becomes 65 000
 * nodes. Returns 0, or the SUBACK code refusing this one filter: 5.0 0x8F
 * (Topic Filter invalid: "correctly formed, but not allowed for this
 * Client") for depth, 0x97 (Quota exceeded) for the count; 3.1.1 0x80
 * (Failure, 3.9.3) for both. Replacing a subscription the session already
 * has is never over the count. */
static int
check_limits(struct hf_client *c, struct hf_bytes f)
{
	const struct hf_config *conf = c->b->conf;
	struct hf_session *s = c->s;
	bool v5 = c->proto == HF_PROTO_V5;
	const uint8_t *t = f.p;
	size_t len = f.len;
	if (is_shared(t, len)) {
		/* The tree stores FILTER of $share/GROUP/FILTER. */
		const uint8_t *g = memchr(t + 7, '/', len - 7);
		if (g) {
			len -= (size_t)(g + 1 - t);
			t = g + 1;
		}
	}
	if (conf->max_topic_levels &&
	    hf_topic_levels(t, len) > conf->max_topic_levels) {
		hf_log(&c->b->log, HF_LOG_NOTICE,
		       "Client %s: subscription refused, filter deeper than "
		       "max_topic_levels (%u).",
		       s->id, conf->max_topic_levels);
		return v5 ? HF_RC_TOPIC_FILTER_INVALID : HF_RC_UNSPECIFIED;
	}
	if (conf->max_subscriptions_per_client &&
	    s->n_subs >= conf->max_subscriptions_per_client &&
	    !find_subrec(s, f.p, f.len)) {
		hf_log(&c->b->log, HF_LOG_NOTICE,
		       "Client %s: subscription refused, "
		       "max_subscriptions_per_client (%u) reached.",
		       s->id, conf->max_subscriptions_per_client);
		return v5 ? HF_RC_QUOTA_EXCEEDED : HF_RC_UNSPECIFIED;
	}
	return 0;
}

void
hf_handle_subscribe(struct hf_client *c, const struct hf_subscribe *p)
{
	struct hf_broker *b = c->b;
	struct hf_session *s = c->s;
	uint32_t sub_id =
	    (p->props.present & HF_PP_SUBSCRIPTION_ID) ? p->props.sub_id : 0;
	uint8_t *rcs = malloc(p->n ? p->n : 1);
	bool *send_retained = calloc(p->n ? p->n : 1, sizeof(bool));
	if (!rcs || !send_retained) {
		free(rcs);
		free(send_retained);
		hf_client_close(c, HF_RC_UNSPECIFIED);
		return;
	}
	uint32_t off = 0, i = 0;
	struct hf_bytes f;
	uint8_t opts;
	struct hf_acl_subject who = hf_session_subject(s);
	while (i < p->n && hf_sub_next(p, &off, &f, &opts)) {
		int refused;
		if (HF_LOG_ON(&b->log, HF_LOG_DEBUG)) /* mosquitto's -v */
			hf_log_ev(&b->log, HF_LOG_DEBUG, "packet", s->id, NULL,
			          "\t%.*s (QoS %d)", (int)f.len,
			          (const char *)f.p, opts & HF_SUBOPT_QOS_MASK);
		if (!hf_mount_filter(c, f, &f))
			refused = c->proto == HF_PROTO_V5
			              ? HF_RC_TOPIC_FILTER_INVALID
			              : HF_RC_UNSPECIFIED;
		else
			refused = check_limits(c, f);
		/* Off by default, as in mosquitto: every delivery is checked
		 * (READ) whatever the filter. */
		if (!refused && b->conf->acl_check_subscribe &&
		    !hf_acl_check(hf_session_auth(s), &who, f.p, f.len,
		                  HF_ACL_SUBSCRIBE)) {
			/* 5.0 0x87 Not authorized; 3.1.1 0x80 Failure. */
			hf_log(&b->log, HF_LOG_NOTICE,
			       "Denied SUBSCRIBE from %s to %.*s (ACL).", s->id,
			       (int)f.len, (const char *)f.p);
			refused = c->proto == HF_PROTO_V5 ? HF_RC_NOT_AUTHORIZED
			                                  : HF_RC_UNSPECIFIED;
		}
		if (refused) {
			rcs[i++] = (uint8_t)refused;
			continue;
		}
		uint8_t q = opts & HF_SUBOPT_QOS_MASK;
		if (q > b->conf->maximum_qos)
			q = b->conf->maximum_qos;
		uint8_t eff = (uint8_t)((opts & ~HF_SUBOPT_QOS_MASK) | q);
		if (c->proto != HF_PROTO_V5) /* a bridge's: no echo, flags as
		                                published (mosquitto's way) */
			eff =
			    (uint8_t)(q | (s->peer_bridge ? HF_SUBOPT_NO_LOCAL |
			                                        HF_SUBOPT_RAP
			                                  : 0));
		bool existed = false;
		if (hf_tree_sub(b->tree, f.p, f.len, s, eff, sub_id,
		                &existed) != 0) {
			rcs[i++] = HF_RC_UNSPECIFIED;
			continue;
		}
		if (hf_session_add_subrec(s, f.p, f.len, eff, sub_id) != 0) {
			/* Out of memory: the tree must not keep what the
			 * session does not know (freeing the session would
			 * leave it there, pointing at nothing). */
			if (!existed)
				hf_tree_unsub(b->tree, f.p, f.len, s);
			rcs[i++] = HF_RC_UNSPECIFIED;
			continue;
		}
		hf_dur_sub_put(s, find_subrec(s, f.p, f.len));
		rcs[i] = q;
		unsigned rh = (eff & HF_SUBOPT_RH_MASK) >> HF_SUBOPT_RH_SHIFT;
		send_retained[i] = !is_shared(f.p, f.len) &&
		                   (rh == 0 || (rh == 1 && !existed));
		hf_log(&b->log, HF_LOG_SUBSCRIBE, "%s %d %.*s", s->id, q,
		       (int)f.len, (const char *)f.p);
		i++;
	}
	struct hf_packet ack;
	memset(&ack, 0, sizeof(ack));
	ack.type = HF_SUBACK;
	ack.u.suback.pid = p->pid;
	ack.u.suback.rcs = rcs;
	ack.u.suback.n = i;
	hf_client_send(c, &ack);

	struct retained_ctx r = {.s = s, .sub_id = sub_id, .now = hf_wall_ms()};
	off = 0;
	for (uint32_t k = 0; k < i && hf_sub_next(p, &off, &f, &opts); k++) {
		if (!send_retained[k] || !hf_mount_filter(c, f, &f))
			continue;
		r.qos = rcs[k];
		hf_retain_match(b->retained, f.p, f.len, on_retained, &r);
	}
	free(rcs);
	free(send_retained);
}

int
hf_session_subscribe(struct hf_session *s, const uint8_t *f, size_t len,
                     uint8_t opts)
{
	bool existed = false;
	if (hf_tree_sub(s->b->tree, f, len, s, opts, 0, &existed) != 0)
		return -1;
	if (hf_session_add_subrec(s, f, len, opts, 0) != 0) {
		if (!existed)
			hf_tree_unsub(s->b->tree, f, len, s);
		return -1;
	}
	hf_dur_sub_put(s, find_subrec(s, f, len));
	return 0;
}

void
hf_session_unsubscribe(struct hf_session *s, const uint8_t *f, size_t len)
{
	bool removed = hf_tree_unsub(s->b->tree, f, len, s);
	del_subrec(s, f, len);
	if (removed)
		hf_dur_sub_del(s, f, (uint16_t)len);
}

void
hf_handle_unsubscribe(struct hf_client *c, const struct hf_subscribe *p)
{
	struct hf_broker *b = c->b;
	struct hf_session *s = c->s;
	uint8_t *rcs = malloc(p->n ? p->n : 1);
	if (!rcs) {
		hf_client_close(c, HF_RC_UNSPECIFIED);
		return;
	}
	uint32_t off = 0, i = 0;
	struct hf_bytes f;
	while (i < p->n && hf_unsub_next(p, &off, &f)) {
		if (HF_LOG_ON(&b->log, HF_LOG_DEBUG))
			hf_log_ev(&b->log, HF_LOG_DEBUG, "packet", s->id, NULL,
			          "\t%.*s", (int)f.len, (const char *)f.p);
		int removed = hf_mount_filter(c, f, &f) &&
		              hf_tree_unsub(b->tree, f.p, f.len, s);
		del_subrec(s, f.p, f.len);
		if (removed)
			hf_dur_sub_del(s, f.p, (uint16_t)f.len);
		rcs[i++] =
		    removed ? HF_RC_SUCCESS : HF_RC_NO_SUBSCRIPTION_EXISTED;
		hf_log(&b->log, HF_LOG_UNSUBSCRIBE, "%s %.*s", s->id,
		       (int)f.len, (const char *)f.p);
	}
	struct hf_packet ack;
	memset(&ack, 0, sizeof(ack));
	ack.type = HF_UNSUBACK;
	ack.u.suback.pid = p->pid;
	ack.u.suback.rcs = rcs;
	ack.u.suback.n = i;
	hf_client_send(c, &ack);
	free(rcs);
}
