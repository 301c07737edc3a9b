/* holdfast/bytes.h - big-endian integers in byte buffers, the one helper
 * the codec (MQTT is big-endian on the wire), the store (keys and values
 * are big-endian so LMDB's bytewise order is numeric order) and the engine
 * (its properties blob) share. hf_beN writes an N-bit value at p; hf_rdN
 * reads one. The caller has checked that the bytes are there. Pure. */
#ifndef HOLDFAST_BYTES_H
#define HOLDFAST_BYTES_H

#include <stdint.h>

static inline void
hf_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void
hf_be32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static inline void
hf_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static inline uint16_t
hf_rd16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static inline uint32_t
hf_rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t
hf_rd64(const uint8_t *p)
{
	return (uint64_t)hf_rd32(p) << 32 | hf_rd32(p + 4);
}

#endif
