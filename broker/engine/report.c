/* broker/engine/report.c - what the operator's signals ask the engine for
 * (broker/main.c wires the signals): SIGUSR1 logs the counts of sessions,
 * clients, subscriptions and retained messages and the store's statistics;
 * SIGUSR2 logs every session's subscriptions (the subscription tree as the
 * sessions hold it: filter, QoS and options); a reload tells the engine
 * which live settings changed. Loop thread only. */
#include <stdio.h>
#include <string.h>

#include "broker.h"
#include "holdfast/store.h"
#include "session.h"
#include "sys.h"

/* SIGUSR2 prints at most this many subscription lines (a broker with a
 * million subscriptions must not spend seconds logging); the total is
 * always given. */
#define SUBS_LOGGED_MAX 10000

void
hf_engine_log_stats(struct hf_broker *b)
{
	unsigned online = 0;
	for (struct hf_session *s = b->all_sessions; s; s = s->all_next)
		online += s->client != NULL;
	hf_log(&b->log, HF_LOG_NOTICE,
	       "Statistics: %u sessions (%u online, %u offline), %zu "
	       "subscriptions, %zu retained messages, %llu messages "
	       "received, %llu sent.",
	       b->n_sessions, online, b->n_sessions - online,
	       hf_tree_count(b->tree), hf_retain_count(b->retained),
	       (unsigned long long)b->stats.msgs_received,
	       (unsigned long long)b->stats.msgs_sent);
	if (!b->store) {
		hf_log(&b->log, HF_LOG_NOTICE,
		       "Statistics: no store (persistence false).");
		return;
	}
	struct hf_store_stats st;
	if (hf_store_stats(b->store, &st) != 0) {
		hf_log(&b->log, HF_LOG_WARNING,
		       "Warning: store statistics unavailable: %s.",
		       hf_store_errmsg(b->store));
		return;
	}
	hf_log(&b->log, HF_LOG_NOTICE,
	       "Store: %llu sessions, %llu subscriptions, %llu messages, "
	       "%llu queue entries, %llu retained, %llu QoS 2 ids; %llu of "
	       "%llu bytes used (map %llu); %llu commits, %llu map growths.",
	       (unsigned long long)st.sessions, (unsigned long long)st.subs,
	       (unsigned long long)st.msgs,
	       (unsigned long long)st.queue_entries,
	       (unsigned long long)st.retained, (unsigned long long)st.qos2,
	       (unsigned long long)st.used_bytes,
	       (unsigned long long)st.max_map_size,
	       (unsigned long long)st.map_size, (unsigned long long)st.commits,
	       (unsigned long long)st.grows);
}

void
hf_engine_log_subscriptions(struct hf_broker *b)
{
	size_t lines = 0, total = 0;
	hf_log(&b->log, HF_LOG_NOTICE, "Subscriptions (SIGUSR2):");
	for (struct hf_session *s = b->all_sessions; s; s = s->all_next) {
		for (uint32_t i = 0; i < s->n_subs; i++, total++) {
			const struct hf_subrec *r = &s->subs[i];
			if (lines >= SUBS_LOGGED_MAX)
				continue;
			char id[32] = "";
			if (r->sub_id)
				snprintf(id, sizeof(id), ", id %u", r->sub_id);
			hf_log(&b->log, HF_LOG_NOTICE,
			       "  %s %s: %s q%u%s%s, rh%u%s", s->id,
			       s->client ? "(online)" : "(offline)", r->filter,
			       r->opts & 3u, r->opts & 4u ? ", no local" : "",
			       r->opts & 8u ? ", rap" : "",
			       (unsigned)(r->opts >> 4) & 3u, id);
			lines++;
		}
	}
	hf_log(&b->log, HF_LOG_NOTICE, "Subscriptions: %zu in %u sessions%s.",
	       total, b->n_sessions,
	       total > lines ? " (the first ones listed)" : "");
}

void
hf_engine_reconfigured(struct hf_broker *b, uint32_t old_sys_interval)
{
	/* Every other live setting is read where it is used; the $SYS
	 * timer was armed with the old interval. */
	if (b->conf->sys_interval != old_sys_interval && !b->shutting_down) {
		uv_timer_stop(&b->sys_timer);
		hf_sys_start(b);
	}
}
