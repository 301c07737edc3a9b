/* broker/net/tcp.c - plain TCP as a stream transport (struct hf_io_ops):
 * recv(), send() and shutdown(SHUT_WR) on a non-blocking socket.
 *
 * The transport's state is the socket itself, carried in the io pointer,
 * so a TCP connection allocates nothing here. Nothing is ever held inside
 * (pending_input is 0) and there is no certificate. EINTR is retried; the
 * stream (stream.c) owns and closes the socket. Loop thread only. */
#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>

#include "io.h"

static int
fd_of(void *io)
{
	return (int)(intptr_t)io;
}

void *
hf_tcp_io_new(int fd)
{
	return (void *)(intptr_t)fd;
}

static ssize_t
tcp_read(void *io, uint8_t *buf, size_t n, int *want)
{
	for (;;) {
		ssize_t r = recv(fd_of(io), buf, n, 0);
		if (r > 0)
			return r;
		if (r == 0)
			return HF_IO_EOF;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			*want = HF_IO_WANT_READ;
			return HF_IO_AGAIN;
		}
		return HF_IO_ERR;
	}
}

static ssize_t
tcp_write(void *io, const uint8_t *buf, size_t n, int *want)
{
	for (;;) {
		ssize_t r = send(fd_of(io), buf, n, MSG_NOSIGNAL);
		if (r > 0)
			return r;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			*want = HF_IO_WANT_WRITE;
			return HF_IO_AGAIN;
		}
		return HF_IO_ERR;
	}
}

static int
tcp_shutdown(void *io, int *want)
{
	(void)want;
	return shutdown(fd_of(io), SHUT_WR) == 0 ? 0 : HF_IO_ERR;
}

static size_t
tcp_pending_input(void *io)
{
	(void)io;
	return 0;
}

static const struct hf_peer_identity *
tcp_identity(void *io)
{
	(void)io;
	return NULL;
}

static void
tcp_free(void *io)
{
	(void)io;
}

const struct hf_io_ops hf_tcp_io = {
    .read = tcp_read,
    .write = tcp_write,
    .shutdown = tcp_shutdown,
    .pending_input = tcp_pending_input,
    .identity = tcp_identity,
    .free = tcp_free,
};
