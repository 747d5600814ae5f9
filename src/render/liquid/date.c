/*
 * date.c - the `date` filter: parsing of timestamps / date strings and a
 * Ruby-compatible strftime. The current time is never read: 'now' and
 * 'today' use liq_render_opts.now, and local time is UTC shifted by
 * liq_render_opts.tz_offset.
 * Owns: civil-date arithmetic, a Time.parse subset (ISO 8601, RFC 2822,
 * "March 14, 2016", "14 March 2016", d/m/y, d.m.y, times with am/pm and
 * zones) and strftime directives with Ruby flags (- _ 0 ^ #) and widths.
 */
#include "filters.h"
#include "render.h"
#include "number.h"
#include <string.h>
#include <stdio.h>

typedef struct tm_
{
	int64_t t;	 /* unix seconds */
	int32_t off; /* offset from UTC in seconds */
	bool	utc; /* print zone name "UTC" */
	int64_t year;
	int		mon, mday, hour, min, sec, wday, yday;
	long	nsec;
} tm_;

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;
	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* Civil date of a day count since 1970-01-01. */
static void
civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;
	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int) (doy - (153 * mp + 2) / 5 + 1);
	*m = (int) (mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* Is y a leap year? */
static bool
leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Fill broken-down fields from t + off. */
static void
breakdown(tm_ *tm)
{
	int64_t local = tm->t + tm->off, days, secs;
	days = local >= 0 ? local / 86400 : -((-local + 86399) / 86400);
	secs = local - days * 86400;
	civil_from_days(days, &tm->year, &tm->mon, &tm->mday);
	tm->hour = (int) (secs / 3600);
	tm->min = (int) (secs / 60 % 60);
	tm->sec = (int) (secs % 60);
	tm->wday = (int) (((days % 7) + 11) % 7); /* 1970-01-01 was a Thursday */
	tm->yday = (int) (days - days_from_civil(tm->year, 1, 1));
}

static const char *const month_names[] = {"January", "February", "March", "April", "May", "June", "July",
										  "August", "September", "October", "November", "December"};
static const char *const day_names[] = {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"};

/* Case-insensitive compare of n bytes against an ASCII word prefix. */
static bool
ieq(const char *s, size_t n, const char *w)
{
	size_t i;
	for (i = 0; i < n; i++)
	{
		char c = s[i], d = w[i];
		if (!d)
			return false;
		if (c >= 'A' && c <= 'Z')
			c = (char) (c + 32);
		if (d >= 'A' && d <= 'Z')
			d = (char) (d + 32);
		if (c != d)
			return false;
	}
	return true;
}

/* Month number (1-12) of a name or 3+ letter abbreviation; 0 if none. */
static int
month_of(const char *s, size_t n)
{
	int i;
	if (n < 3)
		return 0;
	for (i = 0; i < 12; i++)
		if (ieq(s, n, month_names[i]) || (n == 4 && i == 8 && ieq(s, 4, "sept")))
			return i + 1;
	return 0;
}

/* Is this a day name or abbreviation? */
static bool
is_day(const char *s, size_t n)
{
	int i;
	if (n < 3)
		return false;
	for (i = 0; i < 7; i++)
		if (ieq(s, n, day_names[i]))
			return true;
	return false;
}

/* Parse a date/time string (a practical subset of Ruby's Time.parse). */
static bool
parse_time(const char *s, size_t n, int64_t now, int32_t tzoff, tm_ *out)
{
	int64_t year = -1;
	int		mon = 0, mday = 0, hour = 0, min = 0, sec = 0;
	bool	have_time = false, have_zone = false, have_date = false, pm = false, am = false;
	int32_t zone = 0;
	long	nsec = 0;
	int64_t nums[3];
	int		nnum = 0;
	size_t	i = 0;
	while (i < n)
	{
		char c = s[i];
		if (c >= '0' && c <= '9')
		{
			size_t	st = i;
			int64_t v = 0;
			while (i < n && s[i] >= '0' && s[i] <= '9')
			{
				if (v < 100000000000LL)
					v = v * 10 + (s[i] - '0');
				i++;
			}
			if (i < n && s[i] == ':' && i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '9' && !have_time)
			{
				/* time hh:mm[:ss[.frac]] */
				hour = v > 1000 ? 1000 : (int) v;
				i++;
				min = 0;
				while (i < n && s[i] >= '0' && s[i] <= '9')
				{
					if (min < 1000)
						min = min * 10 + (s[i] - '0');
					i++;
				}
				if (i < n && s[i] == ':')
				{
					i++;
					while (i < n && s[i] >= '0' && s[i] <= '9')
					{
						if (sec < 1000)
							sec = sec * 10 + (s[i] - '0');
						i++;
					}
					if (i < n && (s[i] == '.' || s[i] == ','))
					{
						long scale = 100000000;
						i++;
						while (i < n && s[i] >= '0' && s[i] <= '9')
						{
							nsec += (s[i++] - '0') * scale;
							scale /= 10;
						}
					}
				}
				have_time = true;
				continue;
			}
			if (i - st == 8 && nnum == 0 && !have_date)
			{
				year = v / 10000;
				mon = (int) (v / 100 % 100);
				mday = (int) (v % 100);
				have_date = true;
				continue;
			}
			if (i < n && (s[i] == '-' || s[i] == '/' || s[i] == '.') && !have_date)
			{
				/* y-m-d, d/m/y, y/m/d, d.m.y */
				char	sep = s[i];
				size_t	a_len = i - st;
				int64_t a = v, b = 0, c3 = 0;
				size_t	bl = 0, cl = 0;
				i++;
				while (i < n && s[i] >= '0' && s[i] <= '9' && bl < 12)
				{
					b = b * 10 + (s[i++] - '0');
					bl++;
				}
				if (!bl)
				{
					if (sep == '-' && i < n && month_of(s + i, 3))
					{
						/* 14-Mar-2016 */
						mon = month_of(s + i, 3);
						while (i < n && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
							i++;
						mday = (int) a;
						if (i < n && s[i] == '-')
						{
							i++;
							year = 0;
							while (i < n && s[i] >= '0' && s[i] <= '9')
							{
								if (year < 100000000)
									year = year * 10 + (s[i] - '0');
								i++;
							}
						}
						have_date = true;
						continue;
					}
					return false;
				}
				if (i < n && s[i] == sep)
				{
					i++;
					while (i < n && s[i] >= '0' && s[i] <= '9' && cl < 12)
					{
						c3 = c3 * 10 + (s[i++] - '0');
						cl++;
					}
				}
				if (!cl)
				{
					if (a_len >= 3)
					{ /* yyyy-mm */
						year = a;
						mon = (int) b;
						mday = 1;
					}
					else if (sep == '.')
					{
						mday = (int) a;
						mon = (int) b;
					}
					else
					{
						mon = (int) a;
						mday = (int) b;
					}
				}
				else if (a_len >= 3)
				{
					year = a;
					mon = (int) b;
					mday = (int) c3;
				}
				else
				{
					mday = (int) a;
					mon = (int) b;
					year = c3;
					if (cl <= 2)
						year += year < 69 ? 2000 : 1900;
				}
				have_date = true;
				continue;
			}
			if (nnum < 3)
				nums[nnum++] = v;
			continue;
		}
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		{
			size_t st = i;
			int	   m;
			while (i < n && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
				i++;
			if ((m = month_of(s + st, i - st)) != 0)
			{
				mon = m;
				have_date = true;
			}
			else if (is_day(s + st, i - st))
			{
				;
			}
			else if (ieq(s + st, i - st, "pm") && i - st == 2)
			{
				pm = true;
			}
			else if (ieq(s + st, i - st, "am") && i - st == 2)
			{
				am = true;
			}
			else if ((i - st == 3 && (ieq(s + st, 3, "utc") || ieq(s + st, 3, "gmt"))) ||
					 (i - st == 1 && (s[st] == 'Z' || s[st] == 'z')))
			{
				have_zone = true;
				zone = 0;
			}
			else if (i - st == 1 && (s[st] == 'T' || s[st] == 't'))
			{
				;
			}
			else
			{
				return false;
			}
			continue;
		}
		if ((c == '+' || c == '-') && have_time && i + 2 < n && s[i + 1] >= '0' && s[i + 1] <= '9')
		{
			int sign = c == '-' ? -1 : 1, hh = 0, mm = 0, k = 0;
			i++;
			while (i < n && s[i] >= '0' && s[i] <= '9' && k < 2)
			{
				hh = hh * 10 + (s[i++] - '0');
				k++;
			}
			if (i < n && s[i] == ':')
				i++;
			k = 0;
			while (i < n && s[i] >= '0' && s[i] <= '9' && k < 2)
			{
				mm = mm * 10 + (s[i++] - '0');
				k++;
			}
			zone = sign * (hh * 3600 + mm * 60);
			have_zone = true;
			continue;
		}
		if (c == ' ' || c == ',' || c == '\t' || c == '\n' || c == '\r' || c == '.' || c == '(' || c == ')')
		{
			i++;
			continue;
		}
		return false;
	}
	/* loose numbers: day and year around a month name, or an hour with am/pm */
	{
		int k;
		for (k = 0; k < nnum; k++)
		{
			int64_t v = nums[k];
			if ((pm || am) && !have_time && v <= 12 && (mon == 0 || mday != 0 || k == nnum - 1) && mday)
			{
				hour = (int) v;
				have_time = true;
			}
			else if (mday == 0 && v >= 1 && v <= 31 && mon)
				mday = (int) v;
			else if (year < 0 && mon)
				year = v;
			else if ((pm || am) && !have_time && v <= 12)
			{
				hour = (int) v;
				have_time = true;
			}
			else
				return false;
		}
	}
	if (!have_date && !have_time)
		return false;
	if (pm && hour < 12)
		hour += 12;
	if (am && hour == 12)
		hour = 0;
	{
		tm_ nowtm;
		memset(&nowtm, 0, sizeof nowtm);
		nowtm.t = now;
		nowtm.off = have_zone ? zone : tzoff;
		breakdown(&nowtm);
		if (!have_date)
		{
			year = nowtm.year;
			mon = nowtm.mon;
			mday = nowtm.mday;
		}
		if (year < 0)
			year = nowtm.year;
		if (mon == 0)
			mon = 1;
		if (mday == 0)
			mday = 1;
	}
	if (mon < 1 || mon > 12 || mday < 1 || mday > 31 || hour > 24 || min > 59 || sec > 60)
		return false;
	if (year > 1000000000 || year < -1000000000)
		return false;
	{
		static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
		if (mday > mdays[mon - 1] + (mon == 2 && leap(year)))
			return false;
	}
	memset(out, 0, sizeof *out);
	out->off = have_zone ? zone : tzoff;
	out->utc = have_zone ? zone == 0 : tzoff == 0;
	out->t = days_from_civil(year, mon, mday) * 86400 + hour * 3600 + min * 60 + sec - out->off;
	out->nsec = nsec;
	breakdown(out);
	return true;
}

/* Append a number with Ruby strftime padding rules. */
static void
put_num(liq_buf *b, int64_t v, int width, char pad, char flag)
{
	char tmp[48];
	int	 len;
	if (width > 40)
		width = 40; /* keep formatting bounded */
	if (flag == '-')
		width = 0;
	else if (flag == '_')
		pad = ' ';
	else if (flag == '0')
		pad = '0';
	if (v < 0 && pad == '0')
		len = snprintf(tmp, sizeof tmp, "-%0*lld", width > 1 ? width - 1 : 0, (long long) -v);
	else
		len = snprintf(tmp, sizeof tmp, pad == '0' ? "%0*lld" : "%*lld", width, (long long) v);
	if (len < 0)
		return;
	if ((size_t) len >= sizeof tmp)
		len = (int) sizeof tmp - 1;
	liq_buf_put(b, tmp, (size_t) len);
}

/* Append a string with width/upcase flags. */
static void
put_str(liq_buf *b, const char *s, size_t n, int width, char flag, bool upcase, bool swapcase)
{
	size_t i;
	if (width > 1000)
		width = 1000;
	for (i = n; (int) i < width; i++)
		liq_buf_putc(b, flag == '0' ? '0' : ' ');
	for (i = 0; i < n; i++)
	{
		char c = s[i];
		if (upcase && c >= 'a' && c <= 'z')
			c = (char) (c - 32);
		else if (swapcase && c >= 'A' && c <= 'Z')
			c = (char) (c + 32);
		liq_buf_putc(b, c);
	}
}

/* ISO 8601 week-based year and week number. */
static void
iso_week(const tm_ *tm, int64_t *gyear, int *week)
{
	int		wday = (tm->wday + 6) % 7; /* Monday = 0 */
	int64_t y = tm->year;
	int		yday = tm->yday;
	int		w = (yday - wday + 10) / 7;
	if (w < 1)
	{
		int64_t py = y - 1;
		int		pdays = leap(py) ? 366 : 365;
		w = (yday + pdays - wday + 10) / 7;
		y = py;
	}
	else
	{
		int days = leap(y) ? 366 : 365;
		if (yday - wday + 3 >= days)
		{
			w = 1;
			y++;
		}
	}
	*gyear = y;
	*week = w;
}

static void format_time(liq_buf *b, const tm_ *tm, const char *f, size_t n, int depth);

/* Format one directive with flags and width. */
static void
directive(liq_buf *b, const tm_ *tm, char conv, char flag, int width, bool colons, int depth)
{
	bool up = flag == '^';
	int	 w = width;
	int	 h12 = tm->hour % 12 == 0 ? 12 : tm->hour % 12;
	switch (conv)
	{
		case 'Y':
			put_num(b, tm->year, w ? w : (tm->year < 0 ? 5 : 4), '0', flag == '-' ? '-' : (flag ? flag : '0'));
			break;
		case 'C':
			put_num(b, tm->year >= 0 ? tm->year / 100 : -((-tm->year + 99) / 100), w ? w : 2, '0', flag);
			break;
		case 'y':
			put_num(b, ((tm->year % 100) + 100) % 100, w ? w : 2, '0', flag);
			break;
		case 'm':
			put_num(b, tm->mon, w ? w : 2, '0', flag);
			break;
		case 'd':
			put_num(b, tm->mday, w ? w : 2, '0', flag);
			break;
		case 'e':
			put_num(b, tm->mday, w ? w : 2, ' ', flag);
			break;
		case 'j':
			put_num(b, tm->yday + 1, w ? w : 3, '0', flag);
			break;
		case 'H':
			put_num(b, tm->hour, w ? w : 2, '0', flag);
			break;
		case 'k':
			put_num(b, tm->hour, w ? w : 2, ' ', flag);
			break;
		case 'I':
			put_num(b, h12, w ? w : 2, '0', flag);
			break;
		case 'l':
			put_num(b, h12, w ? w : 2, ' ', flag);
			break;
		case 'M':
			put_num(b, tm->min, w ? w : 2, '0', flag);
			break;
		case 'S':
			put_num(b, tm->sec, w ? w : 2, '0', flag);
			break;
		case 'L':
		{
			char tmp[16];
			int	 digits = w ? w : 3, i;
			snprintf(tmp, sizeof tmp, "%09ld", tm->nsec);
			for (i = 0; i < digits; i++)
				liq_buf_putc(b, i < 9 ? tmp[i] : '0');
			break;
		}
		case 'N':
		{
			char tmp[16];
			int	 digits = w ? w : 9, i;
			snprintf(tmp, sizeof tmp, "%09ld", tm->nsec);
			for (i = 0; i < digits; i++)
				liq_buf_putc(b, i < 9 ? tmp[i] : '0');
			break;
		}
		case 's':
			put_num(b, tm->t, w ? w : 1, '0', flag);
			break;
		case 'u':
			put_num(b, tm->wday == 0 ? 7 : tm->wday, w ? w : 1, '0', flag);
			break;
		case 'w':
			put_num(b, tm->wday, w ? w : 1, '0', flag);
			break;
		case 'U':
			put_num(b, (tm->yday + 7 - tm->wday) / 7, w ? w : 2, '0', flag);
			break;
		case 'W':
			put_num(b, (tm->yday + 7 - ((tm->wday + 6) % 7)) / 7, w ? w : 2, '0', flag);
			break;
		case 'G':
		case 'g':
		case 'V':
		{
			int64_t gy;
			int		wk;
			iso_week(tm, &gy, &wk);
			if (conv == 'G')
				put_num(b, gy, w ? w : 4, '0', flag);
			else if (conv == 'g')
				put_num(b, ((gy % 100) + 100) % 100, w ? w : 2, '0', flag);
			else
				put_num(b, wk, w ? w : 2, '0', flag);
			break;
		}
		case 'A':
		case 'a':
		{
			const char *nm = day_names[tm->wday];
			put_str(b, nm, conv == 'a' ? 3 : strlen(nm), w, flag, up, flag == '#' ? false : false);
			if (flag == '#')
			{
				/* '#' swaps case: Ruby upcases names */
				b->len -= conv == 'a' ? 3 : strlen(nm);
				put_str(b, nm, conv == 'a' ? 3 : strlen(nm), 0, 0, true, false);
			}
			break;
		}
		case 'B':
		case 'b':
		case 'h':
		{
			const char *nm = month_names[tm->mon - 1];
			size_t		l = conv == 'B' ? strlen(nm) : 3;
			put_str(b, nm, l, w, flag, up || flag == '#', false);
			break;
		}
		case 'p':
		case 'P':
		{
			const char *ap = tm->hour < 12 ? (conv == 'p' ? "AM" : "am") : (conv == 'p' ? "PM" : "pm");
			put_str(b, ap, 2, w, flag, up, flag == '#');
			break;
		}
		case 'z':
		{
			int32_t o = tm->off;
			char	sign = o < 0 ? '-' : '+';
			char	tmp[24];
			if (o < 0)
				o = -o;
			if (colons)
				snprintf(tmp, sizeof tmp, "%c%02d:%02d", sign, (int) (o / 3600), (int) (o / 60 % 60));
			else
				snprintf(tmp, sizeof tmp, "%c%02d%02d", sign, (int) (o / 3600), (int) (o / 60 % 60));
			liq_buf_puts(b, tmp);
			break;
		}
		case 'Z':
			if (tm->utc)
				put_str(b, "UTC", 3, w, flag, false, flag == '#');
			break;
		case 'c':
			if (depth < 2)
				format_time(b, tm, "%a %b %e %H:%M:%S %Y", 20, depth + 1);
			break;
		case 'D':
		case 'x':
			if (depth < 2)
				format_time(b, tm, "%m/%d/%y", 8, depth + 1);
			break;
		case 'F':
			if (depth < 2)
				format_time(b, tm, "%Y-%m-%d", 8, depth + 1);
			break;
		case 'T':
		case 'X':
			if (depth < 2)
				format_time(b, tm, "%H:%M:%S", 8, depth + 1);
			break;
		case 'R':
			if (depth < 2)
				format_time(b, tm, "%H:%M", 5, depth + 1);
			break;
		case 'r':
			if (depth < 2)
				format_time(b, tm, "%I:%M:%S %p", 11, depth + 1);
			break;
		case 'v':
			if (depth < 2)
				format_time(b, tm, "%e-%^b-%Y", 9, depth + 1);
			break;
		case '+':
			if (depth < 2)
				format_time(b, tm, "%a %b %e %H:%M:%S %Z %Y", 23, depth + 1);
			break;
		case 'n':
			liq_buf_putc(b, '\n');
			break;
		case 't':
			liq_buf_putc(b, '\t');
			break;
		case '%':
			liq_buf_putc(b, '%');
			break;
		default:
			break;
	}
}

/* Ruby-compatible strftime. */
static void
format_time(liq_buf *b, const tm_ *tm, const char *f, size_t n, int depth)
{
	size_t i = 0;
	while (i < n && !b->failed)
	{
		size_t st = i;
		char   flag = 0;
		int	   width = 0;
		bool   colons = false;
		if (f[i] != '%')
		{
			const char *p = memchr(f + i, '%', n - i);
			size_t		l = p ? (size_t) (p - (f + i)) : n - i;
			liq_buf_put(b, f + i, l);
			i += l;
			continue;
		}
		i++;
		while (i < n && (f[i] == '-' || f[i] == '_' || f[i] == '0' || f[i] == '^' || f[i] == '#'))
		{
			flag = f[i];
			i++;
		}
		while (i < n && f[i] >= '0' && f[i] <= '9')
		{
			if (width < 1000)
				width = width * 10 + (f[i] - '0');
			i++;
		}
		while (i < n && f[i] == ':')
		{
			colons = true;
			i++;
		}
		if (i >= n)
		{
			liq_buf_put(b, f + st, n - st);
			break;
		}
		if (!strchr("YCymdejHkIlMSLNsuwUWGgVAaBbhpPzZcDxFTXRrv+nt%", f[i]) || f[i] == 0)
		{
			liq_buf_put(b, f + st, i + 1 - st); /* unknown directive: literal */
			i++;
			continue;
		}
		directive(b, tm, f[i], flag, width, colons, depth);
		i++;
	}
}

/* date filter: format a timestamp, 'now'/'today' or a date string. */
int
liq_filter_date(liq_rs *rs, liq_value in, const liq_value *args, int nargs, const liq_value *kwn,
				const liq_value *kwv, int nkw, liq_value *out)
{
	liq_value fmt = nargs > 0 ? liq_stringify(rs->ar, args[0]) : liq_str("", 0);
	tm_		  tm;
	liq_buf	  b;
	(void) kwn;
	(void) kwv;
	(void) nkw;
	*out = in;
	if (fmt.len == 0)
		return 0;
	memset(&tm, 0, sizeof tm);
	tm.off = rs->opts->tz_offset;
	tm.utc = tm.off == 0;
	if (in.type == LIQ_INT)
	{
		tm.t = in.u.i;
	}
	else if (in.type == LIQ_STRING)
	{
		size_t i;
		bool   digits = in.len > 0;
		if (in.len == 0)
			return 0;
		for (i = 0; i < in.len; i++)
			if (in.u.s[i] < '0' || in.u.s[i] > '9')
				digits = false;
		if ((in.len == 3 && ieq(in.u.s, 3, "now")) || (in.len == 5 && ieq(in.u.s, 5, "today")))
		{
			tm.t = rs->opts->now;
		}
		else if (digits)
		{
			bool of;
			tm.t = liq_str_to_i(in.u.s, in.len, &of);
			if (of)
				return 0;
		}
		else if (!parse_time(in.u.s, in.len, rs->opts->now, rs->opts->tz_offset, &tm))
		{
			return 0;
		}
	}
	else
	{
		return 0;
	}
	if (tm.t > 900000000000000LL || tm.t < -900000000000000LL)
		return 0;
	breakdown(&tm);
	liq_buf_init(&b, rs->ar, 0);
	format_time(&b, &tm, fmt.u.s, fmt.len, 0);
	*out = liq_str(b.data ? b.data : "", b.failed ? 0 : b.len);
	return 0;
}
