/* 128-bit unsigned numbers: the common ground of port numbers, marks and
 * IPv4/IPv6 addresses in interval sets.
 */
#include <string.h>
#include <sys/socket.h>

#include "policy/policy_internal.h"

int weir__u128_cmp(struct weir__u128 a, struct weir__u128 b)
{
	if (a.hi != b.hi)
		return a.hi < b.hi ? -1 : 1;
	if (a.lo != b.lo)
		return a.lo < b.lo ? -1 : 1;
	return 0;
}

struct weir__u128 weir__u128_num(uint64_t v)
{
	return (struct weir__u128){ 0, v };
}

struct weir__u128 weir__u128_add1(struct weir__u128 a)
{
	if (++a.lo == 0)
		a.hi++;
	return a;
}

struct weir__u128 weir__u128_sub1(struct weir__u128 a)
{
	if (a.lo-- == 0)
		a.hi--;
	return a;
}

struct weir__u128 weir__u128_ones(unsigned bits)
{
	if (bits >= 128)
		return (struct weir__u128){ ~0ull, ~0ull };
	if (bits >= 64)
		return (struct weir__u128){ bits == 64 ? 0 :
					    ~0ull >> (128 - bits), ~0ull };
	return (struct weir__u128){ 0, bits ? ~0ull >> (64 - bits) : 0 };
}

struct weir__u128 weir__u128_or(struct weir__u128 a, struct weir__u128 b)
{
	return (struct weir__u128){ a.hi | b.hi, a.lo | b.lo };
}

struct weir__u128 weir__u128_andnot(struct weir__u128 a, struct weir__u128 b)
{
	return (struct weir__u128){ a.hi & ~b.hi, a.lo & ~b.lo };
}

static uint64_t load_be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static void store_be(uint8_t *p, size_t n, uint64_t v)
{
	for (size_t i = n; i-- > 0; v >>= 8)
		p[i] = (uint8_t)v;
}

struct weir__u128 weir__u128_from_addr(const uint8_t *addr, int family)
{
	if (family == AF_INET)
		return weir__u128_num(load_be(addr, 4));
	return (struct weir__u128){ load_be(addr, 8), load_be(addr + 8, 8) };
}

void weir__u128_to_addr(struct weir__u128 v, int family, uint8_t *addr)
{
	memset(addr, 0, 16);
	if (family == AF_INET) {
		store_be(addr, 4, v.lo);
		return;
	}
	store_be(addr, 8, v.hi);
	store_be(addr + 8, 8, v.lo);
}
