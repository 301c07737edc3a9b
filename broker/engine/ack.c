/* broker/engine/ack.c - a client's acknowledgments of what the broker sent
 * it: PUBACK ends a QoS 1 flow; PUBREC moves a QoS 2 flow to PUBREL (or
 * ends it on a failure code); PUBCOMP ends it. A finished flow frees its
 * window slot; the slots one read frees are refilled once after that read
 * (client.c). Loop thread only. */
#include <stdlib.h>
#include <string.h>

#include "ack.h"
#include "broker.h"
#include "durable.h"
#include "flow.h"
#include "outq.h"
#include "send.h"

static struct hf_qentry *
find_inflight(struct hf_session *s, uint16_t pid, struct hf_qentry **prev)
{
	*prev = NULL;
	for (struct hf_qentry *e = s->inf_head; e; e = e->next) {
		if (e->pid == pid)
			return e;
		*prev = e;
	}
	return NULL;
}

void
hf_handle_puback(struct hf_client *c, const struct hf_ack *a)
{
	struct hf_session *s = c->s;
	struct hf_qentry *prev, *e = find_inflight(s, a->pid, &prev);
	if (!e || e->qos != 1)
		return; /* unknown: nothing to do */
	hf_flow_acked(s);
	hf_inflight_remove(s, prev, e);
	c->pump_due = true; /* refilled after this read (client.c) */
}

void
hf_handle_pubrec(struct hf_client *c, const struct hf_ack *a)
{
	struct hf_session *s = c->s;
	struct hf_qentry *prev, *e = find_inflight(s, a->pid, &prev);
	if (!e || e->qos != 2) {
		hf_send_ack(c, HF_PUBREL, a->pid, HF_RC_PACKET_ID_NOT_FOUND);
		return;
	}
	if (a->rc >= 0x80) {
		/* The receiver refused it: the flow ends here (v5 4.3.3). */
		hf_inflight_remove(s, prev, e);
		hf_session_pump(s);
		return;
	}
	hf_flow_acked(s);
	e->state = HF_Q_RELEASED;
	hf_dur_qentry_put(s, e);
	hf_send_ack(c, HF_PUBREL, a->pid, HF_RC_SUCCESS);
}

void
hf_handle_pubcomp(struct hf_client *c, const struct hf_ack *a)
{
	struct hf_session *s = c->s;
	struct hf_qentry *prev, *e = find_inflight(s, a->pid, &prev);
	if (!e || e->state != HF_Q_RELEASED)
		return;
	hf_flow_acked(s);
	hf_inflight_remove(s, prev, e);
	c->pump_due = true; /* refilled after this read (client.c) */
}
