/* tests/engine/eclient.c - a client of the harness's broker: MQTT packets
 * encoded with the project codec and fed to a slot, and what the slot got
 * read back (eclient.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eclient.h"

void
eh_send(struct eh *e, int i, struct hf_packet *p, uint8_t ver)
{
	struct hf_wbuf w = {0};
	if (hf_encode(p, ver, &w) == HF_OK)
		eh_feed(e, i, w.p, w.len);
	hf_wbuf_free(&w);
}

void
eh_cl_connect(struct eh *e, int i, uint8_t ver, const char *id, bool clean,
              uint32_t expiry, const char *will)
{
	struct hf_packet p;
	static const uint8_t user[] = {0x26, 0, 1, 'k', 0, 1, 'v'};
	memset(&p, 0, sizeof(p));
	p.type = HF_CONNECT;
	p.u.connect.proto_ver = ver;
	p.u.connect.clean_start = clean;
	p.u.connect.keepalive = 60;
	p.u.connect.client_id.p = (const uint8_t *)id;
	p.u.connect.client_id.len = (uint32_t)strlen(id);
	if (will) {
		p.u.connect.will = true;
		p.u.connect.will_qos = 1;
		p.u.connect.will_topic.p = (const uint8_t *)will;
		p.u.connect.will_topic.len = (uint32_t)strlen(will);
		p.u.connect.will_payload.p = (const uint8_t *)"gone";
		p.u.connect.will_payload.len = 4;
	}
	if (ver == HF_PROTO_V5) {
		if (expiry) {
			p.u.connect.props.present |= HF_PP_SESSION_EXPIRY;
			p.u.connect.props.session_expiry = expiry;
		}
		p.u.connect.props.present |= HF_PP_USER_PROPERTY;
		p.u.connect.props.user.p = user;
		p.u.connect.props.user.len = sizeof(user);
		p.u.connect.props.n_user = 1;
	}
	struct eh_conn *m = eh_connect(e, i);
	if (m) {
		m->proto = ver;
		eh_send(e, i, &p, ver);
	}
}

void
eh_cl_subscribe(struct eh *e, int i, uint8_t ver, const char *f, uint8_t qos,
                uint32_t id)
{
	struct hf_packet p;
	uint8_t entry[128];
	size_t n = strlen(f);
	entry[0] = (uint8_t)(n >> 8);
	entry[1] = (uint8_t)n;
	memcpy(entry + 2, f, n);
	entry[2 + n] = qos;
	memset(&p, 0, sizeof(p));
	p.type = HF_SUBSCRIBE;
	p.u.subscribe.pid = 7;
	p.u.subscribe.entries.p = entry;
	p.u.subscribe.entries.len = (uint32_t)n + 3;
	p.u.subscribe.n = 1;
	if (id && ver == HF_PROTO_V5) {
		p.u.subscribe.props.present |= HF_PP_SUBSCRIPTION_ID;
		p.u.subscribe.props.sub_ids = &id;
		p.u.subscribe.props.n_sub_ids = 1;
	}
	eh_send(e, i, &p, ver);
}

void
eh_cl_publish(struct eh *e, int i, uint8_t ver, const char *t,
              const char *payload, uint8_t qos, bool retain, uint16_t pid)
{
	struct hf_packet p;
	memset(&p, 0, sizeof(p));
	p.type = HF_PUBLISH;
	p.u.publish.qos = qos;
	p.u.publish.retain = retain;
	p.u.publish.pid = pid;
	p.u.publish.topic.p = (const uint8_t *)t;
	p.u.publish.topic.len = (uint32_t)strlen(t);
	p.u.publish.payload.p = (const uint8_t *)payload;
	p.u.publish.payload.len = (uint32_t)strlen(payload);
	eh_send(e, i, &p, ver);
}

void
eh_cl_ack(struct eh *e, int i, uint8_t ver, uint8_t type, uint16_t pid)
{
	struct hf_packet p;
	memset(&p, 0, sizeof(p));
	p.type = type;
	p.u.ack.pid = pid;
	eh_send(e, i, &p, ver);
}

/* Read slot i's packets; answer PUBLISH (PUBACK/PUBREC), PUBREL
 * (PUBCOMP) and PUBREC (PUBREL). */
void
eh_cl_read(struct eh *e, int i, uint8_t ver, struct eh_got *g)
{
	struct hf_packet p;
	uint8_t *body;
	int rc;
	while ((rc = eh_next_packet(e, i, &p, &body)) == 1) {
		switch (p.type) {
		case HF_CONNACK:
			g->connack_ok = p.u.connack.rc == 0;
			break;
		case HF_PUBACK:
		case HF_PUBREC:
			g->puback_seen = true;
			if (p.u.ack.rc < 0x80 && g->n_acked < 8)
				g->acked[g->n_acked++] = p.u.ack.pid;
			if (p.type == HF_PUBREC)
				eh_cl_ack(e, i, ver, HF_PUBREL, p.u.ack.pid);
			break;
		case HF_PUBREL:
			eh_cl_ack(e, i, ver, HF_PUBCOMP, p.u.ack.pid);
			break;
		case HF_PUBLISH:
			if (g->n_payloads < 16)
				snprintf(g->payloads[g->n_payloads++], 16,
				         "%.*s", (int)p.u.publish.payload.len,
				         (const char *)p.u.publish.payload.p);
			if (p.u.publish.qos == 1)
				eh_cl_ack(e, i, ver, HF_PUBACK,
				          p.u.publish.pid);
			else if (p.u.publish.qos == 2)
				eh_cl_ack(e, i, ver, HF_PUBREC,
				          p.u.publish.pid);
			break;
		default:
			break;
		}
		free(body);
	}
	free(body);
}

bool
eh_got_payload(const struct eh_got *g, const char *s)
{
	for (int k = 0; k < g->n_payloads; k++)
		if (strcmp(g->payloads[k], s) == 0)
			return true;
	return false;
}

bool
eh_got_acked(const struct eh_got *g, uint16_t pid)
{
	for (int k = 0; k < g->n_acked; k++)
		if (g->acked[k] == pid)
			return true;
	return false;
}

void
eh_cl_connect_init(struct hf_packet *p, uint8_t ver, const char *id, bool clean)
{
	memset(p, 0, sizeof(*p));
	p->type = HF_CONNECT;
	p->u.connect.proto_ver = ver;
	p->u.connect.clean_start = clean;
	p->u.connect.keepalive = 60;
	p->u.connect.client_id.p = (const uint8_t *)id;
	p->u.connect.client_id.len = (uint32_t)strlen(id);
}
