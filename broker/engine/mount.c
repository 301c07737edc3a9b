/* broker/engine/mount.c - mount_point: see mount.h. */
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "client.h"
#include "config.h"
#include "mount.h"

const char *
hf_mount_point(const struct hf_client *c)
{
	const struct hf_listener_conf *l = c->policy ? c->policy->conf : NULL;
	return l && l->mount_point && l->mount_point[0] ? l->mount_point : NULL;
}

/* head, then mount, then tail, into the scratch buffer. */
static bool
join(struct hf_broker *b, const uint8_t *head, size_t hlen, const char *mount,
     const uint8_t *tail, size_t tlen, struct hf_bytes *out)
{
	size_t mlen = strlen(mount);
	size_t n = hlen + mlen + tlen;
	if (n > 65535)
		return false;
	if (n > b->mount_cap) {
		uint8_t *p = realloc(b->mount_buf, n);
		if (!p)
			return false;
		b->mount_buf = p;
		b->mount_cap = n;
	}
	/* memcpy's pointers must be valid even for length 0 (C11 7.24.1). */
	if (hlen)
		memcpy(b->mount_buf, head, hlen);
	memcpy(b->mount_buf + hlen, mount, mlen);
	if (tlen)
		memcpy(b->mount_buf + hlen + mlen, tail, tlen);
	out->p = b->mount_buf;
	out->len = n;
	return true;
}

bool
hf_mount_topic(struct hf_client *c, struct hf_bytes in, struct hf_bytes *out)
{
	const char *m = hf_mount_point(c);
	if (!m) {
		*out = in;
		return true;
	}
	return join(c->b, NULL, 0, m, in.p, in.len, out);
}

bool
hf_mount_filter(struct hf_client *c, struct hf_bytes in, struct hf_bytes *out)
{
	const char *m = hf_mount_point(c);
	if (!m) {
		*out = in;
		return true;
	}
	size_t head = 0;
	if (in.len > 7 && memcmp(in.p, "$share/", 7) == 0) {
		/* The group stays where the tree looks for it. */
		const uint8_t *g = memchr(in.p + 7, '/', in.len - 7);
		if (g)
			head = (size_t)(g + 1 - in.p);
	}
	return join(c->b, in.p, head, m, in.p + head, in.len - head, out);
}

size_t
hf_mount_strip(const struct hf_client *c, const uint8_t *topic, size_t len)
{
	const char *m = hf_mount_point(c);
	if (!m)
		return 0;
	size_t mlen = strlen(m);
	return len > mlen && memcmp(topic, m, mlen) == 0 ? mlen : 0;
}

void
hf_mount_free(struct hf_broker *b)
{
	free(b->mount_buf);
	b->mount_buf = NULL;
	b->mount_cap = 0;
}
