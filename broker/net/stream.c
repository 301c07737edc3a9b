/* broker/net/stream.c - a connection over a socket, for every transport
 * whose bytes cross the socket through struct hf_io_ops (io.h): plain TCP
 * today, TLS next.
 *
 * The socket is watched with a libuv poll handle (uv_poll_t, 160 bytes:
 * with 10 000 idle clients the handle is most of what a connection costs).
 * Writes are tried at once; what the transport does not take waits in one
 * pending buffer (allocated only then) and leaves when the socket is ready
 * for what the transport asked (a TLS write may wait for *readable*), so
 * the engine never waits. One send loop serves both the first attempt and
 * the retries. The read loop reads until the transport says AGAIN, or a
 * read comes back short with nothing held inside the transport (the poll
 * handle is level-triggered: bytes still in the kernel wake it again); at
 * most READS_PER_WAKE reads per wake-up, for fairness, after which a
 * transport still holding input is read again before the loop sleeps.
 *
 * Closing is a half-close: pending output (a DISCONNECT among it) goes
 * out, then the transport's shutdown (FIN; TLS close_notify), while input
 * is read and dropped until the peer closes too or a timer runs out; only
 * then is the handle closed, the socket closed and the engine told
 * (closed()). Closing outright with unread input would make the kernel
 * send RST, and a peer may then lose our last packet before reading it.
 *
 * Ownership: a stream owns its poll handle, its socket, its close timer,
 * its pending buffer and its transport state (io->free). What all the
 * connections of a listener share (the net, the transport's ops, the
 * policy) is in their endpoint (io.h), which c->policy points into. A
 * stream is freed when both handles are closed, after telling the engine
 * and its endpoint. Loop thread only. */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io.h"

#define CLOSE_LINGER_MS 2000 /* waiting for the peer's FIN */
#define CLOSE_WRITE_MS  5000 /* when our last bytes are still pending */
#define READS_PER_WAKE  16   /* fairness between busy connections */

/* Output the transport has not taken yet: buf.p[off .. buf.len). */
struct pending {
	struct hf_wbuf buf;
	size_t off;
};

struct hf_stream {
	struct hf_conn base;
	uv_poll_t h;
	void *io_ctx;         /* the transport's state (ep()->io) */
	struct pending *pend; /* allocated on the first write that waits */
	uv_timer_t *timer;    /* bounds the close; only while closing */
	int fd;
	uint8_t events;      /* what h polls for now (UV_READABLE...) */
	uint8_t read_wants;  /* readiness the last read waits for, 0 = read */
	uint8_t write_wants; /* readiness pending output waits for */
	bool closing;        /* no more input for the engine */
	bool paused;         /* the engine asked not to read */
	bool failed;    /* the transport broke: close on the next callback */
	bool shut;      /* our shutdown is started */
	bool shut_done; /* and finished */
	bool drain_due; /* output waited: tell the engine when it is gone */
	bool handle_closed;
	bool timer_closed;
};

static void poll_cb(uv_poll_t *h, int status, int events);

/* The endpoint: c->policy is its first member. */
static struct hf_endpoint *
ep(const struct hf_stream *s)
{
	return (struct hf_endpoint *)s->base.policy;
}

struct hf_conn *
hf_stream_conn(struct hf_stream *s)
{
	return &s->base;
}

static size_t
pending_len(const struct hf_stream *s)
{
	return s->pend ? s->pend->buf.len - s->pend->off : 0;
}

static bool
handle_closing(struct hf_stream *s)
{
	return uv_is_closing((uv_handle_t *)&s->h);
}

static void
maybe_free(struct hf_stream *s)
{
	if (!s->handle_closed || (s->timer && !s->timer_closed))
		return;
	struct hf_endpoint *e = ep(s);
	hf_net_cancel_read(e->net, s);
	if (s->base.ev)
		s->base.ev->closed(s->base.owner);
	e->io->free(s->io_ctx);
	if (s->pend) {
		hf_wbuf_free(&s->pend->buf);
		free(s->pend);
	}
	free(s->timer);
	free(s);
	hf_net_stream_gone(e);
}

static void
handle_close_cb(uv_handle_t *h)
{
	struct hf_stream *s = h->data;
	close(s->fd);
	s->fd = -1;
	s->handle_closed = true;
	maybe_free(s);
}

static void
timer_close_cb(uv_handle_t *h)
{
	struct hf_stream *s = h->data;
	s->timer_closed = true;
	maybe_free(s);
}

static void
really_close(struct hf_stream *s)
{
	if (!handle_closing(s))
		uv_close((uv_handle_t *)&s->h, handle_close_cb);
	if (s->timer && !uv_is_closing((uv_handle_t *)s->timer))
		uv_close((uv_handle_t *)s->timer, timer_close_cb);
}

/* The connection is gone (EOF, error): tell the engine once, then close. */
static void
gone(struct hf_stream *s)
{
	if (!s->closing) {
		s->closing = true;
		if (s->base.ev)
			s->base.ev->eof(s->base.owner);
	}
	really_close(s);
}

static uint8_t
uv_events(int want)
{
	return want == HF_IO_WANT_WRITE ? UV_WRITABLE : UV_READABLE;
}

/* Poll for what the state needs: input unless paused (always while
 * closing, to see the peer's FIN), output while some is pending or the
 * shutdown waits - each for the readiness the transport asked for. */
static void
update_events(struct hf_stream *s)
{
	if (handle_closing(s))
		return;
	uint8_t ev = 0;
	if (!s->paused || s->closing)
		ev |= s->read_wants ? uv_events(s->read_wants) : UV_READABLE;
	if (pending_len(s) || s->failed || (s->shut && !s->shut_done))
		ev |= uv_events(s->write_wants);
	if (ev == s->events)
		return;
	s->events = ev;
	if (ev)
		uv_poll_start(&s->h, ev, poll_cb);
	else
		uv_poll_stop(&s->h);
}

static void
start_shutdown(struct hf_stream *s)
{
	if (s->shut_done || handle_closing(s))
		return;
	s->shut = true;
	int want = HF_IO_WANT_WRITE;
	int rc = ep(s)->io->shutdown(s->io_ctx, &want);
	if (rc == 0)
		s->shut_done = true; /* wait for the peer's EOF or the timer */
	else if (rc == HF_IO_AGAIN)
		s->write_wants = (uint8_t)want;
	else
		really_close(s);
}

/* The send loop: hand buf[0..len) to the transport as far as it takes it.
 * Returns the bytes taken (s->write_wants set when it stopped early), or
 * -1 when the connection is broken. */
static ssize_t
send_loop(struct hf_stream *s, const uint8_t *buf, size_t len)
{
	size_t off = 0;
	while (off < len) {
		int want = HF_IO_WANT_WRITE;
		ssize_t n =
		    ep(s)->io->write(s->io_ctx, buf + off, len - off, &want);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n == HF_IO_AGAIN) {
			s->write_wants = (uint8_t)want;
			break;
		}
		return -1;
	}
	return (ssize_t)off;
}

/* Send what is pending. Returns -1 on a broken connection. */
static int
flush_pending(struct hf_stream *s)
{
	struct pending *pd = s->pend;
	if (!pd || pd->off == pd->buf.len)
		return 0;
	ssize_t n = send_loop(s, pd->buf.p + pd->off, pd->buf.len - pd->off);
	if (n < 0)
		return -1;
	pd->off += (size_t)n;
	if (pd->off == pd->buf.len) {
		pd->buf.len = 0;
		pd->off = 0;
	}
	return 0;
}

/* The read loop (see the file comment for when it stops). */
static void
read_some(struct hf_stream *s)
{
	size_t cap;
	uint8_t *buf = hf_net_readbuf(ep(s)->net, &cap);
	for (int i = 0; i < READS_PER_WAKE; i++) {
		if (s->paused && !s->closing)
			return;
		int want = HF_IO_WANT_READ;
		ssize_t n = ep(s)->io->read(s->io_ctx, buf, cap, &want);
		if (n > 0) {
			s->read_wants = 0;
			if (!s->closing) /* else: drained and dropped */
				s->base.ev->data(s->base.owner, buf, (size_t)n);
			if (handle_closing(s))
				return;
			if ((size_t)n < cap &&
			    !ep(s)->io->pending_input(s->io_ctx))
				return;
			continue;
		}
		if (n == HF_IO_AGAIN) {
			s->read_wants =
			    want == HF_IO_WANT_WRITE ? HF_IO_WANT_WRITE : 0;
			return;
		}
		gone(s); /* EOF, or a reset */
		return;
	}
	if (ep(s)->io->pending_input(s->io_ctx))
		hf_net_want_read(ep(s)->net, s);
}

void
hf_stream_read_more(struct hf_stream *s)
{
	if (handle_closing(s))
		return;
	read_some(s);
	update_events(s);
}

static void
poll_cb(uv_poll_t *h, int status, int events)
{
	struct hf_stream *s = h->data;
	(void)events; /* either readiness may be what a TLS call waits for */
	if (status < 0 || s->failed) {
		gone(s);
		return;
	}
	if (pending_len(s)) {
		if (flush_pending(s) < 0) {
			gone(s);
			return;
		}
		if (!pending_len(s) && s->drain_due && !s->closing) {
			s->drain_due = false;
			s->base.ev->drained(s->base.owner);
			if (handle_closing(s))
				return;
		}
	}
	if (s->closing && !pending_len(s) && !s->shut_done)
		start_shutdown(s);
	if (!handle_closing(s))
		read_some(s);
	update_events(s);
}

/* ---- struct hf_conn_ops --------------------------------------------- */

static int
conn_write(struct hf_conn *hc, struct hf_wbuf *data)
{
	struct hf_stream *s = (struct hf_stream *)hc;
	if (data->len == 0)
		return 0;
	if (s->failed || s->shut || handle_closing(s)) {
		data->len = 0;
		return -1;
	}
	if (pending_len(s)) {
		/* Keep the order: behind what is already waiting. */
		int rc = hf_wbuf_put(&s->pend->buf, data->p, data->len);
		data->len = 0;
		if (rc != HF_OK) {
			s->failed = true;
			update_events(s);
			return -1;
		}
		return 0;
	}
	ssize_t n = send_loop(s, data->p, data->len);
	if (n < 0) {
		/* Broken: the poll callback reports it, outside the
		 * engine's call. */
		data->len = 0;
		s->failed = true;
		update_events(s);
		return -1;
	}
	size_t off = (size_t)n;
	if (off == data->len) {
		data->len = 0;
		return 0;
	}
	/* Keep the rest: take the caller's buffer, give it the old one. */
	if (!s->pend && !(s->pend = calloc(1, sizeof(*s->pend)))) {
		data->len = 0;
		s->failed = true;
		update_events(s);
		return -1;
	}
	struct hf_wbuf t = s->pend->buf;
	s->pend->buf = *data;
	s->pend->off = off;
	*data = t;
	data->len = 0;
	s->drain_due = true;
	update_events(s);
	return 0;
}

static size_t
conn_pending(struct hf_conn *hc)
{
	return pending_len((struct hf_stream *)hc);
}

static void
close_timeout_cb(uv_timer_t *t)
{
	/* The peer took too long to read our last bytes or to close. */
	really_close(t->data);
}

static void
conn_close(struct hf_conn *hc)
{
	struct hf_stream *s = (struct hf_stream *)hc;
	if (s->closing)
		return;
	s->closing = true;
	if (handle_closing(s))
		return;
	s->timer = malloc(sizeof(*s->timer));
	if (!s->timer) {
		really_close(s); /* no memory to linger: close outright */
		return;
	}
	uv_timer_init(hf_net_loop(ep(s)->net), s->timer);
	s->timer->data = s;
	uv_timer_start(s->timer, close_timeout_cb,
	               pending_len(s) ? CLOSE_WRITE_MS : CLOSE_LINGER_MS, 0);
	/* Keep reading (and dropping) so the peer's FIN is seen. */
	if (!pending_len(s))
		start_shutdown(s);
	update_events(s);
}

static void
conn_pause(struct hf_conn *hc, bool paused)
{
	struct hf_stream *s = (struct hf_stream *)hc;
	if (s->paused == paused)
		return;
	s->paused = paused;
	/* Input the transport already holds would not wake the poll. */
	if (!paused && !s->closing && ep(s)->io->pending_input(s->io_ctx))
		hf_net_want_read(ep(s)->net, s);
	update_events(s);
}

static void
conn_peer(struct hf_conn *hc, char *out, size_t outlen)
{
	hf_net_fd_peer(((struct hf_stream *)hc)->fd, out, outlen);
}

static const struct hf_peer_identity *
conn_identity(struct hf_conn *hc)
{
	struct hf_stream *s = (struct hf_stream *)hc;
	return ep(s)->io->identity(s->io_ctx);
}

static bool
conn_trusted(struct hf_conn *hc)
{
	struct hf_stream *s = (struct hf_stream *)hc;
	const struct hf_io_ops *io = ep(s)->io;
	return !io->trusted || io->trusted(s->io_ctx);
}

static const struct hf_conn_ops stream_ops = {
    .write = conn_write,
    .pending = conn_pending,
    .close = conn_close,
    .pause = conn_pause,
    .peer = conn_peer,
    .identity = conn_identity,
    .trusted = conn_trusted,
};

struct hf_stream *
hf_stream_new(struct hf_endpoint *e, int fd, void *io_ctx,
              const struct hf_acceptor *acc)
{
	struct hf_stream *s = calloc(1, sizeof(*s));
	if (!s || uv_poll_init(hf_net_loop(e->net), &s->h, fd) != 0) {
		free(s);
		e->io->free(io_ctx);
		close(fd);
		hf_net_stream_gone(e);
		return NULL;
	}
	s->fd = fd;
	s->io_ctx = io_ctx;
	s->h.data = s;
	s->write_wants = HF_IO_WANT_WRITE;
	s->base.ops = &stream_ops;
	s->base.policy = &e->policy;
	if (acc->accept(acc->ctx, &s->base) != 0) {
		/* No engine owner: close quietly (maybe_free tells only the
		 * endpoint). */
		s->base.ev = NULL;
		s->closing = true;
		really_close(s);
		return NULL;
	}
	update_events(s);
	return s;
}
