// tests/fuzz/fuzz_decode.c - libFuzzer target for the MQTT codec.
//
// Built as a libFuzzer binary with -DHF_FUZZ=ON (clang); tools/fuzz.sh runs
// it for a bounded time over tests/fuzz/corpus/decode. Every CTest run
// replays that corpus (tests/fuzz/replay.c, test fuzz_decode_replay); add
// new interesting inputs to it.
/*
 * The first input byte picks the protocol level the body is decoded with;
 * the rest is framed with hf_frame_parse() and decoded with hf_decode().
 * A packet that decodes is re-encoded (user properties converted to wire
 * form as the engine would) and must decode again with the same result.
 *
 * Threading/ownership: single-threaded; everything freed per input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "holdfast/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fix_props(struct hf_props *p, uint8_t **user, uint32_t **ids)
{
	size_t n = hf_props_user_wire_len(p);
	uint32_t i = 0, off = 0, id;

	*ids = malloc((p->n_sub_ids + 1) * sizeof(uint32_t));
	while (i < p->n_sub_ids && hf_props_sub_id_next(p, &off, &id))
		(*ids)[i++] = id;
	p->sub_ids = *ids;
	p->n_sub_ids = i;
	*user = malloc(n + 1);
	hf_props_user_copy(p, *user);
	p->user.p = *user;
	p->user.len = (uint32_t)n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t vers[] = {HF_PROTO_V31, HF_PROTO_V311,
	                               HF_PROTO_V5};
	struct hf_frame f;
	struct hf_packet p, q;
	struct hf_wbuf wb = {0};
	uint8_t ver, *body, *user[2] = {NULL, NULL};
	uint32_t *ids[2] = {NULL, NULL};
	struct hf_props *pr[2] = {NULL, NULL};
	int rc, i;

	if (size < 1)
		return 0;
	ver = vers[data[0] % 3];
	data++;
	size--;
	if (hf_frame_parse(data, size, 0, &f) != HF_OK ||
	    f.hdr_len + (size_t)f.body_len > size)
		return 0;
	body = malloc(f.body_len + 1);
	memcpy(body, data + f.hdr_len, f.body_len);
	rc = hf_decode(f.type_flags, body, f.body_len, ver, &p);
	if (rc == HF_OK) {
		if (p.type == HF_CONNECT) {
			ver = p.u.connect.proto_ver;
			pr[0] = &p.u.connect.props;
			pr[1] = &p.u.connect.will_props;
		} else if (p.type == HF_CONNACK) {
			pr[0] = &p.u.connack.props;
		} else if (p.type == HF_PUBLISH) {
			pr[0] = &p.u.publish.props;
		} else if (p.type == HF_SUBSCRIBE || p.type == HF_UNSUBSCRIBE) {
			pr[0] = &p.u.subscribe.props;
		} else if (p.type == HF_SUBACK || p.type == HF_UNSUBACK) {
			pr[0] = &p.u.suback.props;
		} else if (p.type != HF_PINGREQ && p.type != HF_PINGRESP) {
			pr[0] = &p.u.ack.props;
		}
		for (i = 0; i < 2; i++)
			if (pr[i])
				fix_props(pr[i], &user[i], &ids[i]);
		if (hf_encode(&p, ver, &wb) != HF_OK)
			abort();
		if (hf_encode_size(&p, ver) != wb.len)
			abort();
		if (hf_frame_parse(wb.p, wb.len, 0, &f) != HF_OK ||
		    f.hdr_len + f.body_len != wb.len)
			abort();
		if (hf_decode(f.type_flags, wb.p + f.hdr_len, f.body_len, ver,
		              &q) != HF_OK ||
		    q.type != p.type)
			abort();
	}
	for (i = 0; i < 2; i++) {
		free(user[i]);
		free(ids[i]);
	}
	hf_wbuf_free(&wb);
	free(body);
	return 0;
}
