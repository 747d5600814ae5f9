/*
 * number.c - Ruby-compatible number formatting and Liquid arithmetic.
 * Owns: Float#to_s (shortest round-trip digits, 1.0e+20 rules), String#to_i,
 * and exact decimal (mantissa * 10^exp in 128 bits) arithmetic that mirrors
 * the BigDecimal conversions of Liquid's Utils.to_number.
 */
#include "number.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

typedef __int128 i128;
#define I128_MAX ((i128) (((unsigned __int128) 1 << 127) - 1))
#define DEC_LIMIT ((i128) 1000000000 * 1000000000 * 1000000000 * 100000000) /* 1e35 */

static const double pow10_tab[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
								   1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Fast path: smallest k <= 15 with v == m / 10^k for an integer |m| < 2^53
 * (exact arithmetic, so the check is a true round trip). v > 0. */
static bool
fast_decimal(double v, int64_t *m, int *k)
{
	int i;
	for (i = 0; i <= 15; i++)
	{
		double x = v * pow10_tab[i], r, frac;
		if (x >= 9007199254740992.0)
			return false;
		/* nearest integer to the exact product v*10^i (fma gives the
		 * rounding residual of x), so the digits are the closest ones */
		r = round(x);
		frac = (x - r) + fma(v, pow10_tab[i], -x);
		if (frac > 0.5)
			r += 1;
		else if (frac < -0.5)
			r -= 1;
		if (r / pow10_tab[i] == v)
		{
			*m = (int64_t) r;
			*k = i;
			return true;
		}
	}
	return false;
}

static int shortest_digits_slow(double v, char *digits, int *decpt);

/* Shortest decimal digits that round-trip v (v > 0, finite); sets *decpt. */
static int
shortest_digits(double v, char *digits, int *decpt)
{
	int64_t fm;
	int		fk;
	if (fast_decimal(v, &fm, &fk) && fm > 0)
	{
		char tmp[24];
		int	 n = snprintf(tmp, sizeof tmp, "%lld", (long long) fm), z = n;
		while (z > 1 && tmp[z - 1] == '0')
			z--;
		memcpy(digits, tmp, (size_t) z);
		digits[z] = 0;
		*decpt = n - fk;
		return z;
	}
	return shortest_digits_slow(v, digits, decpt);
}

/* Shortest round-trip digits via printf/strtod (general case). */
static int
shortest_digits_slow(double v, char *digits, int *decpt)
{
	char		tmp[48];
	int			n = 0, exp, lo = 1, hi = 17;
	const char *c;
	/* round-tripping is monotone in the precision: binary search it */
	while (lo < hi)
	{
		int mid = (lo + hi) / 2;
		snprintf(tmp, sizeof tmp, "%.*e", mid - 1, v);
		if (strtod(tmp, NULL) == v)
			hi = mid;
		else
			lo = mid + 1;
	}
	snprintf(tmp, sizeof tmp, "%.*e", lo - 1, v);
	for (c = tmp; *c && *c != 'e'; c++)
		if (*c >= '0' && *c <= '9')
			digits[n++] = *c;
	exp = atoi(c + 1);
	while (n > 1 && digits[n - 1] == '0')
		n--;
	digits[n] = 0;
	*decpt = exp + 1;
	return n;
}

/* Format v like Ruby Float#to_s into buf (>= LIQ_NUMBUF); returns length. */
size_t
liq_fmt_float(char *buf, double v)
{
	char  digits[24];
	int	  nd, decpt, i;
	char *o = buf;
	if (isnan(v))
		return (size_t) sprintf(buf, "NaN");
	if (isinf(v))
		return (size_t) sprintf(buf, v < 0 ? "-Infinity" : "Infinity");
	if (v == 0)
		return (size_t) sprintf(buf, signbit(v) ? "-0.0" : "0.0");
	if (v < 0)
	{
		*o++ = '-';
		v = -v;
	}
	nd = shortest_digits(v, digits, &decpt);
	if (decpt > 0 && (decpt < 16 || (decpt == 16 && nd > 16)))
	{ /* Ruby Float#to_s rule */
		for (i = 0; i < decpt; i++)
			*o++ = i < nd ? digits[i] : '0';
		*o++ = '.';
		if (nd > decpt)
			for (i = decpt; i < nd; i++)
				*o++ = digits[i];
		else
			*o++ = '0';
	}
	else if (decpt <= 0 && decpt > -4)
	{
		*o++ = '0';
		*o++ = '.';
		for (i = 0; i < -decpt; i++)
			*o++ = '0';
		for (i = 0; i < nd; i++)
			*o++ = digits[i];
	}
	else
	{
		*o++ = digits[0];
		*o++ = '.';
		if (nd > 1)
			for (i = 1; i < nd; i++)
				*o++ = digits[i];
		else
			*o++ = '0';
		o += sprintf(o, "e%+03d", decpt - 1);
	}
	*o = 0;
	return (size_t) (o - buf);
}

/* Format an int64 into buf (>= LIQ_NUMBUF); returns length. */
size_t
liq_fmt_int(char *buf, int64_t v)
{
	return (size_t) sprintf(buf, "%lld", (long long) v);
}

/* Parse decimal text "-?\d+(\.\d+)?" into an exact decimal; false if it
 * does not fit in 35 digits. */
static bool
parse_decimal(const char *s, size_t len, liq_num *out)
{
	size_t i = 0;
	bool   neg = false, frac = false;
	i128   m = 0;
	int	   e = 0;
	if (i < len && (s[i] == '-' || s[i] == '+'))
	{
		neg = s[i] == '-';
		i++;
	}
	for (; i < len; i++)
	{
		if (s[i] == '.')
		{
			frac = true;
			continue;
		}
		if (m >= DEC_LIMIT)
		{
			if (!frac)
				return false;
			continue; /* drop excess fractional precision */
		}
		m = m * 10 + (s[i] - '0');
		if (frac)
			e--;
	}
	out->kind = LIQ_NUM_DEC;
	out->m = neg ? -m : m;
	out->e = e;
	return true;
}

/* Double -> exact decimal of its shortest repr (what BigDecimal(f.to_s) does). */
static liq_num
num_from_double(double d)
{
	liq_num n;
	memset(&n, 0, sizeof n);
	if (!isfinite(d))
	{
		n.kind = LIQ_NUM_DBL;
		n.d = d;
		return n;
	}
	if (d == 0)
	{
		n.kind = LIQ_NUM_DEC;
		return n;
	}
	{
		char	digits[24];
		int		decpt, nd, i, fk;
		int64_t fm;
		i128	m = 0;
		if (fast_decimal(fabs(d), &fm, &fk))
		{
			n.kind = LIQ_NUM_DEC;
			n.m = d < 0 ? -(i128) fm : fm;
			n.e = -fk;
			return n;
		}
		nd = shortest_digits(fabs(d), digits, &decpt);
		for (i = 0; i < nd; i++)
			m = m * 10 + (digits[i] - '0');
		n.kind = LIQ_NUM_DEC;
		n.m = d < 0 ? -m : m;
		n.e = decpt - nd;
	}
	return n;
}

/* Parse a literal of the form -?\d+(\.\d+)? into an int or float value. */
bool
liq_parse_number_literal(const char *s, size_t len, liq_value *out)
{
	return liq_number_from_text(s, len, out);
}

/* Number from decimal text as in JSON: ints stay ints, the rest are floats; an integer beyond
 * 64 bits stays its exact digits (a string referencing s). */
bool
liq_number_from_text(const char *s, size_t len, liq_value *out)
{
	size_t i = 0;
	bool   isfloat = false, digits = false;
	char   tmp[512];
	*out = liq_nil();
	if (len == 0 || len >= sizeof tmp)
		return false;
	if (s[i] == '-' || s[i] == '+')
		i++;
	for (; i < len; i++)
	{
		char c = s[i];
		if (c >= '0' && c <= '9')
			digits = true;
		else if (c == '.' || c == 'e' || c == 'E')
			isfloat = true;
		else if ((c == '-' || c == '+') && (s[i - 1] == 'e' || s[i - 1] == 'E'))
			;
		else
			return false;
	}
	if (!digits)
		return false;
	memcpy(tmp, s, len);
	tmp[len] = 0;
	if (!isfloat)
	{
		bool	of = false;
		int64_t v = liq_str_to_i(s, len, &of);
		if (!of)
		{
			*out = liq_int(v);
			return true;
		}
		*out = liq_string_ref(s, len);
		return true;
	}
	{
		char  *end;
		double d = strtod(tmp, &end);
		if (end != tmp + len)
			return false;
		*out = liq_float(d);
	}
	return true;
}

/* Ruby String#to_i: leading whitespace, optional sign, digits (else 0). */
int64_t
liq_str_to_i(const char *s, size_t len, bool *overflow)
{
	size_t	 i = 0;
	bool	 neg = false;
	uint64_t v = 0;
	if (overflow)
		*overflow = false;
	while (i < len && (s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r')))
		i++;
	if (i < len && (s[i] == '-' || s[i] == '+'))
	{
		neg = s[i] == '-';
		i++;
	}
	for (; i < len; i++)
	{
		if (s[i] == '_' && i + 1 < len && s[i + 1] >= '0' && s[i + 1] <= '9' && i > 0 && s[i - 1] >= '0' && s[i - 1] <= '9')
			continue;
		if (s[i] < '0' || s[i] > '9')
			break;
		if (v > (UINT64_MAX - 9) / 10)
		{
			if (overflow)
				*overflow = true;
			return neg ? INT64_MIN : INT64_MAX;
		}
		v = v * 10 + (uint64_t) (s[i] - '0');
	}
	if (v > (uint64_t) INT64_MAX + (neg ? 1u : 0u))
	{
		if (overflow)
			*overflow = true;
		return neg ? INT64_MIN : INT64_MAX;
	}
	return neg ? (int64_t) (0 - v) : (int64_t) v;
}

/* Does s (after strip) look like -?\d+\.\d+ ? Sets [*b, *e) to the stripped text. */
bool
liq_is_decimal_text(const char *s, size_t len, size_t *b, size_t *e)
{
	size_t i, st = 0, en = len;
	bool   dot = false, d1 = false, d2 = false;
	while (st < en && (s[st] == ' ' || (s[st] >= '\t' && s[st] <= '\r') || s[st] == 0))
		st++;
	while (en > st && (s[en - 1] == ' ' || (s[en - 1] >= '\t' && s[en - 1] <= '\r') || s[en - 1] == 0))
		en--;
	i = st;
	if (i < en && s[i] == '-')
		i++;
	for (; i < en; i++)
	{
		if (s[i] >= '0' && s[i] <= '9')
		{
			if (dot)
				d2 = true;
			else
				d1 = true;
		}
		else if (s[i] == '.' && !dot)
		{
			dot = true;
		}
		else
		{
			return false;
		}
	}
	*b = st;
	*e = en;
	return dot && d1 && d2;
}

/* The leading integer of an int64-overflowing text (String#to_i digits) as an
 * exact decimal when it has at most 35 digits, else a double. */
static liq_num
num_from_integer_text(const char *s, size_t len)
{
	char	digits[512];
	size_t	i = 0, nd = 0;
	liq_num n;
	memset(&n, 0, sizeof n);
	while (i < len && (s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r')))
		i++;
	if (i < len && (s[i] == '-' || s[i] == '+'))
		digits[nd++] = s[i++];
	for (; i < len && nd < sizeof digits - 1; i++)
	{
		if (s[i] == '_' && i + 1 < len && s[i + 1] >= '0' && s[i + 1] <= '9')
			continue;
		if (s[i] < '0' || s[i] > '9')
			break;
		digits[nd++] = s[i];
	}
	digits[nd] = 0;
	if (!parse_decimal(digits, nd, &n))
	{
		memset(&n, 0, sizeof n);
		n.kind = LIQ_NUM_DBL;
		n.d = strtod(digits, NULL);
	}
	return n;
}

/* Liquid Utils.to_number. */
liq_num
liq_to_num(liq_value v)
{
	liq_num n;
	memset(&n, 0, sizeof n);
	n.kind = LIQ_NUM_INT;
	switch (v.type)
	{
		case LIQ_INT:
			n.i = v.u.i;
			break;
		case LIQ_FLOAT:
			n = num_from_double(v.u.f);
			break;
		case LIQ_STRING:
		{
			size_t b, e;
			if (liq_is_decimal_text(v.u.s, v.len, &b, &e))
			{
				if (!parse_decimal(v.u.s + b, e - b, &n))
				{
					n.kind = LIQ_NUM_DBL;
					n.d = strtod(v.u.s + b, NULL);
				}
			}
			else
			{
				bool of;
				n.i = liq_str_to_i(v.u.s, v.len, &of);
				if (of) /* String#to_i is a bignum in Ruby: exact as a decimal, or a double, marked big */
				{
					n = num_from_integer_text(v.u.s, v.len);
					n.big = true;
				}
			}
			break;
		}
		default:
			break;
	}
	return n;
}

/* Double approximation of a liq_num. */
double
liq_num_to_double(liq_num n)
{
	char buf[96];
	i128 m;
	char digits[48];
	int	 nd = 0;
	bool neg;
	if (n.kind == LIQ_NUM_INT)
		return (double) n.i;
	if (n.kind == LIQ_NUM_DBL)
		return n.d;
	{
		/* exact fast path: |m| < 2^53 and a small power of ten */
		i128 lim = (i128) 1 << 53;
		if (n.m < lim && n.m > -lim && n.e >= -22 && n.e <= 22)
			return n.e < 0 ? (double) n.m / pow10_tab[-n.e] : (double) n.m * pow10_tab[n.e];
	}
	m = n.m;
	neg = m < 0;
	if (neg)
		m = -m;
	do
	{
		digits[nd++] = (char) ('0' + (int) (m % 10));
		m /= 10;
	} while (m);
	{
		int i, o = 0;
		if (neg)
			buf[o++] = '-';
		for (i = nd - 1; i >= 0; i--)
			buf[o++] = digits[i];
		o += snprintf(buf + o, sizeof buf - (size_t) o, "e%d", n.e);
		buf[o] = 0;
	}
	return strtod(buf, NULL);
}

/* Convert a liq_num back to a Liquid value (decimal -> float). */
liq_value
liq_num_value(liq_num n)
{
	if (n.kind == LIQ_NUM_INT)
		return liq_int(n.i);
	return liq_float(liq_num_to_double(n));
}

/* View any number as an exact decimal when possible. */
static bool
as_dec(liq_num n, i128 *m, int *e)
{
	if (n.kind == LIQ_NUM_INT)
	{
		*m = n.i;
		*e = 0;
		return true;
	}
	if (n.kind == LIQ_NUM_DEC)
	{
		*m = n.m;
		*e = n.e;
		return true;
	}
	return false;
}

/* Multiply m by 10^k if it stays below the safe limit. */
static bool
scale_up(i128 *m, int k)
{
	while (k-- > 0)
	{
		if (*m > DEC_LIMIT || *m < -DEC_LIMIT)
			return false;
		*m *= 10;
	}
	return true;
}

/* Bring two decimals to a common exponent. */
static bool
align(i128 *m1, int *e1, i128 *m2, int *e2)
{
	if (*e1 > *e2)
	{
		if (!scale_up(m1, *e1 - *e2))
			return false;
		*e1 = *e2;
	}
	else if (*e2 > *e1)
	{
		if (!scale_up(m2, *e2 - *e1))
			return false;
		*e2 = *e1;
	}
	return true;
}

/* Make a decimal liq_num. */
static liq_num
mk_dec(i128 m, int e)
{
	liq_num r;
	memset(&r, 0, sizeof r);
	r.kind = LIQ_NUM_DEC;
	r.m = m;
	r.e = e;
	return r;
}

/* Make a double liq_num. */
static liq_num
mk_dbl(double d)
{
	liq_num r;
	memset(&r, 0, sizeof r);
	r.kind = LIQ_NUM_DBL;
	r.d = d;
	return r;
}

/* Make an int liq_num. */
static liq_num
mk_int(int64_t i)
{
	liq_num r;
	memset(&r, 0, sizeof r);
	r.kind = LIQ_NUM_INT;
	r.i = i;
	return r;
}

/* Arithmetic on doubles (fallback path). */
static bool
dbl_arith(double a, double b, liq_arith_op op, liq_num *res)
{
	double r = 0;
	switch (op)
	{
		case LIQ_OP_ADD:
			r = a + b;
			break;
		case LIQ_OP_SUB:
			r = a - b;
			break;
		case LIQ_OP_MUL:
			r = a * b;
			break;
		case LIQ_OP_DIV:
			r = a / b;
			break;
		case LIQ_OP_MOD:
			if (b == 0)
				return false;
			r = fmod(a, b);
			if (r != 0 && ((r < 0) != (b < 0)))
				r += b;
			break;
	}
	*res = mk_dbl(r);
	return true;
}

/* Floored integer division / modulo like Ruby. */
static void
floor_divmod(int64_t a, int64_t b, int64_t *q, int64_t *r)
{
	int64_t qq = a / b, rr = a % b;
	if (rr != 0 && ((rr < 0) != (b < 0)))
	{
		qq--;
		rr += b;
	}
	*q = qq;
	*r = rr;
}

/* Apply an arithmetic filter op; returns false on integer division by zero. */
bool
liq_num_arith(liq_num a, liq_num b, liq_arith_op op, liq_num *res)
{
	i128 m1, m2;
	int	 e1, e2;
	if (a.big || b.big)
	{
		*res = mk_dbl(0);
		res->big = true;
		return true;
	}
	if (a.kind == LIQ_NUM_INT && b.kind == LIQ_NUM_INT)
	{
		int64_t r;
		switch (op)
		{
			case LIQ_OP_ADD:
				if (!__builtin_add_overflow(a.i, b.i, &r))
				{
					*res = mk_int(r);
					return true;
				}
				break;
			case LIQ_OP_SUB:
				if (!__builtin_sub_overflow(a.i, b.i, &r))
				{
					*res = mk_int(r);
					return true;
				}
				break;
			case LIQ_OP_MUL:
				if (!__builtin_mul_overflow(a.i, b.i, &r))
				{
					*res = mk_int(r);
					return true;
				}
				break;
			case LIQ_OP_DIV:
			case LIQ_OP_MOD:
			{
				int64_t q, rr;
				if (b.i == 0)
					return false;
				if (a.i == INT64_MIN && b.i == -1)
				{
					*res = op == LIQ_OP_DIV ? mk_dec(-(i128) a.i, 0) : mk_int(0);
					res->big = op == LIQ_OP_DIV;
					return true;
				}
				floor_divmod(a.i, b.i, &q, &rr);
				*res = mk_int(op == LIQ_OP_DIV ? q : rr);
				return true;
			}
		}
		/* an integer beyond 64 bits (exact here: two int64 fit an i128 product) */
		*res = mk_dec(op == LIQ_OP_ADD ? (i128) a.i + b.i : op == LIQ_OP_SUB ? (i128) a.i - b.i
																			 : (i128) a.i * b.i,
					  0);
		res->big = true;
		return true;
	}
	if (!as_dec(a, &m1, &e1) || !as_dec(b, &m2, &e2))
		return dbl_arith(liq_num_to_double(a), liq_num_to_double(b), op, res);
	switch (op)
	{
		case LIQ_OP_ADD:
		case LIQ_OP_SUB:
			if (!align(&m1, &e1, &m2, &e2))
				break;
			*res = mk_dec(op == LIQ_OP_ADD ? m1 + m2 : m1 - m2, e1);
			return true;
		case LIQ_OP_MUL:
		{
			i128 am1 = m1 < 0 ? -m1 : m1, am2 = m2 < 0 ? -m2 : m2;
			if (am1 != 0 && am2 > I128_MAX / am1 / 4)
				break;
			*res = mk_dec(m1 * m2, e1 + e2);
			return true;
		}
		case LIQ_OP_DIV:
		{
			int	 k = 0;
			i128 q;
			if (m2 == 0)
			{
				double x = liq_num_to_double(a);
				*res = mk_dbl(x == 0 ? NAN : (x < 0 ? -INFINITY : INFINITY));
				return true;
			}
			/* scale the numerator to ~35 digits for a precise quotient */
			while ((m1 < DEC_LIMIT / 10 && m1 > -DEC_LIMIT / 10) && k < 60)
			{
				m1 *= 10;
				k++;
			}
			q = m1 / m2;
			*res = mk_dec(q, e1 - k - e2);
			return true;
		}
		case LIQ_OP_MOD:
		{
			i128 r;
			if (m2 == 0)
				return false;
			if (!align(&m1, &e1, &m2, &e2))
				break;
			r = m1 % m2;
			if (r != 0 && ((r < 0) != (m2 < 0)))
				r += m2;
			*res = mk_dec(r, e1);
			return true;
		}
	}
	return dbl_arith(liq_num_to_double(a), liq_num_to_double(b), op, res);
}

/* Round half away from zero to `digits` decimals (Ruby BigDecimal#round). */
liq_num
liq_num_round(liq_num a, int64_t digits)
{
	i128 m;
	int	 e;
	if (a.kind == LIQ_NUM_INT)
	{
		if (digits >= 0)
			return a;
		if (digits < -19)
			return mk_int(0);
		{
			i128	p = 1, v = a.i, q;
			int64_t k;
			for (k = 0; k < -digits; k++)
				p *= 10;
			q = (v < 0 ? -v : v);
			q = (q + p / 2) / p * p;
			if (v < 0)
				q = -q;
			if (q > INT64_MAX || q < INT64_MIN)
			{
				liq_num r = mk_dec(q, 0);

				r.big = true;
				return r;
			}
			return mk_int((int64_t) q);
		}
	}
	if (!as_dec(a, &m, &e))
		return a;
	if (digits > 60)
		digits = 60;
	if (digits < -60)
		digits = -60;
	if (e >= -digits)
		return a;
	{
		int	 drop = (int) (-digits - e);
		i128 p = 1, am = m < 0 ? -m : m;
		int	 k;
		if (drop > 37)
			return mk_dec(0, (int) -digits);
		for (k = 0; k < drop; k++)
			p *= 10;
		am = (am + p / 2) / p;
		return mk_dec(m < 0 ? -am : am, (int) -digits);
	}
}

/* floor (dir < 0) or ceil (dir > 0) to an integer value; false if not finite. */
bool
liq_num_floor_ceil(liq_num a, int dir, liq_value *out)
{
	i128 m;
	int	 e;
	if (a.kind == LIQ_NUM_INT)
	{
		*out = liq_int(a.i);
		return true;
	}
	if (!as_dec(a, &m, &e))
	{
		double d = dir < 0 ? floor(a.d) : ceil(a.d);
		if (!isfinite(d))
			return false;
		if (d >= 9.2e18 || d <= -9.2e18)
			*out = liq_float(d);
		else
			*out = liq_int((int64_t) d);
		return true;
	}
	while (e > 0)
	{
		if (m > DEC_LIMIT || m < -DEC_LIMIT)
		{
			*out = liq_float(liq_num_to_double(a));
			return true;
		}
		m *= 10;
		e--;
	}
	if (e < 0)
	{
		i128 p = 1, q, r;
		int	 k;
		if (-e > 37)
		{
			q = 0;
			r = m;
		}
		else
		{
			for (k = 0; k < -e; k++)
				p *= 10;
			q = m / p;
			r = m % p;
		}
		if (r != 0 && dir < 0 && m < 0)
			q--;
		if (r != 0 && dir > 0 && m > 0)
			q++;
		m = q;
	}
	if (m > INT64_MAX || m < INT64_MIN)
		*out = liq_float((double) m);
	else
		*out = liq_int((int64_t) m);
	return true;
}

/* Compare two numbers: <0, 0, >0. */
int
liq_num_cmp(liq_num a, liq_num b)
{
	i128 m1, m2;
	int	 e1, e2;
	if (as_dec(a, &m1, &e1) && as_dec(b, &m2, &e2) && align(&m1, &e1, &m2, &e2))
		return m1 < m2 ? -1 : m1 > m2;
	{
		double x = liq_num_to_double(a), y = liq_num_to_double(b);
		return x < y ? -1 : x > y;
	}
}

/* Absolute value (of INT64_MIN: 2^63, an integer beyond 64 bits, marked big). */
liq_num
liq_num_abs(liq_num a)
{
	if (a.kind == LIQ_NUM_INT && a.i == INT64_MIN)
	{
		liq_num r = mk_dec(-(i128) a.i, 0);

		r.big = true;
		return r;
	}
	if (a.kind == LIQ_NUM_INT && a.i < 0)
		a.i = -a.i;
	else if (a.kind == LIQ_NUM_DEC && a.m < 0)
		a.m = -a.m;
	else if (a.kind == LIQ_NUM_DBL)
		a.d = fabs(a.d);
	return a;
}
