/* persistence/mosq_import.c - mosquitto 2.0 mosquitto.db into a Holdfast
 * store (see mosq_import.h for the layout and the two steps).
 *
 * The parser reads through a bounded cursor: every read checks the bytes
 * left in the chunk first, so a truncated or lying length is an error
 * naming its offset, never a read past the buffer. Records are checked
 * against each other after the last chunk (a queued message names a
 * stored body; a retained mark names one) so an error can name the
 * referring chunk.
 *
 * What is carried over and what is not is listed in README.md ("Moving
 * from mosquitto"); the import maps mosquitto's in-flight states onto
 * Holdfast's three (queued, PUBLISH sent, PUBREL sent).
 *
 * Threading: pure functions, no global state. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mosq_import.h"

#define MQ_MAGIC_LEN 15
#define MQ_HDR_LEN   (MQ_MAGIC_LEN + 4 + 4)

enum {
	CH_CFG = 1,
	CH_MSG_STORE = 2,
	CH_CLIENT_MSG = 3,
	CH_RETAIN = 4,
	CH_SUB = 5,
	CH_CLIENT = 6,
};

/* Fixed parts of the chunks, as the C structs of mosquitto 2.0 lay them
 * out on x86-64 and ARM (padding included). */
#define FX_CFG        16
#define FX_MSG_STORE  32
#define FX_CLIENT_MSG 16
#define FX_SUB        12
#define FX_CLIENT     24
#define FX_RETAIN     8

/* mosquitto's message states (enum mosquitto_msg_state). */
enum {
	MS_PUBLISH_QOS0 = 1,
	MS_PUBLISH_QOS1 = 2,
	MS_WAIT_PUBACK = 3,
	MS_PUBLISH_QOS2 = 4,
	MS_WAIT_PUBREC = 5,
	MS_RESEND_PUBREL = 6,
	MS_WAIT_PUBREL = 7,
	MS_RESEND_PUBCOMP = 8,
	MS_WAIT_PUBCOMP = 9,
	MS_SEND_PUBREC = 10,
	MS_QUEUED = 11,
};

static const uint8_t mq_magic[MQ_MAGIC_LEN] = {0x00, 0xb5, 0x00, 'm', 'o',
                                               's',  'q',  'u',  'i', 't',
                                               't',  'o',  ' ',  'd', 'b'};

struct cur {
	const uint8_t *b;
	size_t pos, end; /* absolute offsets into b */
	char *err;
	size_t errlen;
};

static int __attribute__((format(printf, 3, 4)))
fail(struct cur *c, size_t off, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(c->err, c->errlen, "offset %zu: ", off);

	if (n < 0 || (size_t)n >= c->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static bool
need(struct cur *c, size_t n, const char *what)
{
	if (c->end - c->pos >= n)
		return true;
	fail(c, c->pos, "%s: needs %zu bytes, %zu left in the %s", what, n,
	     c->end - c->pos, "chunk");
	return false;
}

static uint16_t
be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static uint64_t
le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Grow an array by one; NULL when out of memory. */
static void *
push(void **v, size_t *n, size_t size)
{
	size_t cap = *n ? *n : 1;
	uint8_t *p;

	if ((*n & (*n - 1)) == 0 || *n == 0) { /* at powers of two */
		cap = *n ? *n * 2 : 8;
		p = realloc(*v, cap * size);
		if (!p)
			return NULL;
		*v = p;
	}
	p = (uint8_t *)*v + (*n)++ * size;
	memset(p, 0, size);
	return p;
}

#define PUSH(c, arr, n) push((void **)&(arr), &(n), sizeof(*(arr)))

static int
oom(struct cur *c)
{
	return fail(c, c->pos, "out of memory");
}

static bool
varint(struct cur *c, uint32_t *out)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++) {
		if (!need(c, 1, "property varint"))
			return false;
		uint8_t b = c->b[c->pos++];
		v |= (uint32_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*out = v;
			return true;
		}
	}
	fail(c, c->pos, "a varint longer than 4 bytes");
	return false;
}

static bool
str16(struct cur *c, const uint8_t **p, uint16_t *n, const char *what)
{
	if (!need(c, 2, what))
		return false;
	*n = be16(c->b + c->pos);
	c->pos += 2;
	if (!need(c, *n, what))
		return false;
	*p = c->b + c->pos;
	c->pos += *n;
	return true;
}

/* MQTT 5 properties of a stored message or a client message: a varint
 * length, then properties (MQTT 5.0 section 2.2.2), to the chunk's end.
 * m (message) or subid (client message) receive what Holdfast keeps. */
static bool
props(struct cur *c, struct hf_mq_msg *m, uint32_t *subid)
{
	uint32_t len;
	size_t start = c->pos;

	if (c->pos == c->end)
		return true; /* no properties */
	if (!varint(c, &len))
		return false;
	if (len != c->end - c->pos) {
		fail(c, start,
		     "properties length %" PRIu32 " but %zu bytes left in "
		     "the chunk",
		     len, c->end - c->pos);
		return false;
	}
	while (c->pos < c->end) {
		size_t at = c->pos;
		uint8_t id = c->b[c->pos++];
		const uint8_t *p, *q;
		uint16_t n, n2;
		uint32_t v;

		switch (id) {
		case 0x01: /* payload format indicator */
			if (!need(c, 1, "payload format"))
				return false;
			if (m) {
				m->has_pf = true;
				m->pf = c->b[c->pos];
			}
			c->pos++;
			break;
		case 0x02: /* message expiry: the chunk's expiry time has it */
			if (!need(c, 4, "message expiry"))
				return false;
			c->pos += 4;
			break;
		case 0x23: /* topic alias: per connection, dropped */
			if (!need(c, 2, "topic alias"))
				return false;
			c->pos += 2;
			break;
		case 0x03:
		case 0x08:
		case 0x09:
			if (!str16(c, &p, &n, "property"))
				return false;
			if (m && id == 0x03)
				m->ctype = p, m->ctype_len = n;
			else if (m && id == 0x08)
				m->rtopic = p, m->rtopic_len = n;
			else if (m)
				m->corr = p, m->corr_len = n;
			break;
		case 0x26: /* user property: kept wire encoded, id included */
			if (!str16(c, &p, &n, "user property name") ||
			    !str16(c, &q, &n2, "user property value"))
				return false;
			if (m) {
				if (!m->user)
					m->user = c->b + at;
				if (m->user + m->user_len != c->b + at) {
					fail(c, at,
					     "user properties are not "
					     "consecutive");
					return false;
				}
				m->user_len += (uint32_t)(c->pos - at);
				m->n_user++;
			}
			break;
		case 0x0b: /* subscription identifier */
			if (!varint(c, &v))
				return false;
			if (v == 0 || v > 268435455u) {
				fail(c, at, "subscription identifier %" PRIu32,
				     v);
				return false;
			}
			if (subid)
				*subid = v;
			break;
		default:
			fail(c, at, "property 0x%02x is not a PUBLISH property",
			     id);
			return false;
		}
	}
	return true;
}

static int
chunk_msg(struct cur *c, struct hf_mq_db *db, size_t off)
{
	const uint8_t *f = c->b + c->pos;
	struct hf_mq_msg *m;
	uint16_t sid_len, user_len;

	if (!need(c, FX_MSG_STORE, "message chunk"))
		return -1;
	if (!(m = PUSH(c, db->msgs, db->n_msgs)))
		return oom(c);
	m->off = off;
	m->id = le64(f);
	m->expiry_s = (int64_t)le64(f + 8);
	m->payload_len = be32(f + 16);
	sid_len = be16(f + 22);
	user_len = be16(f + 24);
	m->topic_len = be16(f + 26);
	m->qos = f[30];
	if (f[30] > 2)
		return fail(c, c->pos + 30, "message QoS %u", f[30]);
	if (f[31] > 1)
		return fail(c, c->pos + 31, "message retain flag %u", f[31]);
	m->retain = f[31];
	if (m->id == 0)
		return fail(c, c->pos, "message store id 0");
	if (m->expiry_s < 0)
		return fail(c, c->pos + 8, "negative expiry time");
	if (m->topic_len == 0)
		return fail(c, c->pos + 26, "empty topic");
	c->pos += FX_MSG_STORE;
	if (!need(c, (size_t)sid_len + user_len, "source client id/username"))
		return -1;
	c->pos += (size_t)sid_len + user_len;
	if (!need(c, m->topic_len, "topic"))
		return -1;
	m->topic = c->b + c->pos;
	c->pos += m->topic_len;
	if (!need(c, m->payload_len, "payload"))
		return -1;
	m->payload = c->b + c->pos;
	c->pos += m->payload_len;
	return props(c, m, NULL) ? 0 : -1;
}

static int
chunk_client(struct cur *c, struct hf_mq_db *db, size_t off)
{
	const uint8_t *f = c->b + c->pos;
	struct hf_mq_client *cl;

	if (!need(c, FX_CLIENT, "client chunk"))
		return -1;
	if (!(cl = PUSH(c, db->clients, db->n_clients)))
		return oom(c);
	cl->off = off;
	cl->expiry_time_s = (int64_t)le64(f);
	cl->expiry_interval = be32(f + 8);
	cl->id_len = be16(f + 14);
	cl->listener_port = be16(f + 16);
	cl->username_len = be16(f + 18);
	if (cl->id_len == 0)
		return fail(c, c->pos + 14, "empty client id");
	c->pos += FX_CLIENT;
	if (c->end - c->pos != (size_t)cl->id_len + cl->username_len)
		return fail(c, off,
		            "client chunk of %zu bytes, its lengths say %zu",
		            c->end - off - 8,
		            (size_t)FX_CLIENT + cl->id_len + cl->username_len);
	cl->id = c->b + c->pos;
	cl->username = cl->id + cl->id_len;
	c->pos = c->end;
	return 0;
}

static int
chunk_cmsg(struct cur *c, struct hf_mq_db *db, size_t off)
{
	const uint8_t *f = c->b + c->pos;
	struct hf_mq_cmsg *m;

	if (!need(c, FX_CLIENT_MSG, "client message chunk"))
		return -1;
	if (!(m = PUSH(c, db->cmsgs, db->n_cmsgs)))
		return oom(c);
	m->off = off;
	m->store_id = le64(f);
	m->mid = be16(f + 8);
	m->cid_len = be16(f + 10);
	m->qos = f[12];
	m->state = f[13];
	m->retain = (f[14] >> 4) != 0;
	m->direction = f[15];
	if (m->qos > 2)
		return fail(c, c->pos + 12, "client message QoS %u", m->qos);
	if (m->state < MS_PUBLISH_QOS0 || m->state > MS_QUEUED)
		return fail(c, c->pos + 13, "client message state %u",
		            m->state);
	if (m->direction > 1)
		return fail(c, c->pos + 15, "client message direction %u",
		            m->direction);
	c->pos += FX_CLIENT_MSG;
	if (m->cid_len == 0 || !need(c, m->cid_len, "client id"))
		return m->cid_len ? -1 : fail(c, off, "empty client id");
	m->cid = c->b + c->pos;
	c->pos += m->cid_len;
	return props(c, NULL, &m->subid) ? 0 : -1;
}

static int
chunk_sub(struct cur *c, struct hf_mq_db *db, size_t off)
{
	const uint8_t *f = c->b + c->pos;
	struct hf_mq_sub *s;

	if (!need(c, FX_SUB, "subscription chunk"))
		return -1;
	if (!(s = PUSH(c, db->subs, db->n_subs)))
		return oom(c);
	s->off = off;
	s->identifier = be32(f);
	s->cid_len = be16(f + 4);
	s->topic_len = be16(f + 6);
	s->qos = f[8];
	s->options = f[9];
	if (s->qos > 2)
		return fail(c, c->pos + 8, "subscription QoS %u", s->qos);
	/* Bits 2-3 are no local and retain as published; retain handling
	 * (4-5) applies at SUBSCRIBE time only; 6-7 are reserved. */
	if (s->options & 0xc0 || (s->options & 0x30) == 0x30)
		return fail(c, c->pos + 9, "subscription options 0x%02x",
		            s->options);
	if (s->identifier > 268435455u)
		return fail(c, c->pos, "subscription identifier %" PRIu32,
		            s->identifier);
	c->pos += FX_SUB;
	if (s->cid_len == 0 || s->topic_len == 0)
		return fail(c, off, "empty client id or filter");
	if (c->end - c->pos != (size_t)s->cid_len + s->topic_len)
		return fail(c, off,
		            "subscription chunk of %zu bytes, its lengths say "
		            "%zu",
		            c->end - off - 8,
		            (size_t)FX_SUB + s->cid_len + s->topic_len);
	s->cid = c->b + c->pos;
	s->topic = s->cid + s->cid_len;
	c->pos = c->end;
	return 0;
}

static int
by_id(const void *a, const void *b)
{
	uint64_t x = ((const struct hf_mq_msg *)a)->id;
	uint64_t y = ((const struct hf_mq_msg *)b)->id;

	return x < y ? -1 : x > y;
}

static struct hf_mq_msg *
find_msg(struct hf_mq_db *db, uint64_t id)
{
	struct hf_mq_msg key = {.id = id};

	if (!db->n_msgs)
		return NULL;
	return bsearch(&key, db->msgs, db->n_msgs, sizeof(key), by_id);
}

static struct hf_mq_client *
find_client(struct hf_mq_db *db, const uint8_t *id, size_t n)
{
	/* Linear: a one-off import of at most a few hundred thousand
	 * sessions is dominated by the store's writes. */
	for (size_t i = 0; i < db->n_clients; i++)
		if (db->clients[i].id_len == n &&
		    memcmp(db->clients[i].id, id, n) == 0)
			return &db->clients[i];
	return NULL;
}

/* Checks that need the whole file. */
static int
cross_check(struct cur *c, struct hf_mq_db *db)
{
	if (db->n_msgs)
		qsort(db->msgs, db->n_msgs, sizeof(*db->msgs), by_id);
	for (size_t i = 1; i < db->n_msgs; i++)
		if (db->msgs[i].id == db->msgs[i - 1].id)
			return fail(c, db->msgs[i].off,
			            "message store id %" PRIu64
			            " appears twice",
			            db->msgs[i].id);
	for (size_t i = 0; i < db->n_clients; i++)
		for (size_t j = 0; j < i; j++)
			if (db->clients[j].id_len == db->clients[i].id_len &&
			    !memcmp(db->clients[j].id, db->clients[i].id,
			            db->clients[i].id_len))
				return fail(c, db->clients[i].off,
				            "client id appears twice");
	for (size_t i = 0; i < db->n_cmsgs; i++)
		if (!find_msg(db, db->cmsgs[i].store_id))
			return fail(c, db->cmsgs[i].off,
			            "client message names store id %" PRIu64
			            ", which is not in the file",
			            db->cmsgs[i].store_id);
	for (size_t i = 0; i < db->n_retains; i++)
		if (!find_msg(db, db->retains[i].store_id))
			return fail(c, db->retains[i].off,
			            "retained message names store id %" PRIu64
			            ", which is not in the file",
			            db->retains[i].store_id);
	return 0;
}

int
hf_mq_parse(const uint8_t *buf, size_t len, struct hf_mq_db *db, char *err,
            size_t errlen)
{
	struct cur c = {buf, 0, len, err, errlen};
	bool cfg = false;

	memset(db, 0, sizeof(*db));
	if (len < MQ_HDR_LEN || memcmp(buf, mq_magic, MQ_MAGIC_LEN))
		return fail(&c, 0, "not a mosquitto persistence file (%s)",
		            len < MQ_HDR_LEN ? "shorter than its header"
		                             : "no mosquitto db magic");
	if (be32(buf + 19) != 6) {
		fail(&c, 19,
		     "persistence format version %" PRIu32
		     ", only 6 (mosquitto 2.0) is read",
		     be32(buf + 19));
		return -1;
	}
	c.pos = MQ_HDR_LEN;
	while (c.pos < len) {
		size_t off = c.pos;
		uint32_t type, clen;
		int rc;

		c.end = len;
		if (!need(&c, 8, "chunk header"))
			goto bad;
		type = be32(buf + off);
		clen = be32(buf + off + 4);
		c.pos += 8;
		if (clen > len - c.pos) {
			fail(&c, off,
			     "chunk of type %" PRIu32 " claims %" PRIu32
			     " bytes, the file has %zu left (truncated?)",
			     type, clen, len - c.pos);
			goto bad;
		}
		c.end = c.pos + clen;
		switch (type) {
		case CH_CFG:
			if (clen != FX_CFG) {
				rc = fail(&c, off,
				          "config chunk of %" PRIu32
				          " bytes, not %d",
				          clen, FX_CFG);
			} else if (buf[c.pos + 9] != 8) {
				rc = fail(&c, c.pos + 9,
				          "database id size %u, not 8",
				          buf[c.pos + 9]);
			} else {
				db->last_db_id = le64(buf + c.pos);
				cfg = true;
				rc = 0;
			}
			c.pos = c.end;
			break;
		case CH_MSG_STORE:
			rc = chunk_msg(&c, db, off);
			break;
		case CH_CLIENT_MSG:
			rc = chunk_cmsg(&c, db, off);
			break;
		case CH_RETAIN: {
			struct hf_mq_retain *r;

			if (clen != FX_RETAIN) {
				rc = fail(&c, off,
				          "retain chunk of %" PRIu32 " bytes, "
				          "not 8",
				          clen);
				break;
			}
			if (!(r = PUSH(&c, db->retains, db->n_retains))) {
				rc = oom(&c);
				break;
			}
			r->off = off;
			r->store_id = le64(buf + c.pos);
			c.pos = c.end;
			rc = 0;
			break;
		}
		case CH_SUB:
			rc = chunk_sub(&c, db, off);
			break;
		case CH_CLIENT:
			rc = chunk_client(&c, db, off);
			break;
		default:
			rc = fail(&c, off, "unknown chunk type %" PRIu32, type);
		}
		if (rc)
			goto bad;
		if (c.pos != c.end) {
			fail(&c, c.pos, "%zu bytes left over in the chunk",
			     c.end - c.pos);
			goto bad;
		}
	}
	if (!cfg) {
		fail(&c, len, "no config chunk in the file");
		goto bad;
	}
	c.end = len;
	if (cross_check(&c, db))
		goto bad;
	return 0;
bad:
	hf_mq_free(db);
	return -1;
}

void
hf_mq_free(struct hf_mq_db *db)
{
	free(db->msgs);
	free(db->clients);
	free(db->cmsgs);
	free(db->subs);
	free(db->retains);
	memset(db, 0, sizeof(*db));
}

/* ---- import --------------------------------------------------------- */

static int
store_fail(struct hf_store *st, int rc, const char *what, char *err,
           size_t errlen)
{
	snprintf(err, errlen, "%s: %s", what, hf_store_errmsg(st));
	return rc ? -1 : 0;
}

/* The engine's encoding of the properties it keeps (broker/engine/
 * durable.c, PROPS_HDR): payload format present + value, the lengths of
 * content type, response topic, correlation data and user properties,
 * the number of user properties, then those bytes in that order. */
static uint8_t *
props_blob(const struct hf_mq_msg *m, uint32_t *len)
{
	size_t n = 16 + (size_t)m->ctype_len + m->rtopic_len + m->corr_len +
	           m->user_len;
	uint8_t *b = malloc(n), *d;

	if (!b)
		return NULL;
	b[0] = m->has_pf;
	b[1] = m->pf;
	b[2] = (uint8_t)(m->ctype_len >> 8), b[3] = (uint8_t)m->ctype_len;
	b[4] = (uint8_t)(m->rtopic_len >> 8), b[5] = (uint8_t)m->rtopic_len;
	b[6] = (uint8_t)(m->corr_len >> 8), b[7] = (uint8_t)m->corr_len;
	for (int i = 0; i < 4; i++) {
		b[8 + i] = (uint8_t)(m->user_len >> (24 - 8 * i));
		b[12 + i] = (uint8_t)(m->n_user >> (24 - 8 * i));
	}
	d = b + 16;
	if (m->ctype_len)
		memcpy(d, m->ctype, m->ctype_len);
	d += m->ctype_len;
	if (m->rtopic_len)
		memcpy(d, m->rtopic, m->rtopic_len);
	d += m->rtopic_len;
	if (m->corr_len)
		memcpy(d, m->corr, m->corr_len);
	d += m->corr_len;
	if (m->user_len)
		memcpy(d, m->user, m->user_len);
	*len = (uint32_t)n;
	return b;
}

/* mosquitto's state of an outgoing message as Holdfast's: 0 queued (sent
 * as a new PUBLISH), 1 PUBLISH sent (resent with DUP and the same packet
 * id), 2 PUBREL sent; -1 for a state only incoming messages have. */
static int
out_state(const struct hf_mq_cmsg *m)
{
	switch (m->state) {
	case MS_PUBLISH_QOS0:
	case MS_PUBLISH_QOS1:
	case MS_PUBLISH_QOS2:
	case MS_QUEUED:
		return 0;
	case MS_WAIT_PUBACK:
	case MS_WAIT_PUBREC:
		return m->qos && m->mid ? 1 : 0;
	case MS_RESEND_PUBREL:
	case MS_WAIT_PUBCOMP:
		return m->qos == 2 && m->mid ? 2 : -1;
	default:
		return -1;
	}
}

static int
import_messages(struct hf_store *st, struct hf_mq_db *db, uint64_t mid_base,
                struct hf_mq_report *rep, char *err, size_t errlen)
{
	uint64_t next = mid_base;

	for (size_t i = 0; i < db->n_msgs; i++) {
		struct hf_mq_msg *m = &db->msgs[i];
		struct hf_store_msg r;
		uint32_t plen;
		uint8_t *blob;
		int rc;

		if (!m->refs) {
			rep->skipped_unused++;
			continue;
		}
		if (!(blob = props_blob(m, &plen))) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		m->new_id = ++next;
		r = (struct hf_store_msg){
		    .id = m->new_id,
		    .qos = m->qos,
		    .retain = m->retain,
		    .expiry_at = m->expiry_s * 1000,
		    .topic = m->topic,
		    .topic_len = m->topic_len,
		    .payload = m->payload,
		    .payload_len = m->payload_len,
		    .props = blob,
		    .props_len = plen,
		};
		rc = hf_store_msg_put(st, &r, m->refs);
		free(blob);
		if (rc)
			return store_fail(st, rc, "message write", err, errlen);
		rep->msgs++;
	}
	return 0;
}

static int
import_queue(struct hf_store *st, struct hf_mq_db *db, uint64_t sid_base,
             struct hf_mq_report *rep, char *err, size_t errlen)
{
	uint64_t *seq = calloc(db->n_clients + 1, sizeof(*seq));

	if (!seq) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < db->n_cmsgs; i++) {
		struct hf_mq_cmsg *c = &db->cmsgs[i];
		struct hf_mq_client *cl = find_client(db, c->cid, c->cid_len);
		struct hf_mq_msg *m = find_msg(db, c->store_id);
		size_t ci;
		int state, rc;

		if (!cl || c->direction == 0)
			continue;
		ci = (size_t)(cl - db->clients);
		state = out_state(c);
		if (state < 0) {
			snprintf(err, errlen,
			         "offset %zu: outgoing client message in state "
			         "%u (QoS %u)",
			         c->off, c->state, c->qos);
			free(seq);
			return -1;
		}
		/* Two in flight with one packet id would break the session. */
		for (size_t j = 0; state && j < i; j++) {
			struct hf_mq_cmsg *o = &db->cmsgs[j];

			if (o->direction == 1 && o->mid == c->mid &&
			    out_state(o) > 0 && o->cid_len == c->cid_len &&
			    !memcmp(o->cid, c->cid, c->cid_len)) {
				snprintf(
				    err, errlen,
				    "offset %zu: packet id %u is in flight "
				    "twice for one client",
				    c->off, c->mid);
				free(seq);
				return -1;
			}
		}
		struct hf_store_qentry e = {
		    .sid = sid_base + 1 + ci,
		    .seq = ++seq[ci],
		    .msg_id = m->new_id,
		    .payload_len = m->payload_len,
		    .qos = c->qos,
		    .state = (uint8_t)state,
		    .retain = c->retain,
		    .pid = state ? c->mid : 0,
		    .n_subids = c->subid ? 1 : 0,
		    .subids = c->subid ? &c->subid : NULL,
		    /* mosquitto does not record when it queued a message:
		     * stored as unknown, not as the time of the import. */
		    .queued_at = HF_STORE_QUEUED_UNKNOWN,
		};
		rc = hf_store_queue_put(st, &e);
		if (rc) {
			free(seq);
			return store_fail(st, rc, "queue write", err, errlen);
		}
		rep->queued++;
	}
	free(seq);
	return 0;
}

int
hf_mq_import(struct hf_store *st, struct hf_mq_db *db, uint64_t sid_base,
             uint64_t mid_base, int64_t now_ms,
             bool (*exists)(void *ctx, int kind, const uint8_t *p, size_t n),
             void *ctx, struct hf_mq_report *rep, char *err, size_t errlen)
{
	int rc;

	memset(rep, 0, sizeof(*rep));
	/* Count each body's references: its retained mark and the outgoing
	 * queue entries of the sessions that are imported. */
	for (size_t i = 0; i < db->n_retains; i++)
		find_msg(db, db->retains[i].store_id)->refs++;
	for (size_t i = 0; i < db->n_cmsgs; i++) {
		struct hf_mq_cmsg *c = &db->cmsgs[i];
		struct hf_mq_client *cl = find_client(db, c->cid, c->cid_len);

		if (!cl)
			rep->skipped_cmsgs++;
		else if (c->direction == 0)
			rep->skipped_inbound++;
		else {
			find_msg(db, c->store_id)->refs++;
			if (c->subid)
				cl->v5 = true;
		}
	}
	for (size_t i = 0; i < db->n_subs; i++) {
		struct hf_mq_sub *s = &db->subs[i];
		struct hf_mq_client *cl = find_client(db, s->cid, s->cid_len);

		if (cl && (s->identifier || s->options))
			cl->v5 = true;
	}
	for (size_t i = 0; i < db->n_clients; i++) {
		struct hf_mq_client *cl = &db->clients[i];

		if (exists && exists(ctx, 0, cl->id, cl->id_len)) {
			snprintf(err, errlen,
			         "offset %zu: client id %.*s is already in the "
			         "store",
			         cl->off, (int)cl->id_len, cl->id);
			return -1;
		}
	}
	for (size_t i = 0; i < db->n_retains; i++) {
		struct hf_mq_msg *m = find_msg(db, db->retains[i].store_id);

		for (size_t j = 0; j < i; j++)
			if (find_msg(db, db->retains[j].store_id) == m) {
				snprintf(err, errlen,
				         "offset %zu: message retained twice",
				         db->retains[i].off);
				return -1;
			}
		if (exists && exists(ctx, 1, m->topic, m->topic_len)) {
			snprintf(
			    err, errlen,
			    "offset %zu: a retained message for topic %.*s "
			    "is already in the store",
			    db->retains[i].off, (int)m->topic_len, m->topic);
			return -1;
		}
		m->retain = true; /* a retained mark needs the flag */
	}
	if (import_messages(st, db, mid_base, rep, err, errlen))
		return -1;
	for (size_t i = 0; i < db->n_clients; i++) {
		struct hf_mq_client *cl = &db->clients[i];
		bool never = cl->expiry_interval == UINT32_MAX;
		struct hf_store_session s = {
		    .sid = sid_base + 1 + i,
		    .client_id = cl->id,
		    .client_id_len = cl->id_len,
		    /* mosquitto does not store the protocol version; a
		     * 3.1.1 persistent session never expires. */
		    .proto = (never && !cl->v5) ? 4 : 5,
		    .expiry = cl->expiry_interval,
		    .disconnected_at =
		        (!never && cl->expiry_time_s > 0)
		            ? (cl->expiry_time_s - cl->expiry_interval) * 1000
		            : now_ms,
		    .has_username = cl->username_len > 0,
		    .username = cl->username,
		    .username_len = cl->username_len,
		    .listener_port = cl->listener_port,
		};
		if (s.disconnected_at <= 0)
			s.disconnected_at = now_ms;
		if ((rc = hf_store_session_put(st, &s)))
			return store_fail(st, rc, "session write", err, errlen);
		rep->sessions++;
	}
	for (size_t i = 0; i < db->n_subs; i++) {
		struct hf_mq_sub *u = &db->subs[i];
		struct hf_mq_client *cl = find_client(db, u->cid, u->cid_len);

		if (!cl) {
			rep->skipped_subs++;
			continue;
		}
		struct hf_store_sub r = {
		    .sid = sid_base + 1 + (uint64_t)(cl - db->clients),
		    .filter = u->topic,
		    .filter_len = u->topic_len,
		    .opts = (uint8_t)((u->options & 0x3c) | u->qos),
		    .sub_id = u->identifier,
		};
		if ((rc = hf_store_sub_put(st, &r)))
			return store_fail(st, rc, "subscription write", err,
			                  errlen);
		rep->subs++;
	}
	if (import_queue(st, db, sid_base, rep, err, errlen))
		return -1;
	for (size_t i = 0; i < db->n_retains; i++) {
		struct hf_mq_msg *m = find_msg(db, db->retains[i].store_id);

		if ((rc = hf_store_retain_put(st, m->new_id)))
			return store_fail(st, rc, "retained write", err,
			                  errlen);
		rep->retained++;
	}
	return 0;
}
