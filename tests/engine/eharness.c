/* tests/engine/eharness.c - the engine in-process over in-memory
 * connections and a real store (see eharness.h). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "holdfast/store.h"
#include "connect.h"
#include "durable.h"
#include "eharness.h"

/* ---- the in-memory transport ------------------------------------------ */

static int
mem_write(struct hf_conn *c, struct hf_wbuf *data)
{
	struct eh_conn *m = (struct eh_conn *)c;
	int rc = hf_wbuf_put(&m->out, data->p, data->len);
	data->len = 0;
	return rc == HF_OK ? 0 : -1;
}

static size_t
mem_pending(struct hf_conn *c)
{
	return ((struct eh_conn *)c)->held;
}

static void
mem_close(struct hf_conn *c)
{
	((struct eh_conn *)c)->close_asked = true;
}

static void
mem_pause(struct hf_conn *c, bool paused)
{
	((struct eh_conn *)c)->paused = paused;
}

static void
mem_peer(struct hf_conn *c, char *out, size_t outlen)
{
	snprintf(out, outlen, "memory");
}

static const struct hf_peer_identity *
mem_identity(struct hf_conn *c)
{
	return NULL;
}

static const struct hf_conn_ops mem_ops = {
    .write = mem_write,
    .pending = mem_pending,
    .close = mem_close,
    .pause = mem_pause,
    .peer = mem_peer,
    .identity = mem_identity,
};

struct hf_client *
eh_client(struct eh *e, int i)
{
	return e->slot[i] ? e->slot[i]->base.owner : NULL;
}

/* The transport is gone: the engine frees its client. */
static void
conn_gone(struct eh *e, int i)
{
	struct eh_conn *m = e->slot[i];
	e->slot[i] = NULL;
	if (m->base.owner)
		m->base.ev->closed(m->base.owner);
	hf_wbuf_free(&m->out);
	hf_wbuf_free(&m->in);
	free(m);
}

/* ---- broker life ------------------------------------------------------- */

static const struct hf_auth *
auth_for_port(void *ctx, uint16_t port)
{
	(void)port;
	return ((struct eh *)ctx)->auth;
}

/* Start a broker on e->dir. On failure after the loop exists, the broker
 * is left for stop() to take down, as main() does. */
static int
start(struct eh *e)
{
	struct hf_config *c = &e->conf;
	if (hf_config_init(c) != 0) {
		hf_config_free(c);
		return -1;
	}
	free(c->persistence_location);
	c->persistence_location = strdup(e->dir);
	c->persistence_sync = HF_SYNC_OS; /* no fsync: a process crash is
	                                     what the checks are about */
	c->persistence_initial_size = 1u << 20;
	c->persistence_max_size = 256u << 20;
	c->sys_interval = 0;
	c->log_dest = getenv("EH_LOG") ? HF_LOGD_STDERR : 0;
	if (e->tweak)
		e->tweak(c);
	if (!c->persistence_location || uv_loop_init(&e->loop) != 0) {
		hf_config_free(c);
		return -1;
	}
	memset(&e->b, 0, sizeof(e->b));
	hf_log_open(&e->b.log, c);
	memset(&e->lconf, 0, sizeof(e->lconf));
	e->lconf.max_connections = -1;
	e->lconf.allow_anonymous = 1;
	e->policy.conf = &e->lconf;
	struct hf_auth_conf ac = {.allow_anonymous = true};
	if (!e->auth && !(e->auth = hf_auth_new(&ac, NULL, 0)))
		return -1;
	e->policy.auth = e->auth;
	e->running = true;
	e->b.auth_for_port = auth_for_port;
	e->b.auth_for_port_ctx = e;
	e->b.default_auth = e->auth;
	if (hf_broker_init(&e->b, &e->loop, c) != 0)
		return -1;
	uv_timer_stop(&e->b.tick); /* time moves in eh_advance() only */
	return 0;
}

static void
stop(struct eh *e, bool crash)
{
	if (!e->running)
		return;
	if (crash && e->b.store) {
		/* SIGKILL: the open transaction is lost, nothing more is
		 * written, no output leaves. */
		hf_store_close(e->b.store);
		e->b.store = NULL;
		for (int i = 0; i < EH_CONNS; i++)
			if (e->slot[i])
				e->slot[i]->out.len = 0;
	}
	hf_broker_shutdown(&e->b);
	for (int i = 0; i < EH_CONNS; i++)
		if (e->slot[i])
			conn_gone(e, i);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	hf_broker_free(&e->b);
	hf_log_close(&e->b.log);
	uv_loop_close(&e->loop);
	hf_config_free(&e->conf);
	e->running = false;
}

int
eh_open(struct eh *e, const char *base)
{
	snprintf(e->dir, sizeof(e->dir), "%s/hf-eh-XXXXXX", base);
	if (!mkdtemp(e->dir))
		return -1;
	return start(e);
}

int
eh_restart(struct eh *e, bool crash)
{
	stop(e, crash);
	return start(e);
}

static void
rm_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[512];
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

void
eh_close(struct eh *e)
{
	stop(e, false);
	rm_dir(e->dir);
	hf_auth_free(e->auth);
	e->auth = NULL;
}

/* ---- connections ------------------------------------------------------- */

struct eh_conn *
eh_connect(struct eh *e, int i)
{
	if (e->slot[i]) {
		if (e->slot[i]->base.owner)
			e->slot[i]->base.ev->eof(e->slot[i]->base.owner);
		conn_gone(e, i);
	}
	struct eh_conn *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->base.ops = &mem_ops;
	m->base.policy = &e->policy;
	m->eh = e;
	if (hf_engine_accept(&e->b, &m->base) != 0) {
		free(m);
		return NULL;
	}
	e->slot[i] = m;
	return m;
}

void
eh_feed(struct eh *e, int i, const void *p, size_t n)
{
	struct eh_conn *m = e->slot[i];
	if (!m || m->close_asked || !m->base.owner)
		return;
	if (m->paused || m->in.len) /* waits, in order, as in a socket */
		hf_wbuf_put(&m->in, p, n);
	else
		m->base.ev->data(m->base.owner, p, n);
}

void
eh_drop(struct eh *e, int i)
{
	struct eh_conn *m = e->slot[i];
	if (m && m->base.owner)
		m->base.ev->eof(m->base.owner);
}

/* Some client's output waits for a batch the loop has not yet taken back
 * from the writer thread (broker.c, end_of_turn). */
static bool
output_held(struct eh *e)
{
	for (struct hf_client *c = e->b.dirty; c; c = c->dirty_next)
		if (c->hold_off)
			return true;
	return false;
}

void
eh_turn(struct eh *e)
{
	/* Input that waited while a connection was paused comes now. */
	for (int i = 0; i < EH_CONNS; i++) {
		struct eh_conn *m = e->slot[i];
		if (m && m->in.len && !m->paused && !m->close_asked) {
			struct hf_wbuf in = m->in;
			memset(&m->in, 0, sizeof(m->in));
			m->base.ev->data(m->base.owner, in.p, in.len);
			hf_wbuf_free(&in);
		}
	}
	uv_run(&e->loop, UV_RUN_NOWAIT);
	/* The store's writer thread commits in the background: a turn here
	 * ends once every batch its writes need is durable and the output
	 * that waited for it released (more loop turns, as the wake from
	 * the thread would bring), so each step stays deterministic. Bounded:
	 * 10 000 rounds of at most 10 ms of waiting each. */
	for (int round = 0;
	     round < 10000 && hf_dur_async(&e->b) &&
	     (hf_dur_busy(&e->b) || e->b.dur_sync_needed || output_held(e));
	     round++) {
		for (int w = 0; w < 1000 && hf_dur_busy(&e->b); w++)
			usleep(10);
		uv_run(&e->loop, UV_RUN_NOWAIT);
	}
	/* The lazy-commit timer would fire 50 ms later in real time; here
	 * lazy writes ride with the next synced commit or eh_check(). */
	uv_timer_stop(&e->b.lazy_commit);
	/* Closes the engine asked for: the transport is gone (the engine
	 * frees its client), but the slot keeps what was sent last (a
	 * refusing CONNACK, a DISCONNECT) for the test to read, until the
	 * slot is reused. */
	for (int i = 0; i < EH_CONNS; i++) {
		struct eh_conn *m = e->slot[i];
		if (m && m->close_asked && m->base.owner) {
			void *owner = m->base.owner;
			struct hf_client *c = owner;
			if (c->proto) /* to decode what is left to read */
				m->proto = c->proto;
			m->base.owner = NULL;
			m->base.ev->closed(owner);
		}
	}
}

void
eh_hold(struct eh *e, int i, size_t bytes)
{
	if (e->slot[i])
		e->slot[i]->held = bytes;
}

void
eh_drain(struct eh *e, int i)
{
	struct eh_conn *m = e->slot[i];
	if (!m || !m->held)
		return;
	m->held = 0;
	if (m->base.owner && !m->close_asked)
		m->base.ev->drained(m->base.owner);
}

void
eh_advance(struct eh *e, int64_t ms)
{
	e->b.clock_skew_ms += ms;
	uv_update_time(&e->loop);
	hf_session_tick(&e->b, hf_now_ms(&e->b));
}

static void
print_violation(void *ctx, const char *what)
{
	struct eh *e = ctx;
	if (!e->quiet)
		fprintf(stderr, "violation: %s\n", what);
}

int
eh_check(struct eh *e)
{
	struct hf_broker *b = &e->b;
	int n = 0;
	if (b->store_failed) {
		print_violation(e, "the store failed (see the log)");
		return 1;
	}
	if (!hf_dur_commit(b)) {
		print_violation(e, "commit failed");
		return 1;
	}
	n += hf_dur_check(b, print_violation, e);
	if (b->store) {
		int rc = hf_store_check(b->store, print_violation, e, NULL);
		n += rc < 0 ? 1 : rc;
	}
	return n;
}

int
eh_next_packet(struct eh *e, int i, struct hf_packet *pkt, uint8_t **body)
{
	struct eh_conn *m = e->slot[i];
	struct hf_frame f;
	*body = NULL;
	if (!m || m->out.len == 0)
		return 0;
	int rc = hf_frame_parse(m->out.p, m->out.len, 0, &f);
	if (rc != HF_OK)
		return rc == HF_AGAIN ? 0 : -1;
	size_t whole = (size_t)f.hdr_len + f.body_len;
	if (whole > m->out.len)
		return 0;
	*body = malloc(f.body_len + 1);
	if (!*body)
		return -1;
	memcpy(*body, m->out.p + f.hdr_len, f.body_len);
	memmove(m->out.p, m->out.p + whole, m->out.len - whole);
	m->out.len -= whole;
	struct hf_client *c = m->base.owner;
	uint8_t ver = c && c->proto ? c->proto
	              : m->proto    ? m->proto
	                            : HF_PROTO_V311;
	return hf_decode(f.type_flags, *body, f.body_len, ver, pkt) == HF_OK
	           ? 1
	           : -1;
}

struct hf_session *
eh_find_session(struct eh *e, const char *client_id)
{
	return hf_map_get(&e->b.sessions, client_id, strlen(client_id));
}
