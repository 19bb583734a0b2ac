/* Big-endian field access for packet bytes, alignment-free. */
#ifndef WEIR_PACKET_BYTES_H
#define WEIR_PACKET_BYTES_H

#include <stdint.h>
#include <string.h>

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static inline void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* A 16-bit word exactly as it sits in memory (for checksum arithmetic). */
static inline uint16_t ld16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline void st16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, sizeof(v));
}

#endif /* WEIR_PACKET_BYTES_H */
