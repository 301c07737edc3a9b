/* tests/unit/codec_test.c - unit tests of the MQTT codec (broker/codec).
 *
 * Round trips (encode -> frame -> decode, every field compared) for all 15
 * packet types in v3.1.1 and v5 and CONNECT in v3.1; v5 properties of every
 * kind; a table of hand-written malformed packets with the reason code each
 * must produce; tables for variable byte integers, UTF-8, topic names and
 * filters; and a deterministic robustness loop feeding random and mutated
 * bytes to hf_frame_parse()/hf_decode() in every version, checking that any
 * packet accepted re-encodes and decodes to the same thing. Run it under
 * ASan+UBSan: each decoded body sits in its own exact-size heap block so any
 * read past it is caught.
 *
 * Threading/ownership: single-threaded test program. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "holdfast/codec.h"
#include "test.h"

#define B(s) ((struct hf_bytes){(const uint8_t *)(s), sizeof(s) - 1})

static bool
beq(struct hf_bytes a, struct hf_bytes b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* ---- comparison of packets -------------------------------------------- */

#define EQ(x)                                                                  \
	do {                                                                   \
		if (!(x)) {                                                    \
			fprintf(stderr, "  mismatch: %s\n", #x);               \
			return false;                                          \
		}                                                              \
	} while (0)

/* Subscription identifiers of encode-form (array or sub_id) or decoded
 * (walk the block) properties. */
static uint32_t
sub_ids_of(const struct hf_props *p, bool dec, uint32_t *out, uint32_t max)
{
	uint32_t n = 0, off = 0, id;

	if (!dec && p->sub_ids && p->n_sub_ids) {
		for (n = 0; n < p->n_sub_ids && n < max; n++)
			out[n] = p->sub_ids[n];
		return n;
	}
	if (!(p->present & HF_PP_SUBSCRIPTION_ID))
		return 0;
	if (!dec) {
		out[0] = p->sub_id;
		return 1;
	}
	while (n < max && hf_props_sub_id_next(p, &off, &id))
		out[n++] = id;
	return n;
}

static bool
props_eq(const struct hf_props *a, bool adec, const struct hf_props *b,
         bool bdec)
{
	const uint32_t mask = ~(HF_PP_USER_PROPERTY | HF_PP_SUBSCRIPTION_ID);
	uint32_t sa[64], sb[64], na, nb, i;
	size_t ua, ub;
	uint8_t *wa, *wb;
	bool same;

	EQ((a->present & mask) == (b->present & mask));
#define PEQ(bit, f)  EQ(!(a->present & (bit)) || a->f == b->f)
#define PBEQ(bit, f) EQ(!(a->present & (bit)) || beq(a->f, b->f))
	PEQ(HF_PP_PAYLOAD_FORMAT, payload_format);
	PEQ(HF_PP_REQUEST_PROBLEM, request_problem);
	PEQ(HF_PP_REQUEST_RESPONSE, request_response);
	PEQ(HF_PP_MAXIMUM_QOS, maximum_qos);
	PEQ(HF_PP_RETAIN_AVAILABLE, retain_available);
	PEQ(HF_PP_WILDCARD_SUB_AVAIL, wildcard_sub_avail);
	PEQ(HF_PP_SUB_ID_AVAIL, sub_id_avail);
	PEQ(HF_PP_SHARED_SUB_AVAIL, shared_sub_avail);
	PEQ(HF_PP_SERVER_KEEP_ALIVE, server_keep_alive);
	PEQ(HF_PP_RECEIVE_MAX, receive_max);
	PEQ(HF_PP_TOPIC_ALIAS_MAX, topic_alias_max);
	PEQ(HF_PP_TOPIC_ALIAS, topic_alias);
	PEQ(HF_PP_MESSAGE_EXPIRY, message_expiry);
	PEQ(HF_PP_SESSION_EXPIRY, session_expiry);
	PEQ(HF_PP_WILL_DELAY, will_delay);
	PEQ(HF_PP_MAX_PACKET_SIZE, max_packet_size);
	PBEQ(HF_PP_CONTENT_TYPE, content_type);
	PBEQ(HF_PP_RESPONSE_TOPIC, response_topic);
	PBEQ(HF_PP_CORRELATION_DATA, correlation_data);
	PBEQ(HF_PP_ASSIGNED_CLIENT_ID, assigned_client_id);
	PBEQ(HF_PP_AUTH_METHOD, auth_method);
	PBEQ(HF_PP_AUTH_DATA, auth_data);
	PBEQ(HF_PP_RESPONSE_INFO, response_info);
	PBEQ(HF_PP_SERVER_REFERENCE, server_reference);
	PBEQ(HF_PP_REASON_STRING, reason_string);
#undef PEQ
#undef PBEQ
	na = sub_ids_of(a, adec, sa, 64);
	nb = sub_ids_of(b, bdec, sb, 64);
	EQ(na == nb);
	for (i = 0; i < na; i++)
		EQ(sa[i] == sb[i]);
	if (bdec && nb)
		EQ(b->n_sub_ids == nb && b->sub_id == sb[0]);
	ua = hf_props_user_wire_len(a);
	ub = hf_props_user_wire_len(b);
	EQ(ua == ub);
	if (bdec)
		EQ((b->n_user != 0) == (ub != 0));
	wa = malloc(ua + 1);
	wb = malloc(ub + 1);
	hf_props_user_copy(a, wa);
	hf_props_user_copy(b, wb);
	same = memcmp(wa, wb, ua) == 0;
	free(wa);
	free(wb);
	EQ(same);
	return true;
}

static uint32_t
count_entries(const struct hf_subscribe *s, bool sub)
{
	struct hf_bytes f;
	uint32_t off = 0, n = 0;
	uint8_t o;

	while (sub ? hf_sub_next(s, &off, &f, &o) : hf_unsub_next(s, &off, &f))
		n++;
	return n;
}

/* a: what was encoded (adec: a decoded packet, else encode form);
 * b: what came back from hf_decode(). */
static bool
pkt_eq(const struct hf_packet *a, bool adec, const struct hf_packet *b,
       uint8_t ver)
{
	bool v5 = ver == HF_PROTO_V5;

	EQ(a->type == b->type);
	switch (a->type) {
	case HF_CONNECT: {
		const struct hf_connect *x = &a->u.connect, *y = &b->u.connect;

		EQ(y->proto_ver == ver);
		EQ(x->clean_start == y->clean_start);
		EQ(x->will == y->will);
		EQ(x->keepalive == y->keepalive);
		EQ(x->has_username == y->has_username);
		EQ(x->has_password == y->has_password);
		EQ(beq(x->client_id, y->client_id));
		EQ(!v5 || props_eq(&x->props, adec, &y->props, true));
		if (x->will) {
			EQ(x->will_qos == y->will_qos);
			EQ(x->will_retain == y->will_retain);
			EQ(beq(x->will_topic, y->will_topic));
			EQ(beq(x->will_payload, y->will_payload));
			EQ(!v5 || props_eq(&x->will_props, adec, &y->will_props,
			                   true));
		}
		EQ(!x->has_username || beq(x->username, y->username));
		EQ(!x->has_password || beq(x->password, y->password));
		break;
	}
	case HF_CONNACK:
		EQ(a->u.connack.session_present ==
		   b->u.connack.session_present);
		EQ(a->u.connack.rc == b->u.connack.rc);
		EQ(!v5 || props_eq(&a->u.connack.props, adec,
		                   &b->u.connack.props, true));
		break;
	case HF_PUBLISH: {
		const struct hf_publish *x = &a->u.publish, *y = &b->u.publish;

		EQ(x->qos == y->qos && x->dup == y->dup);
		EQ(x->retain == y->retain);
		EQ(x->qos == 0 || x->pid == y->pid);
		EQ(beq(x->topic, y->topic));
		EQ(beq(x->payload, y->payload));
		EQ(!v5 || props_eq(&x->props, adec, &y->props, true));
		break;
	}
	case HF_PUBACK:
	case HF_PUBREC:
	case HF_PUBREL:
	case HF_PUBCOMP:
	case HF_DISCONNECT:
	case HF_AUTH:
		EQ(a->type >= HF_DISCONNECT || a->u.ack.pid == b->u.ack.pid);
		EQ(!v5 || a->u.ack.rc == b->u.ack.rc);
		EQ(!v5 ||
		   props_eq(&a->u.ack.props, adec, &b->u.ack.props, true));
		break;
	case HF_SUBSCRIBE:
	case HF_UNSUBSCRIBE: {
		const struct hf_subscribe *x = &a->u.subscribe,
		                          *y = &b->u.subscribe;
		bool sub = a->type == HF_SUBSCRIBE;

		EQ(x->pid == y->pid);
		EQ(beq(x->entries, y->entries));
		EQ(count_entries(x, sub) == y->n);
		EQ(!v5 || props_eq(&x->props, adec, &y->props, true));
		break;
	}
	case HF_SUBACK:
	case HF_UNSUBACK: {
		const struct hf_suback *x = &a->u.suback, *y = &b->u.suback;

		EQ(x->pid == y->pid);
		if (v5 || a->type == HF_SUBACK) {
			EQ(x->n == y->n);
			EQ(x->n == 0 || memcmp(x->rcs, y->rcs, x->n) == 0);
		}
		EQ(!v5 || props_eq(&x->props, adec, &y->props, true));
		break;
	}
	default:
		break;
	}
	return true;
}

/* Encode, check size, frame, decode from an exact-size heap copy. The
 * copy is returned in *body (caller frees) since *out points into it. */
static int
enc_dec(const struct hf_packet *in, uint8_t ver, struct hf_packet *out,
        uint8_t **body, struct hf_wbuf *wb)
{
	struct hf_frame f;
	int rc;

	*body = NULL;
	wb->len = 0;
	rc = hf_encode(in, ver, wb);
	if (rc != HF_OK)
		return 1000 + rc;
	if (hf_encode_size(in, ver) != wb->len)
		return 2000;
	rc = hf_frame_parse(wb->p, wb->len, 0, &f);
	if (rc != HF_OK)
		return 3000 + rc;
	if (f.hdr_len + f.body_len != wb->len)
		return 4000;
	*body = malloc(f.body_len ? f.body_len : 1);
	memcpy(*body, wb->p + f.hdr_len, f.body_len);
	return hf_decode(f.type_flags, *body, f.body_len, ver, out);
}

/* Round-trip one encode-form packet and compare. */
static bool
roundtrip(const struct hf_packet *in, uint8_t ver)
{
	struct hf_wbuf wb = {0};
	struct hf_packet out;
	uint8_t *body;
	int rc = enc_dec(in, ver, &out, &body, &wb);
	bool ok = rc == HF_OK && pkt_eq(in, false, &out, ver);

	if (!ok)
		fprintf(stderr, "  roundtrip type %d ver %d rc %d\n", in->type,
		        ver, rc);
	free(body);
	hf_wbuf_free(&wb);
	return ok;
}

/* ---- packet builders -------------------------------------------------- */

/* Append one user property in wire form. */
static size_t
put_user(uint8_t *out, const char *k, const char *v)
{
	size_t kl = strlen(k), vl = strlen(v), n = 0;

	out[n++] = HF_PROP_USER_PROPERTY;
	out[n++] = (uint8_t)(kl >> 8);
	out[n++] = (uint8_t)kl;
	memcpy(out + n, k, kl);
	n += kl;
	out[n++] = (uint8_t)(vl >> 8);
	out[n++] = (uint8_t)vl;
	memcpy(out + n, v, vl);
	return n + vl;
}

struct ubuf {
	uint8_t b[128];
};

static void
add_users(struct hf_props *p, struct ubuf *u)
{
	size_t n = put_user(u->b, "k1", "v1");

	n += put_user(u->b + n, "k\xc3\xa9", "");
	n += put_user(u->b + n, "k1", "again");
	p->user.p = u->b;
	p->user.len = (uint32_t)n;
	p->present |= HF_PP_USER_PROPERTY;
}

static struct ubuf ub_a, ub_b; /* read-only after setup in each case */

static void
connect_pkt(struct hf_packet *p, bool will, bool full_props)
{
	struct hf_connect *c = &p->u.connect;

	memset(p, 0, sizeof(*p));
	p->type = HF_CONNECT;
	c->clean_start = true;
	c->keepalive = 0xbeef;
	c->client_id = B("client-\xe2\x82\xac");
	c->has_username = true;
	c->username = B("user");
	c->has_password = true;
	c->password = B("p\x00w\xff");
	if (will) {
		c->will = true;
		c->will_qos = 2;
		c->will_retain = true;
		c->will_topic = B("will/topic");
		c->will_payload = B("bye \xf0\x9f\x98\x80");
	}
	if (!full_props)
		return;
	c->props.present = HF_PP_SESSION_EXPIRY | HF_PP_AUTH_METHOD |
	                   HF_PP_AUTH_DATA | HF_PP_REQUEST_PROBLEM |
	                   HF_PP_REQUEST_RESPONSE | HF_PP_RECEIVE_MAX |
	                   HF_PP_TOPIC_ALIAS_MAX | HF_PP_MAX_PACKET_SIZE;
	c->props.session_expiry = 0xffffffffu;
	c->props.auth_method = B("SCRAM");
	c->props.auth_data = B("\x00\x01\x02");
	c->props.request_problem = 0;
	c->props.request_response = 1;
	c->props.receive_max = 65535;
	c->props.topic_alias_max = 10;
	c->props.max_packet_size = 268435460u;
	add_users(&c->props, &ub_a);
	if (will) {
		struct hf_props *w = &c->will_props;

		w->present = HF_PP_PAYLOAD_FORMAT | HF_PP_MESSAGE_EXPIRY |
		             HF_PP_CONTENT_TYPE | HF_PP_RESPONSE_TOPIC |
		             HF_PP_CORRELATION_DATA | HF_PP_WILL_DELAY;
		w->payload_format = 1;
		w->message_expiry = 3600;
		w->content_type = B("text/plain");
		w->response_topic = B("resp/t");
		w->correlation_data = B("\xde\xad");
		w->will_delay = 5;
		add_users(w, &ub_b);
	}
}

static void
test_connect_roundtrip(void)
{
	struct hf_packet p;
	int w, u, pw, ver;
	static const uint8_t vers[] = {HF_PROTO_V31, HF_PROTO_V311,
	                               HF_PROTO_V5};

	for (ver = 0; ver < 3; ver++) {
		for (w = 0; w < 2; w++) {
			for (u = 0; u < 2; u++) {
				for (pw = 0; pw <= u; pw++) {
					connect_pkt(&p, w, vers[ver] == 5);
					p.u.connect.has_username = u;
					p.u.connect.has_password = pw;
					CHECK(roundtrip(&p, vers[ver]));
				}
			}
		}
		/* Minimal: empty client id, no flags. */
		memset(&p, 0, sizeof(p));
		p.type = HF_CONNECT;
		CHECK(roundtrip(&p, vers[ver]));
	}
	/* v5: password without user name is fine. */
	connect_pkt(&p, false, true);
	p.u.connect.has_username = false;
	CHECK(roundtrip(&p, HF_PROTO_V5));
	/* Will QoS values. */
	for (w = 0; w < 3; w++) {
		connect_pkt(&p, true, false);
		p.u.connect.will_qos = (uint8_t)w;
		p.u.connect.will_retain = false;
		CHECK(roundtrip(&p, HF_PROTO_V311));
	}
}

static void
test_connack_roundtrip(void)
{
	struct hf_packet p;
	struct hf_props *pr = &p.u.connack.props;

	memset(&p, 0, sizeof(p));
	p.type = HF_CONNACK;
	p.u.connack.session_present = true;
	CHECK(roundtrip(&p, HF_PROTO_V311));
	p.u.connack.session_present = false;
	p.u.connack.rc = HF_CONNACK_NOT_AUTHORIZED;
	CHECK(roundtrip(&p, HF_PROTO_V311));
	CHECK_EQ(hf_encode_size(&p, HF_PROTO_V311), 4);
	CHECK_EQ(hf_encode_size(&p, HF_PROTO_V5), 5);
	CHECK(roundtrip(&p, HF_PROTO_V5));
	p.u.connack.session_present = true;
	p.u.connack.rc = 0;
	pr->present = HF_PP_SESSION_EXPIRY | HF_PP_ASSIGNED_CLIENT_ID |
	              HF_PP_SERVER_KEEP_ALIVE | HF_PP_AUTH_METHOD |
	              HF_PP_AUTH_DATA | HF_PP_RESPONSE_INFO |
	              HF_PP_SERVER_REFERENCE | HF_PP_REASON_STRING |
	              HF_PP_RECEIVE_MAX | HF_PP_TOPIC_ALIAS_MAX |
	              HF_PP_MAXIMUM_QOS | HF_PP_RETAIN_AVAILABLE |
	              HF_PP_MAX_PACKET_SIZE | HF_PP_WILDCARD_SUB_AVAIL |
	              HF_PP_SUB_ID_AVAIL | HF_PP_SHARED_SUB_AVAIL;
	pr->session_expiry = 7;
	pr->assigned_client_id = B("auto-1234");
	pr->server_keep_alive = 30;
	pr->auth_method = B("m");
	pr->auth_data = B("");
	pr->response_info = B("info");
	pr->server_reference = B("other:1883");
	pr->reason_string = B("ok");
	pr->receive_max = 1;
	pr->topic_alias_max = 0;
	pr->maximum_qos = 1;
	pr->retain_available = 0;
	pr->max_packet_size = 1;
	pr->wildcard_sub_avail = 1;
	pr->sub_id_avail = 0;
	pr->shared_sub_avail = 1;
	add_users(pr, &ub_a);
	CHECK(roundtrip(&p, HF_PROTO_V5));
	CHECK(roundtrip(&p, HF_PROTO_V311)); /* props dropped */
	/* 3.1: the first byte is reserved, no Session Present. */
	{
		struct hf_wbuf wb = {0};

		memset(&p, 0, sizeof(p));
		p.type = HF_CONNACK;
		p.u.connack.session_present = true;
		CHECK_EQ(hf_encode(&p, HF_PROTO_V31, &wb), HF_OK);
		CHECK_EQ(wb.len, 4);
		CHECK_MEM(wb.p, "\x20\x02\x00\x00", 4);
		wb.len = 0;
		CHECK_EQ(hf_encode(&p, HF_PROTO_V311, &wb), HF_OK);
		CHECK_MEM(wb.p, "\x20\x02\x01\x00", 4);
		hf_wbuf_free(&wb);
	}
}

static void
test_publish_roundtrip(void)
{
	static const uint32_t ids[] = {1, 127, 128, 16384, 268435455u};
	struct hf_packet p;
	struct hf_publish *pb = &p.u.publish;
	int q, d, r;

	for (q = 0; q < 3; q++) {
		for (d = 0; d < 2; d++) {
			for (r = 0; r < 2; r++) {
				if (q == 0 && d)
					continue;
				memset(&p, 0, sizeof(p));
				p.type = HF_PUBLISH;
				pb->qos = (uint8_t)q;
				pb->dup = d;
				pb->retain = r;
				pb->pid = q ? 65535 : 0;
				pb->topic = B("a/b/\xe4\xb8\xad");
				pb->payload = B("\x00\x01payload\xff");
				CHECK(roundtrip(&p, HF_PROTO_V311));
				CHECK(roundtrip(&p, HF_PROTO_V31));
				CHECK(roundtrip(&p, HF_PROTO_V5));
			}
		}
	}
	/* Empty payload. */
	pb->payload = B("");
	CHECK(roundtrip(&p, HF_PROTO_V311));
	/* v5 with all PUBLISH properties and several subscription ids. */
	memset(&p, 0, sizeof(p));
	p.type = HF_PUBLISH;
	pb->qos = 1;
	pb->pid = 9;
	pb->topic = B("");
	pb->payload = B("utf8 \xc3\xa9");
	pb->props.present = HF_PP_PAYLOAD_FORMAT | HF_PP_MESSAGE_EXPIRY |
	                    HF_PP_CONTENT_TYPE | HF_PP_RESPONSE_TOPIC |
	                    HF_PP_CORRELATION_DATA | HF_PP_TOPIC_ALIAS;
	pb->props.payload_format = 1;
	pb->props.message_expiry = 0;
	pb->props.content_type = B("application/json");
	pb->props.response_topic = B("reply/to/me");
	pb->props.correlation_data = B("\x00\x00");
	pb->props.topic_alias = 65535;
	pb->props.sub_ids = ids;
	pb->props.n_sub_ids = 5;
	add_users(&pb->props, &ub_a);
	CHECK(roundtrip(&p, HF_PROTO_V5));
	/* One sub id through sub_id. */
	pb->props.sub_ids = NULL;
	pb->props.n_sub_ids = 0;
	pb->props.present |= HF_PP_SUBSCRIPTION_ID;
	pb->props.sub_id = 42;
	CHECK(roundtrip(&p, HF_PROTO_V5));
}

static void
test_ack_roundtrip(void)
{
	static const uint8_t types[] = {HF_PUBACK, HF_PUBREC, HF_PUBREL,
	                                HF_PUBCOMP};
	struct hf_packet p;
	struct hf_wbuf wb = {0};
	unsigned i;

	for (i = 0; i < 4; i++) {
		memset(&p, 0, sizeof(p));
		p.type = types[i];
		p.u.ack.pid = 0x1234;
		CHECK(roundtrip(&p, HF_PROTO_V311));
		CHECK_EQ(hf_encode_size(&p, HF_PROTO_V311), 4);
		CHECK_EQ(hf_encode_size(&p, HF_PROTO_V5), 4); /* rc 0 short */
		CHECK(roundtrip(&p, HF_PROTO_V5));
		p.u.ack.rc = HF_RC_NO_MATCHING_SUBSCRIBERS;
		CHECK_EQ(hf_encode_size(&p, HF_PROTO_V5), 5); /* rc only */
		CHECK(roundtrip(&p, HF_PROTO_V5));
		CHECK(roundtrip(&p, HF_PROTO_V311));
		p.u.ack.props.present = HF_PP_REASON_STRING;
		p.u.ack.props.reason_string = B("why not");
		add_users(&p.u.ack.props, &ub_a);
		CHECK(roundtrip(&p, HF_PROTO_V5));
		p.u.ack.rc = 0; /* rc 0 but properties: full form */
		CHECK(roundtrip(&p, HF_PROTO_V5));
		CHECK(hf_encode_size(&p, HF_PROTO_V5) > 5);
		wb.len = 0;
		CHECK_EQ(hf_encode(&p, HF_PROTO_V5, &wb), HF_OK);
		CHECK_EQ(wb.p[0],
		         types[i] << 4 | (types[i] == HF_PUBREL ? 2 : 0));
		/* Success without properties: the short form, Remaining
		 * Length 2, reason code and property length left out
		 * (3.4.2.1, 3.5.2.1, 3.6.2.1, 3.7.2.1), byte for byte. */
		memset(&p, 0, sizeof(p));
		p.type = types[i];
		p.u.ack.pid = 0x1234;
		wb.len = 0;
		CHECK_EQ(hf_encode(&p, HF_PROTO_V5, &wb), HF_OK);
		CHECK_EQ(wb.len, 4);
		CHECK_EQ(wb.p[0],
		         types[i] << 4 | (types[i] == HF_PUBREL ? 2 : 0));
		CHECK_MEM(wb.p + 1, "\x02\x12\x34", 3);
		/* A failure code alone: Remaining Length 3, no property
		 * length (it is 0 when the packet ends there). */
		p.u.ack.rc = HF_RC_PACKET_ID_NOT_FOUND;
		wb.len = 0;
		CHECK_EQ(hf_encode(&p, HF_PROTO_V5, &wb), HF_OK);
		CHECK_EQ(wb.len, 5);
		CHECK_MEM(wb.p + 1, "\x03\x12\x34\x92", 4);
	}
	hf_wbuf_free(&wb);
}

static void
test_sub_roundtrip(void)
{
	static const uint8_t ent[] = "\x00\x03"
	                             "a/b"
	                             "\x01"
	                             "\x00\x01"
	                             "#"
	                             "\x02"
	                             "\x00\x0c"
	                             "$share/g/+/x"
	                             "\x00";
	static const uint8_t ent5[] = "\x00\x03"
	                              "a/b"
	                              "\x2d"
	                              "\x00\x03"
	                              "+/+"
	                              "\x1a";
	static const uint8_t uent[] = "\x00\x03"
	                              "a/b"
	                              "\x00\x01"
	                              "#";
	struct hf_packet p;
	struct hf_subscribe *s = &p.u.subscribe;

	memset(&p, 0, sizeof(p));
	p.type = HF_SUBSCRIBE;
	s->pid = 1;
	s->entries.p = ent;
	s->entries.len = sizeof(ent) - 1;
	CHECK(roundtrip(&p, HF_PROTO_V311));
	CHECK(roundtrip(&p, HF_PROTO_V5));
	s->entries.p = ent5;
	s->entries.len = sizeof(ent5) - 1;
	s->props.present = HF_PP_SUBSCRIPTION_ID;
	s->props.sub_id = 268435455u;
	add_users(&s->props, &ub_a);
	CHECK(roundtrip(&p, HF_PROTO_V5));

	memset(&p, 0, sizeof(p));
	p.type = HF_UNSUBSCRIBE;
	s->pid = 65535;
	s->entries.p = uent;
	s->entries.len = sizeof(uent) - 1;
	CHECK(roundtrip(&p, HF_PROTO_V311));
	CHECK(roundtrip(&p, HF_PROTO_V5));
	add_users(&s->props, &ub_a);
	CHECK(roundtrip(&p, HF_PROTO_V5));
}

static void
test_suback_roundtrip(void)
{
	static const uint8_t rc3[] = {0, 1, 2, 0x80};
	static const uint8_t rc5[] = {0, 1, 2, 0x80, 0x87, 0x8f, 0xa2, 0x11};
	struct hf_packet p;
	struct hf_suback *s = &p.u.suback;

	memset(&p, 0, sizeof(p));
	p.type = HF_SUBACK;
	s->pid = 77;
	s->rcs = rc3;
	s->n = 4;
	CHECK(roundtrip(&p, HF_PROTO_V311));
	s->rcs = rc5;
	s->n = 8;
	CHECK(roundtrip(&p, HF_PROTO_V5));
	s->props.present = HF_PP_REASON_STRING;
	s->props.reason_string = B("r");
	add_users(&s->props, &ub_a);
	CHECK(roundtrip(&p, HF_PROTO_V5));

	p.type = HF_UNSUBACK;
	CHECK(roundtrip(&p, HF_PROTO_V5));
	CHECK(roundtrip(&p, HF_PROTO_V311));
	CHECK_EQ(hf_encode_size(&p, HF_PROTO_V311), 4);
}

static void
test_small_roundtrip(void)
{
	struct hf_packet p;
	struct hf_wbuf wb = {0};
	struct hf_ack *a = &p.u.ack;

	memset(&p, 0, sizeof(p));
	p.type = HF_PINGREQ;
	CHECK(roundtrip(&p, HF_PROTO_V311));
	CHECK(roundtrip(&p, HF_PROTO_V5));
	CHECK_EQ(hf_encode(&p, HF_PROTO_V5, &wb), HF_OK);
	CHECK_EQ(wb.len, 2);
	CHECK(wb.p[0] == 0xc0 && wb.p[1] == 0);
	hf_wbuf_free(&wb);
	p.type = HF_PINGRESP;
	CHECK(roundtrip(&p, HF_PROTO_V311));
	CHECK(roundtrip(&p, HF_PROTO_V5));

	p.type = HF_DISCONNECT;
	CHECK(roundtrip(&p, HF_PROTO_V311));
	CHECK_EQ(hf_encode_size(&p, HF_PROTO_V5), 2);
	CHECK(roundtrip(&p, HF_PROTO_V5));
	a->rc = HF_RC_DISCONNECT_WITH_WILL;
	CHECK_EQ(hf_encode_size(&p, HF_PROTO_V5), 3);
	CHECK_EQ(hf_encode_size(&p, HF_PROTO_V311), 2);
	CHECK(roundtrip(&p, HF_PROTO_V5));
	a->props.present =
	    HF_PP_SESSION_EXPIRY | HF_PP_SERVER_REFERENCE | HF_PP_REASON_STRING;
	a->props.session_expiry = 0;
	a->props.server_reference = B("srv");
	a->props.reason_string = B("bye");
	add_users(&a->props, &ub_a);
	CHECK(roundtrip(&p, HF_PROTO_V5));

	memset(&p, 0, sizeof(p));
	p.type = HF_AUTH;
	CHECK_EQ(hf_encode_size(&p, HF_PROTO_V5), 2);
	CHECK(roundtrip(&p, HF_PROTO_V5));
	a->rc = HF_RC_CONTINUE_AUTH;
	a->props.present =
	    HF_PP_AUTH_METHOD | HF_PP_AUTH_DATA | HF_PP_REASON_STRING;
	a->props.auth_method = B("SCRAM-SHA-1");
	a->props.auth_data = B("\x01\x02\x03\x00");
	a->props.reason_string = B("more");
	add_users(&a->props, &ub_a);
	CHECK(roundtrip(&p, HF_PROTO_V5));
}

/* ---- iterators -------------------------------------------------------- */

static void
test_iterators(void)
{
	/* PUBLISH v5 body: topic "t", props: user(a,b) sub 5 user(c,"") sub
	 * 300, payload "x". */
	static const uint8_t body[] = {0x00, 0x01, 't',  18,   0x26, 0x00,
	                               0x01, 'a',  0x00, 0x01, 'b',  0x0b,
	                               0x05, 0x26, 0x00, 0x01, 'c',  0x00,
	                               0x00, 0x0b, 0xac, 0x02, 'x'};
	struct hf_packet p;
	struct hf_bytes k, v;
	uint32_t off = 0, id;
	uint8_t wire[64];

	CHECK_EQ(hf_decode(0x30, body, sizeof(body), 5, &p), HF_OK);
	CHECK_EQ(p.u.publish.props.n_user, 2);
	CHECK_EQ(p.u.publish.props.n_sub_ids, 2);
	CHECK_EQ(p.u.publish.props.sub_id, 5);
	CHECK(beq(p.u.publish.payload, B("x")));
	CHECK(hf_props_user_next(&p.u.publish.props, &off, &k, &v));
	CHECK(beq(k, B("a")) && beq(v, B("b")));
	CHECK(hf_props_user_next(&p.u.publish.props, &off, &k, &v));
	CHECK(beq(k, B("c")) && beq(v, B("")));
	CHECK(!hf_props_user_next(&p.u.publish.props, &off, &k, &v));
	off = 0;
	CHECK(hf_props_sub_id_next(&p.u.publish.props, &off, &id));
	CHECK_EQ(id, 5);
	CHECK(hf_props_sub_id_next(&p.u.publish.props, &off, &id));
	CHECK_EQ(id, 300);
	CHECK(!hf_props_sub_id_next(&p.u.publish.props, &off, &id));
	CHECK_EQ(hf_props_user_wire_len(&p.u.publish.props), 13);
	hf_props_user_copy(&p.u.publish.props, wire);
	CHECK_MEM(wire,
	          "\x26\x00\x01"
	          "a\x00\x01"
	          "b\x26\x00\x01"
	          "c\x00\x00",
	          13);

	/* SUBSCRIBE v3.1.1 entries. */
	{
		static const uint8_t sb[] = {0x00, 0x05, 0x00, 0x01, 'a', 0x01,
		                             0x00, 0x03, 'b',  '/',  '#', 0x02};
		struct hf_bytes f;
		uint8_t o;

		CHECK_EQ(hf_decode(0x82, sb, sizeof(sb), 4, &p), HF_OK);
		CHECK_EQ(p.u.subscribe.pid, 5);
		CHECK_EQ(p.u.subscribe.n, 2);
		off = 0;
		CHECK(hf_sub_next(&p.u.subscribe, &off, &f, &o));
		CHECK(beq(f, B("a")) && o == 1);
		CHECK(hf_sub_next(&p.u.subscribe, &off, &f, &o));
		CHECK(beq(f, B("b/#")) && o == 2);
		CHECK(!hf_sub_next(&p.u.subscribe, &off, &f, &o));
	}
	{
		static const uint8_t ub[] = {0x00, 0x05, 0x00, 0x01, 'a',
		                             0x00, 0x03, 'b',  '/',  '#'};
		struct hf_bytes f;

		CHECK_EQ(hf_decode(0xa2, ub, sizeof(ub), 4, &p), HF_OK);
		CHECK_EQ(p.u.subscribe.n, 2);
		off = 0;
		CHECK(hf_unsub_next(&p.u.subscribe, &off, &f));
		CHECK(beq(f, B("a")));
		CHECK(hf_unsub_next(&p.u.subscribe, &off, &f));
		CHECK(beq(f, B("b/#")));
		CHECK(!hf_unsub_next(&p.u.subscribe, &off, &f));
	}
}

/* ---- malformed table -------------------------------------------------- */

struct bad {
	uint8_t ver;
	uint8_t tf;
	const char *hex;
	int rc;
};

#define MAL HF_RC_MALFORMED
#define PER HF_RC_PROTOCOL_ERROR
/* "MQTT" level 4 / 5 prefixes. */
#define C4 "0004 4d515454 04 "
#define C5 "0004 4d515454 05 "

static const struct bad bad_rows[] = {
    /* CONNECT */
    {4, 0x10, C4 "02 003c 0001 61", HF_OK},
    {4, 0x10, C4 "03 003c 0001 61", MAL},         /* reserved bit */
    {4, 0x10, C4 "0a 003c 0001 61", MAL},         /* will qos, no will */
    {4, 0x10, C4 "22 003c 0001 61", MAL},         /* will retain, no will */
    {4, 0x10, C4 "1e 003c 0001 61", MAL},         /* will qos 3 */
    {4, 0x10, C4 "42 003c 0001 61 0001 70", MAL}, /* pw without user */
    {5, 0x10, C5 "42 003c 00 0001 61 0002 7077", HF_OK},
    {4, 0x11, C4 "02 003c 0001 61", MAL}, /* fixed header flags */
    {4, 0x10, "0004 4d515458 04 02 003c 0001 61",
     HF_RC_UNSUPPORTED_PROTOCOL}, /* name MQTX */
    {4, 0x10, "0004 4d515454 03 02 003c 0001 61",
     HF_RC_UNSUPPORTED_PROTOCOL}, /* MQTT level 3 */
    {4, 0x10, "0006 4d5149736470 04 02 003c 0001 61",
     HF_RC_UNSUPPORTED_PROTOCOL}, /* MQIsdp level 4 */
    {4, 0x10, "0006 4d5149736470 03 02 003c 0001 61", HF_OK},
    /* 3.1 CONNECT ending before the client id: read as empty (the
     * engine refuses it with 0x02); not with a will that must follow. */
    {4, 0x10, "0006 4d5149736470 03 02 003c", HF_OK},
    {4, 0x10, "0006 4d5149736470 03 06 003c", MAL},
    {4, 0x10, "0006 4d5149736470 03 02 003c 00", MAL},
    {4, 0x10, C4 "02 003c 0005 61", MAL},    /* client id short */
    {4, 0x10, C4 "02 003c 0001 61 00", MAL}, /* trailing byte */
    {4, 0x10, C4 "02 003c", MAL},            /* no client id */
    {4, 0x10, C4 "02 003c 0002 c080", MAL},  /* overlong UTF-8 */
    {4, 0x10, C4 "02 003c 0002 6100", MAL},  /* U+0000 */
    {4, 0x10, C4 "06 003c 0001 61 0003 612f23 0000",
     HF_RC_TOPIC_NAME_INVALID},                       /* will topic wildcard */
    {4, 0x10, C4 "06 003c 0001 61 0003 612f62", MAL}, /* no will msg */
    {4, 0x10, C4 "c2 003c 0001 61 0001 75", MAL},     /* no password */
    {5, 0x10, C5 "02 003c 03 230001 0001 61", MAL},   /* topic alias */
    {5, 0x10, C5 "02 003c 0a 1100000001 1100000002 0001 61", PER},
    {5, 0x10, C5 "02 003c 03 210000 0001 61", PER},     /* receive max 0 */
    {5, 0x10, C5 "02 003c 05 2700000000 0001 61", PER}, /* max pkt 0 */
    {5, 0x10, C5 "02 003c 02 1702 0001 61", PER},       /* req problem 2 */
    {5, 0x10, C5 "02 003c 02 1902 0001 61", PER},       /* req response 2 */
    {5, 0x10, C5 "02 003c 7f 1100000000 0001 61", MAL}, /* overrun */
    {5, 0x10, C5 "02 003c 04 16000141 0001 61", PER},   /* data, no method */
    {5, 0x10, C5 "02 003c 02 0500 0001 61", MAL},       /* unknown prop id */
    {5, 0x10, C5 "02 003c 05 11000000 0001 61", MAL},   /* short u32 */
    {5, 0x10, C5 "06 003c 00 0001 61 02 0101 0001 74 0001 ff",
     HF_RC_PAYLOAD_FORMAT_INVALID},
    {5, 0x10, C5 "06 003c 00 0001 61 02 0101 0001 74 0002 c3a9", HF_OK},
    {5, 0x10, C5 "06 003c 00 0001 61 05 1100000001 0001 74 0000",
     MAL}, /* session expiry in will */
    {5, 0x10, C5 "06 003c 00 0001 61 05 1800000001 0001 74 0000", HF_OK},
    {5, 0x10, C5 "02 003c 04 2600016b 0000 0001 61", MAL}, /* short pair */
    {5, 0x10, C5 "02 003c 05 2600016b00 0001 61", MAL},
    /* CONNACK */
    {4, 0x20, "00 00", HF_OK},
    {4, 0x20, "00 00 00", MAL},
    {4, 0x20, "02 00", MAL},
    {4, 0x20, "00", MAL},
    {5, 0x20, "00 00 02 2402", PER},
    {5, 0x20, "00 00 02 2502", PER},
    {5, 0x20, "00 00 02 2802", PER},
    {5, 0x20, "00 00 02 2902", PER},
    {5, 0x20, "00 00 02 2a02", PER},
    {5, 0x20, "00 00 08 12000161 12000162", PER},
    {5, 0x20, "00 00 03 230001", MAL},
    /* PUBLISH */
    {4, 0x30, "0001 61", HF_OK},
    {4, 0x36, "0001 61 0001", MAL}, /* QoS 3 */
    {4, 0x38, "0001 61", MAL},      /* DUP on QoS 0 */
    {4, 0x32, "0001 61 0000", PER}, /* pid 0 */
    {4, 0x32, "0001 61", MAL},      /* no pid */
    {4, 0x30, "0003 612f2b", HF_RC_TOPIC_NAME_INVALID},
    {5, 0x30, "0001 23 00", HF_RC_TOPIC_NAME_INVALID},
    {4, 0x30, "0000", MAL},    /* empty topic, 3.1.1 */
    {5, 0x30, "0000 00", PER}, /* empty, no alias */
    {5, 0x30, "0000 03 230001", HF_OK},
    {5, 0x30, "0001 61 03 230000", HF_RC_TOPIC_ALIAS_INVALID},
    {5, 0x30, "0001 61 02 0102", PER}, /* payload format 2 */
    {5, 0x30, "0001 61 02 0101 fffe", HF_RC_PAYLOAD_FORMAT_INVALID},
    {5, 0x30, "0001 61 02 0101 eda080", HF_RC_PAYLOAD_FORMAT_INVALID},
    {5, 0x30, "0001 61 02 0101 f09f9880", HF_OK},
    {5, 0x30, "0001 61 02 0b00", PER},         /* sub id 0 */
    {5, 0x30, "0001 61 04 0b01 0b02", HF_OK},  /* several sub ids */
    {5, 0x30, "0001 61 06 0bffffffff01", MAL}, /* 5-byte varint */
    {5, 0x30, "0001 61 05 0bffffffff", MAL},   /* truncated varint */
    {4, 0x30, "0005 61", MAL},                 /* topic overruns */
    {4, 0x30, "0003 eda080", MAL},             /* surrogate topic */
    {5, 0x30, "0001 61 05 1100000001", MAL},   /* session expiry */
    {5, 0x30, "0001 61 04 08000123", PER},     /* response topic '#' */
    {5, 0x30, "0001 61 0a 0200000001 0200000002", PER},
    {5, 0x30, "0001 61", MAL},             /* no property length */
    {5, 0x30, "0001 61 80808080 01", MAL}, /* bad property length */
    /* Over-long Variable Byte Integers [MQTT-1.5.5-1]. */
    {5, 0x30, "0001 61 8000", MAL},              /* property length 0 */
    {5, 0x30, "0001 61 8200 0101 61", MAL},      /* property length 2 */
    {5, 0x30, "0001 61 03 0b8100", MAL},         /* sub id 1 in two */
    {5, 0x82, "0001 03 0b8100 0001 61 00", MAL}, /* SUBSCRIBE sub id */
    {5, 0x82, "0001 8000 0001 61 00", MAL},      /* SUBSCRIBE props */
    {5, 0x10, C5 "02 003c 8000 0001 61", MAL},   /* CONNECT props */
    {5, 0x30, "0001 61 02 0b81", MAL},           /* sub id cut short */
    {5, 0x30, "0001 61 03 0b8101", HF_OK},       /* 129: two bytes needed */
    /* PUBACK .. PUBCOMP */
    {4, 0x40, "0001", HF_OK},
    {4, 0x40, "0001 00", MAL},
    {4, 0x40, "0000", PER},
    {4, 0x41, "0001", MAL},
    {4, 0x40, "00", MAL},
    {5, 0x40, "0001 10", HF_OK},
    {5, 0x50, "0001", HF_OK},
    {5, 0x40, "0001 00 05 1100000000", MAL},
    {5, 0x40, "0001 00 08 1f000161 1f000162", PER},
    {5, 0x40, "0001 00 05 1f", MAL},
    {5, 0x40, "0001 00 00 00", MAL}, /* trailing */
    {5, 0x60, "0001", MAL},          /* PUBREL flags 0 */
    {4, 0x62, "0001", HF_OK},
    {4, 0x72, "0001", MAL}, /* PUBCOMP flags 2 */
    /* SUBSCRIBE */
    {4, 0x82, "0001 0001 61 00", HF_OK},
    {4, 0x80, "0001 0001 61 00", MAL},
    {4, 0x82, "0001", PER}, /* no entries */
    {5, 0x82, "0001 00", PER},
    {4, 0x82, "0000 0001 61 00", PER},    /* pid 0 */
    {4, 0x82, "0001 0001 61 04", MAL},    /* v3 upper bits */
    {4, 0x82, "0001 0001 61 03", MAL},    /* v3 QoS 3 */
    {5, 0x82, "0001 00 0001 61 40", MAL}, /* reserved bits */
    {5, 0x82, "0001 00 0001 61 03", PER}, /* QoS 3 */
    {5, 0x82, "0001 00 0001 61 30", PER}, /* retain handling 3 */
    {5, 0x82, "0001 00 000a 24736861726500 2f612f62 04", MAL},
    {5, 0x82, "0001 00 000a 2473686172652f672f61 04", PER}, /* no-local */
    {5, 0x82, "0001 00 000a 2473686172652f672f61 2a", HF_OK},
    {4, 0x82, "0001 0004 612f6223 00", HF_RC_TOPIC_FILTER_INVALID},
    {4, 0x82, "0001 000a 2473686172652f677270 00",
     HF_RC_TOPIC_FILTER_INVALID}, /* "$share/grp" */
    {4, 0x82, "0001 0000 00", HF_RC_TOPIC_FILTER_INVALID},
    {4, 0x82, "0001 0001 61", MAL}, /* no options byte */
    {5, 0x82, "0001 02 0b00 0001 61 00", PER},
    {5, 0x82, "0001 04 0b01 0b02 0001 61 00", PER},
    {5, 0x82, "0001 03 230001 0001 61 00", MAL},
    {5, 0x82, "0001 02 0b01 0001 61 00", HF_OK},
    /* UNSUBSCRIBE */
    {4, 0xa2, "0001 0001 61", HF_OK},
    {4, 0xa2, "0001", PER},
    {4, 0xa0, "0001 0001 61", MAL},
    {4, 0xa2, "0001 0002 2b61", HF_RC_TOPIC_FILTER_INVALID},
    {5, 0xa2, "0001 02 0b01 0001 61", MAL},
    {4, 0xa2, "0001 0003 61", MAL},
    {4, 0xa2, "0000 0001 61", PER},
    /* SUBACK / UNSUBACK */
    {4, 0x90, "0001 00 01 02 80", HF_OK},
    {4, 0x90, "0001 03", MAL},
    {4, 0x90, "0001", PER},
    {5, 0x90, "0001 00 87", HF_OK},
    {5, 0x90, "0001 03 230001 00", MAL},
    {4, 0xb0, "0001 00", MAL},
    {4, 0xb0, "0001", HF_OK},
    {5, 0xb0, "0001 00", PER}, /* no reason codes */
    {5, 0xb0, "0001 00 11", HF_OK},
    /* PING, DISCONNECT, AUTH */
    {4, 0xc0, "", HF_OK},
    {4, 0xc0, "00", MAL},
    {4, 0xc1, "", MAL},
    {5, 0xd0, "00", MAL},
    {4, 0xe0, "", HF_OK},
    {4, 0xe0, "00", MAL},
    {4, 0xe2, "", MAL},
    {5, 0xe0, "04", HF_OK},
    {5, 0xe0, "00 03 230001", MAL},
    {5, 0xe0, "00 05 1100000000", HF_OK},
    {5, 0xe0, "00 05 1100000000 00", MAL},
    {4, 0xf0, "", MAL}, /* AUTH before v5 */
    {5, 0xf0, "", HF_OK},
    {5, 0xf1, "", MAL},
    {5, 0xf0, "18 05 15000161", MAL}, /* short string */
    {5, 0xf0, "18 04 15000161", HF_OK},
    {5, 0x00, "", MAL}, /* type 0 */
};

static size_t
unhex(const char *s, uint8_t *out, size_t max)
{
	size_t n = 0;
	int hi = -1;

	for (; *s; s++) {
		int v;

		if (*s == ' ')
			continue;
		v = (*s >= 'a') ? *s - 'a' + 10 : *s - '0';
		if (hi < 0) {
			hi = v;
		} else if (n < max) {
			out[n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	return n;
}

static void
test_malformed_table(void)
{
	size_t i, nrows = sizeof(bad_rows) / sizeof(bad_rows[0]);
	int fails = 0;

	CHECK(nrows >= 40);
	for (i = 0; i < nrows; i++) {
		uint8_t tmp[512], *body;
		size_t n = unhex(bad_rows[i].hex, tmp, sizeof(tmp));
		struct hf_packet p;
		int rc;

		body = malloc(n ? n : 1);
		memcpy(body, tmp, n);
		rc = hf_decode(bad_rows[i].tf, body, (uint32_t)n,
		               bad_rows[i].ver, &p);
		if (rc != bad_rows[i].rc) {
			fprintf(stderr, "  row %zu (%02x %s): got %d want %d\n",
			        i, bad_rows[i].tf, bad_rows[i].hex, rc,
			        bad_rows[i].rc);
			fails++;
		}
		free(body);
	}
	CHECK_EQ(fails, 0);
}

static void
test_connect_proto_ver(void)
{
	uint8_t b[64];
	size_t n;
	struct hf_packet p;

	n = unhex("0004 4d515454 06 02 003c 0001 61", b, sizeof(b));
	CHECK_EQ(hf_decode(0x10, b, (uint32_t)n, 0, &p),
	         HF_RC_UNSUPPORTED_PROTOCOL);
	CHECK_EQ(p.u.connect.proto_ver, 6);
	n = unhex("0004 4d515458 04 02 003c 0001 61", b, sizeof(b));
	CHECK_EQ(hf_decode(0x10, b, (uint32_t)n, 0, &p),
	         HF_RC_UNSUPPORTED_PROTOCOL);
	CHECK_EQ(p.u.connect.proto_ver, 0);
	/* Malformed after the level: proto_ver known for the CONNACK. */
	n = unhex("0004 4d515454 05 03 003c 00 0001 61", b, sizeof(b));
	CHECK_EQ(hf_decode(0x10, b, (uint32_t)n, 0, &p), HF_RC_MALFORMED);
	CHECK_EQ(p.u.connect.proto_ver, 5);
	/* proto_ver argument is ignored for CONNECT. */
	n = unhex("0006 4d5149736470 03 02 003c 0001 61", b, sizeof(b));
	CHECK_EQ(hf_decode(0x10, b, (uint32_t)n, 5, &p), HF_OK);
	CHECK_EQ(p.u.connect.proto_ver, 3);
	CHECK(p.u.connect.clean_start);
	CHECK_EQ(p.u.connect.keepalive, 60);
}

/* ---- varint, frame ---------------------------------------------------- */

static void
test_varint(void)
{
	static const struct {
		uint32_t v;
		unsigned n;
	} t[] = {{0, 1},     {127, 1},     {128, 2},     {16383, 2},
	         {16384, 3}, {2097151, 3}, {2097152, 4}, {268435455, 4}};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		uint8_t b[8] = {0x30};
		struct hf_frame f;

		CHECK_EQ(hf_varint_size(t[i].v), t[i].n);
		CHECK_EQ(hf_varint_write(t[i].v, b + 1), t[i].n);
		CHECK_EQ(hf_frame_parse(b, 1 + t[i].n, 0, &f), HF_OK);
		CHECK_EQ(f.body_len, t[i].v);
		CHECK_EQ(f.hdr_len, 1 + t[i].n);
		CHECK_EQ(f.type_flags, 0x30);
		/* One byte short of the length: need more. */
		CHECK_EQ(hf_frame_parse(b, t[i].n, 0, &f), HF_AGAIN);
	}
	{
		static const uint8_t b5[] = {0x30, 0xff, 0xff,
		                             0xff, 0xff, 0x01};
		static const uint8_t b4[] = {0x30, 0xff, 0xff, 0xff, 0x7f};
		static const uint8_t b0[] = {0x30, 0x80, 0x80, 0x80, 0x00};
		static const struct {
			uint8_t b[5];
			size_t n;
		} overlong[] = {
		    {{0x30, 0x80, 0x00}, 3},             /* 0 in two */
		    {{0x30, 0xff, 0x00}, 3},             /* 127 in two */
		    {{0x30, 0x80, 0x80, 0x00}, 4},       /* 0 in three */
		    {{0x30, 0xff, 0xff, 0x00}, 4},       /* 16383 in three */
		    {{0x30, 0xff, 0xff, 0xff, 0x00}, 5}, /* 2097151 in four */
		};
		uint8_t b[4];
		struct hf_frame f;

		CHECK_EQ(hf_frame_parse(b5, sizeof(b5), 0, &f),
		         HF_RC_MALFORMED);
		CHECK_EQ(hf_frame_parse(b5, 5, 0, &f), HF_RC_MALFORMED);
		CHECK_EQ(hf_frame_parse(b4, sizeof(b4), 0, &f), HF_OK);
		CHECK_EQ(f.body_len, 268435455u);
		/* Over-long encodings are malformed [MQTT-1.5.5-1], in every
		 * version (the framer does not know it). */
		CHECK_EQ(hf_frame_parse(b0, sizeof(b0), 0, &f),
		         HF_RC_MALFORMED);
		for (size_t k = 0; k < sizeof(overlong) / sizeof(overlong[0]);
		     k++) {
			CHECK_EQ(
			    hf_frame_parse(overlong[k].b, overlong[k].n, 0, &f),
			    HF_RC_MALFORMED);
			/* Not refused before the deciding byte is there. */
			CHECK_EQ(hf_frame_parse(overlong[k].b,
			                        overlong[k].n - 1, 0, &f),
			         HF_AGAIN);
		}
		CHECK_EQ(hf_varint_write(321, b), 2);
		CHECK(b[0] == 0xc1 && b[1] == 0x02);
	}
}

static void
test_frame(void)
{
	static const uint8_t pkt[] = {0x32, 0x05, 0, 1, 'a', 0, 1};
	struct hf_frame f;
	uint8_t z[2] = {0x00, 0x00};

	CHECK_EQ(hf_frame_parse(pkt, 0, 0, &f), HF_AGAIN);
	CHECK_EQ(hf_frame_parse(pkt, 1, 0, &f), HF_AGAIN);
	CHECK_EQ(hf_frame_parse(pkt, 2, 0, &f), HF_OK); /* body pending */
	CHECK_EQ(f.hdr_len + f.body_len, 7);
	CHECK_EQ(hf_frame_parse(pkt, sizeof(pkt), 7, &f), HF_OK);
	CHECK_EQ(hf_frame_parse(pkt, sizeof(pkt), 6, &f),
	         HF_RC_PACKET_TOO_LARGE);
	/* Refused from the header alone, before the body arrives. */
	CHECK_EQ(hf_frame_parse(pkt, 2, 6, &f), HF_RC_PACKET_TOO_LARGE);
	CHECK_EQ(hf_frame_parse(z, 2, 0, &f), HF_RC_MALFORMED);
	CHECK_EQ(hf_frame_parse(z, 1, 0, &f), HF_RC_MALFORMED);
	{
		static const uint8_t big[] = {0x30, 0xff, 0xff, 0xff, 0x7f};

		CHECK_EQ(hf_frame_parse(big, sizeof(big), 0xffffffffu, &f),
		         HF_OK);
		CHECK_EQ(hf_frame_parse(big, sizeof(big), 268435459u, &f),
		         HF_RC_PACKET_TOO_LARGE);
		CHECK_EQ(hf_frame_parse(big, sizeof(big), 268435460u, &f),
		         HF_OK);
	}
}

/* ---- UTF-8, topics ---------------------------------------------------- */

static void
test_utf8(void)
{
	static const struct {
		const char *s;
		size_t n;
		bool ok;
	} t[] = {
	    {"", 0, true},
	    {"abc", 3, true},
	    {"a\0b", 3, false},             /* U+0000 */
	    {"\xc0\x80", 2, false},         /* overlong NUL */
	    {"\xc1\xbf", 2, false},         /* overlong */
	    {"\xc2\x80", 2, true},          /* U+0080 */
	    {"\xdf\xbf", 2, true},          /* U+07FF */
	    {"\xe0\x80\x80", 3, false},     /* overlong 3-byte */
	    {"\xe0\x9f\xbf", 3, false},     /* overlong U+07FF */
	    {"\xe0\xa0\x80", 3, true},      /* U+0800 */
	    {"\xed\x9f\xbf", 3, true},      /* U+D7FF */
	    {"\xed\xa0\x80", 3, false},     /* U+D800 */
	    {"\xed\xbf\xbf", 3, false},     /* U+DFFF */
	    {"\xee\x80\x80", 3, true},      /* U+E000 */
	    {"\xef\xbf\xbf", 3, true},      /* U+FFFF non-character ok */
	    {"\xef\xbb\xbf", 3, true},      /* BOM kept */
	    {"\xf0\x8f\xbf\xbf", 4, false}, /* overlong 4-byte */
	    {"\xf0\x90\x80\x80", 4, true},  /* U+10000 */
	    {"\xf4\x8f\xbf\xbf", 4, true},  /* U+10FFFF */
	    {"\xf4\x90\x80\x80", 4, false}, /* > U+10FFFF */
	    {"\xf5\x80\x80\x80", 4, false},
	    {"\xff", 1, false},
	    {"\x80", 1, false},         /* lone continuation */
	    {"\xc3", 1, false},         /* truncated 2-byte */
	    {"\xe2\x82", 2, false},     /* truncated 3-byte */
	    {"\xf0\x9f\x98", 3, false}, /* truncated 4-byte */
	    {"\xc3\x28", 2, false},     /* bad continuation */
	    {"\x01\x7f", 2, true},      /* controls accepted */
	    {"a\xe2\x82\xac"
	     "b",
	     5, true},
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (hf_utf8_valid((const uint8_t *)t[i].s, t[i].n) != t[i].ok)
			fprintf(stderr, "  utf8 row %zu\n", i);
		CHECK(hf_utf8_valid((const uint8_t *)t[i].s, t[i].n) ==
		      t[i].ok);
	}
}

static void
test_topics(void)
{
	static const struct {
		const char *s;
		bool name, filter;
	} t[] = {
	    {"", false, false},
	    {"a", true, true},
	    {"/", true, true},
	    {"a/b/c", true, true},
	    {"+", false, true},
	    {"#", false, true},
	    {"a/+/b", false, true},
	    {"a/#", false, true},
	    {"+/+/#", false, true},
	    {"a+", false, false},
	    {"+a", false, false},
	    {"a/b+/c", false, false},
	    {"a#", false, false},
	    {"a/#/b", false, false},
	    {"##", false, false},
	    {"a/b#", false, false},
	    {"/+/", false, true},
	    {"$SYS/x", true, true},
	    {"$share/g/a/b", true, true},
	    {"$share/g/#", false, true},
	    {"$share/g/+/x", false, true},
	    {"$share/g", true, false},
	    {"$share/g/", true, false}, /* empty FILTER */
	    {"$share//a", true, false},
	    {"$share/+/a", false, false},
	    {"$share/g#/a", false, false},
	    {"$share/g+x/a", false, false},
	    {"$share/g/a+", false, false},
	    {"$share", true, true},
	    {"$sharex/a", true, true},
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const uint8_t *s = (const uint8_t *)t[i].s;
		size_t n = strlen(t[i].s);

		if (hf_topic_name_valid(s, n) != t[i].name ||
		    hf_topic_filter_valid(s, n) != t[i].filter)
			fprintf(stderr, "  topic row %zu '%s'\n", i, t[i].s);
		CHECK(hf_topic_name_valid(s, n) == t[i].name);
		CHECK(hf_topic_filter_valid(s, n) == t[i].filter);
	}
	/* Levels, for max_topic_levels. */
	{
		static const struct {
			const char *s;
			uint32_t n;
		} lv[] = {
		    {"", 1},    {"a", 1},          {"/", 2},
		    {"a/b", 2}, {"//", 3},         {"a/b/c/", 4},
		    {"+/#", 2}, {"$share/g/a", 3}, {"abc/def/ghi", 3},
		};
		static uint8_t deep[65535];

		for (i = 0; i < sizeof(lv) / sizeof(lv[0]); i++)
			CHECK_EQ(hf_topic_levels((const uint8_t *)lv[i].s,
			                         strlen(lv[i].s)),
			         lv[i].n);
		memset(deep, '/', sizeof(deep));
		CHECK_EQ(hf_topic_levels(deep, sizeof(deep)), 65536);
	}
}

/* ---- encoder edge cases ----------------------------------------------- */

static void
test_encode_misc(void)
{
	struct hf_packet p;
	struct hf_wbuf wb = {0};
	static uint8_t big[70000];

	/* Appends after existing content. */
	memset(&p, 0, sizeof(p));
	p.type = HF_PINGREQ;
	CHECK_EQ(hf_encode(&p, 4, &wb), HF_OK);
	CHECK_EQ(hf_encode(&p, 4, &wb), HF_OK);
	CHECK_EQ(wb.len, 4);
	/* A topic over 65535 bytes cannot be encoded; out unchanged. */
	p.type = HF_PUBLISH;
	p.u.publish.topic.p = big;
	p.u.publish.topic.len = sizeof(big);
	CHECK(hf_encode(&p, 4, &wb) != HF_OK);
	CHECK_EQ(wb.len, 4);
	CHECK_EQ(hf_encode_size(&p, 4), 0);
	/* A big payload: 3-byte remaining length. */
	memset(big, 'x', sizeof(big));
	p.u.publish.topic = B("t");
	p.u.publish.payload.p = big;
	p.u.publish.payload.len = sizeof(big);
	CHECK_EQ(hf_encode_size(&p, 4), 1 + 3 + 3 + sizeof(big));
	CHECK(roundtrip(&p, HF_PROTO_V311));
	/* PUBLISH flags from fields; flags field ignored. */
	p.flags = 0xf;
	p.u.publish.qos = 2;
	p.u.publish.pid = 3;
	p.u.publish.retain = true;
	p.u.publish.payload = B("");
	wb.len = 0;
	CHECK_EQ(hf_encode(&p, 4, &wb), HF_OK);
	CHECK_EQ(wb.p[0], 0x35);
	hf_wbuf_free(&wb);
	CHECK(wb.p == NULL && wb.len == 0 && wb.cap == 0);
}

/* ---- robustness ------------------------------------------------------- */

static uint64_t
rnd(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* Turn decoded properties into encode form: user properties to wire form
 * (in *user, caller frees) and the subscription identifiers to an array. */
static void
to_encode_form(struct hf_props *p, uint8_t **user, uint32_t **ids)
{
	size_t n = hf_props_user_wire_len(p);
	uint32_t k = p->n_sub_ids, i = 0, off = 0, id;

	*ids = malloc((k + 1) * sizeof(uint32_t));
	while (i < k && hf_props_sub_id_next(p, &off, &id))
		(*ids)[i++] = id;
	p->sub_ids = *ids;
	p->n_sub_ids = i;
	*user = malloc(n + 1);
	hf_props_user_copy(p, *user);
	p->user.p = *user;
	p->user.len = (uint32_t)n;
}

static struct hf_props *
props_of(struct hf_packet *p, int which)
{
	switch (p->type) {
	case HF_CONNECT:
		return which ? &p->u.connect.will_props : &p->u.connect.props;
	case HF_CONNACK:
		return which ? NULL : &p->u.connack.props;
	case HF_PUBLISH:
		return which ? NULL : &p->u.publish.props;
	case HF_SUBSCRIBE:
	case HF_UNSUBSCRIBE:
		return which ? NULL : &p->u.subscribe.props;
	case HF_SUBACK:
	case HF_UNSUBACK:
		return which ? NULL : &p->u.suback.props;
	case HF_PINGREQ:
	case HF_PINGRESP:
		return NULL;
	default:
		return which ? NULL : &p->u.ack.props;
	}
}

/* Decoded packet -> encode -> decode -> compare. */
static bool
reencode_same(const struct hf_packet *dec, uint8_t ver)
{
	struct hf_packet enc = *dec, back;
	struct hf_wbuf wb = {0};
	uint8_t *user[2] = {NULL, NULL}, *body = NULL;
	uint32_t *ids[2] = {NULL, NULL};
	bool ok;
	int i, rc;

	if (dec->type == HF_CONNECT)
		ver = dec->u.connect.proto_ver;
	for (i = 0; i < 2; i++) {
		struct hf_props *pr = props_of(&enc, i);

		if (pr)
			to_encode_form(pr, &user[i], &ids[i]);
	}
	rc = enc_dec(&enc, ver, &back, &body, &wb);
	ok = rc == HF_OK && pkt_eq(dec, true, &back, ver);
	if (!ok)
		fprintf(stderr, "  reencode type %d ver %d rc %d\n", dec->type,
		        ver, rc);
	for (i = 0; i < 2; i++) {
		free(user[i]);
		free(ids[i]);
	}
	free(body);
	hf_wbuf_free(&wb);
	return ok;
}

/* Valid packets to mutate: the table rows that decode, re-framed. */
static size_t
seed_packet(size_t i, uint8_t *out, size_t max, uint8_t *ver)
{
	uint8_t tmp[512];
	size_t n = unhex(bad_rows[i].hex, tmp, sizeof(tmp)), h;

	if (n + 8 > max)
		return 0;
	out[0] = bad_rows[i].tf;
	h = 1 + hf_varint_write((uint32_t)n, out + 1);
	memcpy(out + h, tmp, n);
	*ver = bad_rows[i].ver;
	return h + n;
}

static void
test_robustness(void)
{
	static const uint8_t vers[] = {HF_PROTO_V31, HF_PROTO_V311,
	                               HF_PROTO_V5};
	const size_t nrows = sizeof(bad_rows) / sizeof(bad_rows[0]);
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	long iter, accepted = 0, reenc_fail = 0;
	const long iters = 200000;

	for (iter = 0; iter < iters; iter++) {
		uint8_t buf[600], sver = 4;
		size_t len, j, nmut;
		struct hf_frame f;
		uint32_t maxsz;
		int rc, v;

		if (iter % 4 == 0) {
			/* Pure noise with a plausible header. */
			len = 2 + rnd(&seed) % 80;
			for (j = 0; j < len; j++)
				buf[j] = (uint8_t)rnd(&seed);
			buf[1] = (uint8_t)(len - 2) & 0x7f;
		} else {
			len = seed_packet(rnd(&seed) % nrows, buf, 500, &sver);
			nmut = 1 + rnd(&seed) % 4;
			for (j = 0; j < nmut && len > 1; j++) {
				size_t at = 1 + rnd(&seed) % (len - 1);

				switch (rnd(&seed) % 5) {
				case 0:
					buf[at] = (uint8_t)rnd(&seed);
					break;
				case 1:
					buf[at] ^=
					    (uint8_t)(1u << (rnd(&seed) % 8));
					break;
				case 2: /* truncate (fix length) */
					len = at + 1;
					break;
				case 3: /* insert a byte */
					if (len < 500) {
						memmove(buf + at + 1, buf + at,
						        len - at);
						buf[at] = (uint8_t)rnd(&seed);
						len++;
					}
					break;
				default: /* flip fixed header flags */
					buf[0] ^= (uint8_t)(rnd(&seed) & 0x0f);
					break;
				}
			}
			/* Usually keep the length consistent. */
			if (rnd(&seed) % 8 && len >= 2 && len - 2 < 128 &&
			    !(buf[1] & 0x80))
				buf[1] = (uint8_t)(len - 2);
		}
		maxsz = (rnd(&seed) % 4 == 0) ? (uint32_t)(rnd(&seed) % 64) : 0;
		rc = hf_frame_parse(buf, len, maxsz, &f);
		if (rc == HF_OK && maxsz)
			CHECK(f.hdr_len + f.body_len <= maxsz);
		if (rc != HF_OK || f.hdr_len + (size_t)f.body_len > len)
			continue;
		for (v = 0; v < 3; v++) {
			uint8_t *body = malloc(f.body_len ? f.body_len : 1);
			struct hf_packet p;

			memcpy(body, buf + f.hdr_len, f.body_len);
			rc = hf_decode(f.type_flags, body, f.body_len, vers[v],
			               &p);
			CHECK(rc == HF_OK || rc == HF_RC_MALFORMED ||
			      rc == HF_RC_PROTOCOL_ERROR ||
			      rc == HF_RC_TOPIC_NAME_INVALID ||
			      rc == HF_RC_TOPIC_FILTER_INVALID ||
			      rc == HF_RC_TOPIC_ALIAS_INVALID ||
			      rc == HF_RC_UNSUPPORTED_PROTOCOL ||
			      rc == HF_RC_PAYLOAD_FORMAT_INVALID);
			if (rc == HF_OK) {
				accepted++;
				if (!reencode_same(&p, vers[v]))
					reenc_fail++;
			}
			free(body);
		}
		(void)sver;
	}
	fprintf(stderr, "  %ld iterations, %ld decodes accepted\n", iters,
	        accepted);
	CHECK(accepted > 1000);
	CHECK_EQ(reenc_fail, 0);
}

int
main(void)
{
	HF_RUN(test_varint);
	HF_RUN(test_frame);
	HF_RUN(test_utf8);
	HF_RUN(test_topics);
	HF_RUN(test_connect_roundtrip);
	HF_RUN(test_connack_roundtrip);
	HF_RUN(test_publish_roundtrip);
	HF_RUN(test_ack_roundtrip);
	HF_RUN(test_sub_roundtrip);
	HF_RUN(test_suback_roundtrip);
	HF_RUN(test_small_roundtrip);
	HF_RUN(test_iterators);
	HF_RUN(test_malformed_table);
	HF_RUN(test_connect_proto_ver);
	HF_RUN(test_encode_misc);
	HF_RUN(test_robustness);
	return HF_DONE();
}
