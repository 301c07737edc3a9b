/* broker/codec/utf8.c - UTF-8 validation for MQTT strings.
 *
 * Accepts exactly the well-formed sequences of RFC 3629 (Unicode table 3-7):
 * no overlong forms, no surrogates U+D800..U+DFFF, nothing above U+10FFFF,
 * no truncated sequence. MQTT adds that U+0000 is refused [MQTT-1.5.4-2].
 * Control characters and non-characters pass (the spec says SHOULD NOT).
 *
 * Threading/ownership: pure function over caller's bytes. */
#include "codec_int.h"

bool
hf_utf8_valid(const uint8_t *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint8_t c = s[i];
		uint32_t cp;
		unsigned n, k;

		if (c < 0x80) {
			if (c == 0)
				return false;
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i <= n)
			return false;
		for (k = 1; k <= n; k++) {
			uint8_t b = s[i + k];

			if ((b & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (b & 0x3f);
		}
		if (n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
			return false;
		if (n == 3 && (cp < 0x10000 || cp > 0x10ffff))
			return false;
		i += n + 1;
	}
	return true;
}
