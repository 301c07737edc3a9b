/* broker/codec/topic_valid.c - syntax of topic names and topic filters.
 *
 * A topic name (PUBLISH) is at least one byte with no '+' or '#'
 * [MQTT-4.7.1-1]. A filter is at least one byte; '+' fills a whole level
 * [MQTT-4.7.1-3]; '#' fills the last level [MQTT-4.7.1-2]. A shared
 * subscription "$share/GROUP/FILTER" needs a non-empty GROUP without '+',
 * '#' or '/' and a valid FILTER [MQTT-4.8.2-1], [MQTT-4.8.2-2]. UTF-8 rules
 * are checked separately by hf_utf8_valid(). hf_topic_levels() counts the
 * levels, for the broker's max_topic_levels.
 *
 * Threading/ownership: pure functions over caller's bytes. */
#include <string.h>

#include "codec_int.h"

bool
hf_topic_name_valid(const uint8_t *s, size_t len)
{
	size_t i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++)
		if (s[i] == '+' || s[i] == '#')
			return false;
	return true;
}

static bool
filter_syntax_ok(const uint8_t *s, size_t len)
{
	size_t i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++) {
		bool lvl_start = i == 0 || s[i - 1] == '/';

		if (s[i] == '+') {
			if (!lvl_start || (i + 1 < len && s[i + 1] != '/'))
				return false;
		} else if (s[i] == '#') {
			if (!lvl_start || i + 1 != len)
				return false;
		}
	}
	return true;
}

bool
hf_topic_filter_valid(const uint8_t *s, size_t len)
{
	static const char share[] = "$share/";
	const size_t sl = sizeof(share) - 1;
	size_t e;

	if (len < sl || memcmp(s, share, sl) != 0)
		return filter_syntax_ok(s, len);
	for (e = sl; e < len && s[e] != '/'; e++)
		if (s[e] == '+' || s[e] == '#')
			return false;
	if (e == sl || e == len)
		return false;
	return filter_syntax_ok(s + e + 1, len - e - 1);
}

uint32_t
hf_topic_levels(const uint8_t *s, size_t len)
{
	uint32_t n = 1;
	const uint8_t *end = s + len;

	while (s < end && (s = memchr(s, '/', (size_t)(end - s))) != NULL) {
		n++;
		s++;
	}
	return n;
}
