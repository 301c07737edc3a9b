/* broker/engine/flow.c - MQTT's own flow control for online subscribers
 * that fall behind.
 *
 * A broker that acknowledges publishers faster than it can deliver to an
 * online subscriber builds a backlog that only grows: nothing is lost, but
 * the subscriber falls seconds behind (docs/BENCHMARKS.md, 50 -> 1). Here
 * the broker instead stops reading from the publishers whose messages pile
 * up, so TCP slows them down and their next PUBLISHes (and so their
 * acknowledgments) wait: publishers go at the rate the subscriber takes.
 *
 * A session is congested when, online, it has more than HIGH messages
 * waiting behind its window while it still acknowledges (an
 * acknowledgment within the last PROGRESS_MS). The publisher whose PUBLISH
 * queued there is paused (its transport stops reading; what it already
 * sent is handled). Publishers resume when no session is congested any
 * more: its backlog is down to LOW, it went offline, or it stopped
 * acknowledging for PROGRESS_MS. The last rule is what keeps one client
 * from stopping others: a subscriber that never reads gets its queue
 * filled up to max_queued_messages as before, and publishers never wait
 * more than PROGRESS_MS for it. The flow timer re-checks every TICK_MS
 * while anyone is paused, so nothing depends on more input arriving.
 * Loop thread only. */
#include <stdlib.h>

#include "broker.h"
#include "client.h"
#include "flow.h"
#include "net/conn.h"
#include "session.h"

#define HIGH        1024
#define LOW         256
#define PROGRESS_MS 200
#define TICK_MS     10

static bool
push(void ***v, uint32_t *n, uint32_t *cap, void *p)
{
	if (*n == *cap) {
		uint32_t nc = *cap ? *cap * 2 : 16;
		void **nv = realloc(*v, nc * sizeof(*nv));
		if (!nv)
			return false;
		*v = nv;
		*cap = nc;
	}
	(*v)[(*n)++] = p;
	return true;
}

static void
drop(void **v, uint32_t *n, void *p)
{
	for (uint32_t i = 0; i < *n; i++)
		if (v[i] == p) {
			v[i] = v[--*n];
			return;
		}
}

static bool
progressing(const struct hf_session *s, int64_t now)
{
	return s->client && now - s->last_ack_ms <= PROGRESS_MS;
}

static void
timer_cb(uv_timer_t *t)
{
	hf_flow_check(t->data);
}

void
hf_flow_queued(struct hf_session *s)
{
	struct hf_broker *b = s->b;
	struct hf_client *p = b->publisher;
	if (s->n_queued < HIGH || !p || p->flow_paused || !p->conn ||
	    p->s == s || p->state == HF_C_CLOSING)
		return;
	if (!progressing(s, hf_now_ms(b)))
		return;
	if (!s->congested) {
		if (!push((void ***)&b->congested, &b->n_congested,
		          &b->cap_congested, s))
			return; /* out of memory: no flow control, no harm */
		s->congested = true;
		b->stats.flow_episodes++;
		if (!b->flow_logged) {
			b->flow_logged = true;
			hf_log_ev(&b->log, HF_LOG_NOTICE, "flow_paused", s->id,
			          NULL,
			          "Client %s is %u messages behind; pausing "
			          "publishers until it catches up.",
			          s->id, (unsigned)s->n_queued);
		}
	}
	if (!push((void ***)&b->flow_paused, &b->n_flow_paused,
	          &b->cap_flow_paused, p))
		return;
	p->flow_paused = true;
	p->conn->ops->pause(p->conn, true);
	b->stats.flow_pauses++;
	if (!uv_is_active((uv_handle_t *)&b->flow_timer) && b->handles_ready &&
	    !b->shutting_down)
		uv_timer_start(&b->flow_timer, timer_cb, TICK_MS, TICK_MS);
}

void
hf_flow_acked(struct hf_session *s)
{
	s->last_ack_ms = hf_now_ms(s->b);
}

void
hf_flow_check(struct hf_broker *b)
{
	if (!b->n_flow_paused && !b->n_congested)
		return;
	int64_t now = hf_now_ms(b);
	for (uint32_t i = 0; i < b->n_congested;) {
		struct hf_session *s = b->congested[i];
		if (progressing(s, now) && s->n_queued > LOW) {
			i++;
			continue;
		}
		s->congested = false;
		b->congested[i] = b->congested[--b->n_congested];
	}
	if (b->n_congested)
		return;
	for (uint32_t i = 0; i < b->n_flow_paused; i++) {
		struct hf_client *c = b->flow_paused[i];
		c->flow_paused = false;
		hf_flow_resume_reading(c);
	}
	if (b->flow_logged) {
		b->flow_logged = false;
		hf_log_ev(&b->log, HF_LOG_NOTICE, "flow_resumed", NULL, NULL,
		          "Publishers resumed: subscribers caught up "
		          "(%llu pauses so far).",
		          (unsigned long long)b->stats.flow_pauses);
	}
	b->n_flow_paused = 0;
	if (uv_is_active((uv_handle_t *)&b->flow_timer))
		uv_timer_stop(&b->flow_timer);
}

void
hf_flow_resume_reading(struct hf_client *c)
{
	if (c->conn && !c->throttled && !c->flow_paused)
		c->conn->ops->pause(c->conn, false);
}

void
hf_flow_session_gone(struct hf_session *s)
{
	if (s->congested) {
		drop((void **)s->b->congested, &s->b->n_congested, s);
		s->congested = false;
	}
}

void
hf_flow_client_gone(struct hf_client *c)
{
	if (c->flow_paused) {
		drop((void **)c->b->flow_paused, &c->b->n_flow_paused, c);
		c->flow_paused = false;
	}
}

void
hf_flow_free(struct hf_broker *b)
{
	free(b->congested);
	free(b->flow_paused);
	b->congested = NULL;
	b->flow_paused = NULL;
	b->n_congested = b->cap_congested = 0;
	b->n_flow_paused = b->cap_flow_paused = 0;
}
