/* broker/codec/frame.c - find one packet's fixed header in a byte stream.
 *
 * Reads the first byte and the Remaining Length (a variable byte integer of
 * one to four bytes) and reports the sizes, so the caller can refuse a
 * packet larger than its limit before buffering or allocating for it. A
 * fifth length byte is malformed [MQTT-1.5.5], as is packet type 0, and so
 * is an encoding longer than needed (0x80 0x00 for 0, ...): MQTT 5 says so
 * [MQTT-1.5.5-1]; 3.1.1 (2.2.3, Table 2.4) gives each length exactly one
 * encoding, and the version is not known yet when a CONNECT is framed, so
 * every version is held to it (mosquitto refuses over-long encodings for
 * every version too).
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
			/* A last byte of 0 after the first makes the encoding
			 * longer than needed [MQTT-1.5.5-1]. */
			if (i > 0 && b == 0)
				return HF_RC_MALFORMED;
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
