/*
 * number.h - number formatting, parsing and Liquid arithmetic.
 * Owns: Ruby-compatible Float#to_s, int/float text parsing, and the exact
 * decimal arithmetic Liquid gets from BigDecimal (0.1 + 0.2 == 0.3).
 */
#ifndef LIQ_NUMBER_H
#define LIQ_NUMBER_H
#include "liquid.h"

#define LIQ_NUMBUF 40

/* A Liquid numeric operand: an int64, an exact decimal m*10^e, or a double
 * (used when the decimal form overflows, or for inf/nan). */
typedef struct liq_num
{
	enum
	{
		LIQ_NUM_INT,
		LIQ_NUM_DEC,
		LIQ_NUM_DBL
	} kind;
	int64_t	 i;
	__int128 m;
	int		 e;
	double	 d;
	bool	 big; /* an integer beyond 64 bits, which Ruby keeps exact: the filters refuse it
				   * (LIQ_ERR_RANGE) rather than print it as a float (see README, "Numbers") */
} liq_num;

/* Format v like Ruby Float#to_s into buf (>= LIQ_NUMBUF); returns length. */
size_t liq_fmt_float(char *buf, double v);
/* Format an int64 into buf (>= LIQ_NUMBUF); returns length. */
size_t liq_fmt_int(char *buf, int64_t v);
/* Parse a literal of the form -?\d+(\.\d+)? into an int or float value. */
bool liq_parse_number_literal(const char *s, size_t len, liq_value *out);
/* Ruby String#to_i: leading whitespace, optional sign, digits (else 0). */
int64_t liq_str_to_i(const char *s, size_t len, bool *overflow);
/* Does s (after strip) look like -?\d+\.\d+ (Utils.to_number's decimal
 * strings)? Sets [*b, *e) to the stripped text. */
bool liq_is_decimal_text(const char *s, size_t len, size_t *b, size_t *e);
/* Liquid Utils.to_number: int stays int, float/decimal strings become exact
 * decimals, other strings String#to_i, everything else 0. */
liq_num liq_to_num(liq_value v);
/* Convert a liq_num back to a Liquid value (decimal -> float). */
liq_value liq_num_value(liq_num n);
/* Double approximation of a liq_num. */
double liq_num_to_double(liq_num n);

typedef enum
{
	LIQ_OP_ADD,
	LIQ_OP_SUB,
	LIQ_OP_MUL,
	LIQ_OP_DIV,
	LIQ_OP_MOD
} liq_arith_op;
/* Apply an arithmetic filter op; returns false on integer division by zero. An integer result
 * beyond 64 bits, or any result from an operand that is one, comes back with big set. */
bool liq_num_arith(liq_num a, liq_num b, liq_arith_op op, liq_num *res);
/* Round half away from zero to `digits` decimals (Ruby BigDecimal#round). */
liq_num liq_num_round(liq_num a, int64_t digits);
/* floor (dir < 0) or ceil (dir > 0) to an integer value; false if not finite. */
bool liq_num_floor_ceil(liq_num a, int dir, liq_value *out);
/* Compare two numbers: <0, 0, >0. */
int liq_num_cmp(liq_num a, liq_num b);
/* Absolute value. */
liq_num liq_num_abs(liq_num a);
#endif
