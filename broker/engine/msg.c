/* broker/engine/msg.c - refcounted application messages.
 *
 * A message is built once from a decoded PUBLISH (or a will, or a $SYS
 * value) into a single allocation that copies everything it must outlive
 * the packet with: topic, payload, and the MQTT 5 properties that are
 * forwarded to subscribers (payload format, expiry as an absolute wall-clock
 * time, content type, response topic, correlation data, user properties in
 * order). Queue entries, retained slots and wills hold references. Loop
 * thread only. */
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "broker.h"
#include "msg.h"

int64_t
hf_wall_ms(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* Messages alive in this process and their payload bytes ($SYS
 * store/messages/count and /bytes, mosquitto's "message store"). The one
 * piece of process-wide state in the engine, because a message is freed
 * wherever its last reference drops, with no broker at hand; a process
 * runs one broker (the engine tests' several share the count). */
static struct {
	uint64_t count, bytes;
} tally;

void
hf_msg_counted(const struct hf_msg *m)
{
	tally.count++;
	tally.bytes += m->payload_len;
}

void
hf_msg_tally(uint64_t *count, uint64_t *bytes)
{
	*count = tally.count;
	*bytes = tally.bytes;
}

struct hf_msg *
hf_msg_new(const struct hf_publish *p, int64_t now_wall)
{
	const struct hf_props *pr = &p->props;
	uint32_t ct =
	    (pr->present & HF_PP_CONTENT_TYPE) ? pr->content_type.len : 0;
	uint32_t rt =
	    (pr->present & HF_PP_RESPONSE_TOPIC) ? pr->response_topic.len : 0;
	uint32_t cd = (pr->present & HF_PP_CORRELATION_DATA)
	                  ? pr->correlation_data.len
	                  : 0;
	size_t ul = pr->n_user ? hf_props_user_wire_len(pr) : 0;
	size_t total =
	    (size_t)p->topic.len + p->payload.len + ct + rt + cd + ul;
	struct hf_msg *m = malloc(sizeof(*m) + total);
	if (!m)
		return NULL;
	memset(m, 0, sizeof(*m));
	m->refs = 1;
	m->payload_len = p->payload.len;
	hf_msg_counted(m);
	m->qos = p->qos;
	m->retain = p->retain;
	m->topic_len = (uint16_t)p->topic.len;
	m->payload_len = p->payload.len;
	m->ctype_len = (uint16_t)ct;
	m->rtopic_len = (uint16_t)rt;
	m->corr_len = (uint16_t)cd;
	m->user_len = (uint32_t)ul;
	m->n_user = pr->n_user;
	if (pr->present & HF_PP_PAYLOAD_FORMAT) {
		m->has_payload_format = true;
		m->payload_format = pr->payload_format;
	}
	if (pr->present & HF_PP_MESSAGE_EXPIRY) {
		m->has_expiry = true;
		m->expiry_at = now_wall + (int64_t)pr->message_expiry * 1000;
	}
	uint8_t *d = m->data;
	memcpy(d, p->topic.p, p->topic.len);
	d += p->topic.len;
	if (p->payload.len)
		memcpy(d, p->payload.p, p->payload.len);
	d += p->payload.len;
	if (ct)
		memcpy(d, pr->content_type.p, ct);
	d += ct;
	if (rt)
		memcpy(d, pr->response_topic.p, rt);
	d += rt;
	if (cd)
		memcpy(d, pr->correlation_data.p, cd);
	d += cd;
	if (ul)
		hf_props_user_copy(pr, d);
	return m;
}

struct hf_msg *
hf_msg_new_simple(const char *topic, const void *payload, size_t len,
                  uint8_t qos, bool retain)
{
	struct hf_publish p;
	memset(&p, 0, sizeof(p));
	p.topic.p = (const uint8_t *)topic;
	p.topic.len = (uint32_t)strlen(topic);
	p.payload.p = payload;
	p.payload.len = (uint32_t)len;
	p.qos = qos;
	p.retain = retain;
	return hf_msg_new(&p, 0);
}

void
hf_msg_ref(struct hf_msg *m)
{
	m->refs++;
}

void
hf_msg_unref(struct hf_msg *m)
{
	if (m && --m->refs == 0) {
		tally.count--;
		tally.bytes -= m->payload_len;
		if (m->cache)
			hf_map_del(m->cache, &m->store_id, sizeof(m->store_id));
		free(m);
	}
}

bool
hf_msg_expired(const struct hf_msg *m, int64_t now_wall)
{
	return m->has_expiry && now_wall >= m->expiry_at;
}
