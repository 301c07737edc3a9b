/* broker/codec/frame.c - find one packet's fixed header in a byte stream.
 *
 * Reads the first byte and the Remaining Length (a variable byte integer of
 * one to four bytes) and reports the sizes, so the caller can refuse a
 * packet larger than its limit before buffering or allocating for it. A
 * fifth length byte is malformed [MQTT-1.5.5], as is packet type 0.
 *
 * Threading/ownership: pure function over caller's bytes. */
#include "codec_int.h"

int
hf_frame_parse(const uint8_t *buf, size_t len, uint32_t max_size,
               struct hf_frame *f)
{
	uint32_t v = 0;
	unsigned i;

	if (len < 1)
		return HF_AGAIN;
	if ((buf[0] >> 4) == 0)
		return HF_RC_MALFORMED;
	for (i = 0; i < 4; i++) {
		uint8_t b;

		if (len < 2 + (size_t)i)
			return HF_AGAIN;
		b = buf[1 + i];
		v |= (uint32_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			f->type_flags = buf[0];
			f->hdr_len = 2 + i;
			f->body_len = v;
			if (max_size && (uint64_t)f->hdr_len + v > max_size)
				return HF_RC_PACKET_TOO_LARGE;
			return HF_OK;
		}
	}
	return HF_RC_MALFORMED;
}
