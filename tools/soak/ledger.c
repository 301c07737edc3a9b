/*
 * tools/soak/ledger.c - what was acknowledged and what was received (see
 * soak.h).
 *
 * Design: sequence numbers start at 1 per publisher, so "acknowledged",
 * "refused" and "seen by this subscriber" are bitmaps indexed by sequence
 * number, grown by doubling. A checked subscriber's streams are fixed when
 * the population is built (its subscription never changes), so the final
 * tally walks each stream's bitmap against its publisher's acknowledged
 * bitmap, 64 messages per step. The QoS 2 "PUBREC sent, PUBREL not yet"
 * set is a small open-addressing table keyed by packet id (a broker keeps
 * at most its in-flight window of them per session), kept per subscriber
 * across reconnections, as the session state of [MQTT-4.3.3] requires.
 *
 * Threading/ownership: single-threaded; the bitmaps and tables belong to
 * their client and live until exit.
 */
#include "soak.h"

#include <stdlib.h>
#include <string.h>

static void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (!p) {
		perror("hfsoak: calloc");
		exit(1);
	}
	return p;
}

int
sk_bits_test(const struct sk_bits *b, uint64_t i)
{
	return i / 64 < b->nw && (b->w[i / 64] >> (i % 64) & 1);
}

int
sk_bits_set(struct sk_bits *b, uint64_t i)
{
	uint64_t m = 1ull << (i % 64);
	int old;

	if (i / 64 >= b->nw) {
		size_t nw = b->nw ? b->nw : 16;
		uint64_t *w;

		while (nw <= i / 64)
			nw *= 2;
		w = realloc(b->w, nw * sizeof(*w));
		if (!w) {
			perror("hfsoak: realloc");
			exit(1);
		}
		memset(w + b->nw, 0, (nw - b->nw) * sizeof(*w));
		b->w = w;
		b->nw = nw;
	}
	old = (b->w[i / 64] & m) != 0;
	b->w[i / 64] |= m;
	return old;
}

uint64_t
sk_bits_count(const struct sk_bits *b)
{
	uint64_t n = 0;

	for (size_t i = 0; i < b->nw; i++)
		n += (uint64_t)__builtin_popcountll(b->w[i]);
	return n;
}

int
sk_topic_match(const char *f, const char *t)
{
	for (;;) {
		if (f[0] == '#')
			return 1;
		if (f[0] == '+') {
			while (*t && *t != '/')
				t++;
			f++;
		} else {
			while (*f && *f != '/' && *f == *t) {
				f++;
				t++;
			}
			if ((*f && *f != '/') || (*t && *t != '/'))
				return 0;
		}
		if (!*f && !*t)
			return 1;
		if (!*f || !*t) /* "a/#" also matches "a" */
			return *f == '/' && f[1] == '#' && !f[2] && !*t;
		f++;
		t++;
	}
}

void
sk_ledger_streams(struct sk *k, struct sk_client *c)
{
	struct sk_sub *s = c->sub;
	int n = 0;

	for (int i = 0; i < k->npubs; i++)
		if (sk_topic_match(s->filter, k->pubs[i]->pub->topic))
			n++;
	s->streams = n ? xcalloc((size_t)n, sizeof(*s->streams)) : NULL;
	s->nstreams = 0;
	s->qrate = 0;
	for (int i = 0; i < k->npubs; i++) {
		const struct sk_pub *p = k->pubs[i]->pub;
		struct sk_stream *st;

		if (!sk_topic_match(s->filter, p->topic))
			continue;
		st = &s->streams[s->nstreams++];
		st->pub = (uint32_t)i;
		st->qos = (uint8_t)(p->qos < s->qos ? p->qos : s->qos);
		if (st->qos)
			s->qrate += p->rate;
	}
}

struct sk_stream *
sk_ledger_find(struct sk_client *c, uint32_t pub)
{
	struct sk_sub *s = c->sub;

	for (int i = 0; i < s->nstreams; i++)
		if (s->streams[i].pub == pub)
			return &s->streams[i];
	return NULL;
}

static uint32_t
rec_slot(uint16_t id, uint32_t cap)
{
	return ((uint32_t)id * 2654435761u) & (cap - 1);
}

struct sk_rec *
sk_rec_find(struct sk_sub *s, uint16_t id)
{
	if (!s->caprec)
		return NULL;
	for (uint32_t i = rec_slot(id, s->caprec);;
	     i = (i + 1) & (s->caprec - 1))
		if (s->rec[i].id == id)
			return &s->rec[i];
		else if (!s->rec[i].id)
			return NULL;
}

static void
rec_put(struct sk_rec *tab, uint32_t cap, const struct sk_rec *r)
{
	uint32_t i = rec_slot(r->id, cap);

	while (tab[i].id)
		i = (i + 1) & (cap - 1);
	tab[i] = *r;
}

void
sk_rec_add(struct sk_sub *s, uint16_t id, uint32_t pub, uint64_t seq)
{
	struct sk_rec r = {id, pub, seq};

	if ((s->nrec + 1) * 2 > s->caprec) {
		uint32_t cap = s->caprec ? s->caprec * 2 : 64;
		struct sk_rec *tab = xcalloc(cap, sizeof(*tab));

		for (uint32_t i = 0; i < s->caprec; i++)
			if (s->rec[i].id)
				rec_put(tab, cap, &s->rec[i]);
		free(s->rec);
		s->rec = tab;
		s->caprec = cap;
	}
	rec_put(s->rec, s->caprec, &r);
	s->nrec++;
}

void
sk_rec_del(struct sk_sub *s, uint16_t id)
{
	struct sk_rec *r = sk_rec_find(s, id);
	uint32_t i, j;

	if (!r)
		return;
	/* Backward-shift deletion keeps every probe chain unbroken. */
	i = (uint32_t)(r - s->rec);
	s->rec[i].id = 0;
	s->nrec--;
	for (j = (i + 1) & (s->caprec - 1); s->rec[j].id;
	     j = (j + 1) & (s->caprec - 1)) {
		struct sk_rec moved = s->rec[j];

		s->rec[j].id = 0;
		rec_put(s->rec, s->caprec, &moved);
	}
}

void
sk_rec_clear(struct sk_sub *s)
{
	if (s->rec)
		memset(s->rec, 0, s->caprec * sizeof(*s->rec));
	s->nrec = 0;
}

uint64_t
sk_ledger_missing(const struct sk *k, const struct sk_client *c)
{
	const struct sk_sub *s = c->sub;
	uint64_t n = 0;

	for (int i = 0; i < s->nstreams; i++) {
		const struct sk_stream *st = &s->streams[i];
		const struct sk_bits *a = &k->pubs[st->pub]->pub->acked;

		if (!st->qos)
			continue;
		for (size_t w = 0; w < a->nw; w++) {
			uint64_t seen = w < st->seen.nw ? st->seen.w[w] : 0;

			n += (uint64_t)__builtin_popcountll(a->w[w] & ~seen);
		}
	}
	return n;
}

static void
tally_stream(const struct sk *k, const struct sk_client *c,
             const struct sk_stream *st, struct sk_tally *t)
{
	const struct sk_pub *p = k->pubs[st->pub]->pub;
	const struct sk_bits *a = &p->acked, *r = &p->refused;
	size_t nw = a->nw > st->seen.nw ? a->nw : st->seen.nw;

	t->reordered += st->reordered;
	if (st->qos == 2)
		t->dup_qos2 += st->dups;
	else if (st->qos == 1)
		t->dup_qos1 += st->dups;
	for (size_t w = 0; w < nw; w++) {
		uint64_t acked = w < a->nw ? a->w[w] : 0;
		uint64_t seen = w < st->seen.nw ? st->seen.w[w] : 0;
		uint64_t refused = w < r->nw ? r->w[w] : 0;
		uint64_t lost = acked & ~seen;

		if (st->qos) {
			t->expected += (uint64_t)__builtin_popcountll(acked);
			t->received +=
			    (uint64_t)__builtin_popcountll(acked & seen);
			t->lost += (uint64_t)__builtin_popcountll(lost);
		}
		if (p->qos) { /* QoS 0 publishes are never acknowledged */
			t->refused_delivered +=
			    (uint64_t)__builtin_popcountll(seen & refused);
			t->unacked_delivered += (uint64_t)__builtin_popcountll(
			    seen & ~acked & ~refused);
		}
		if (st->qos && lost && !t->example[0])
			snprintf(t->example, sizeof(t->example),
			         "%s missed %s seq %llu (QoS %d)", c->id,
			         k->pubs[st->pub]->id,
			         (unsigned long long)(w * 64 +
			                              (uint64_t)__builtin_ctzll(
			                                  lost)),
			         st->qos);
	}
}

void
sk_ledger_tally(const struct sk *k, struct sk_tally *t)
{
	memset(t, 0, sizeof(*t));
	for (int i = 0; i < k->nclients; i++) {
		const struct sk_client *c = &k->c[i];

		if (!c->checked)
			continue;
		for (int j = 0; j < c->sub->nstreams; j++)
			tally_stream(k, c, &c->sub->streams[j], t);
	}
}
