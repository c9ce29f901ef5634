/* A small JSON parser (DOM) and writer, enough for the plugin API's JSON and for our output. */
#include "host.h"

#include <stdlib.h>
#include <string.h>

/* ---- sbuf ---- */

void sb_reserve(sbuf *b, size_t extra)
{
	if (b->len + extra + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + extra + 1)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p) {
		fputs("error: out of memory\n", stderr);
		abort();
	}
	b->p = p;
	b->cap = cap;
}

void sb_write(sbuf *b, const void *data, size_t n)
{
	sb_reserve(b, n);
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void sb_putc(sbuf *b, char c)
{
	sb_reserve(b, 1);
	b->p[b->len++] = c;
	b->p[b->len] = '\0';
}

void sb_puts(sbuf *b, const char *s)
{
	sb_write(b, s, strlen(s));
}

void sb_printf(sbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char tmp[256];
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof tmp) {
		sb_write(b, tmp, (size_t)n);
		return;
	}
	sb_reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void sb_free(sbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* ---- parser ---- */

#define JSON_MAX_DEPTH 256

typedef struct {
	const char *s;
	const char *start;
	char *err;
	size_t errlen;
	int depth;
} jparser;

static void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz);
	if (!p) {
		fputs("error: out of memory\n", stderr);
		abort();
	}
	return p;
}

static jval *jfail(jparser *ps, const char *what)
{
	if (ps->err && !ps->err[0]) {
		size_t line = 1, col = 1;
		for (const char *c = ps->start; c < ps->s; c++, col++)
			if (*c == '\n') {
				line++;
				col = 0;
			}
		snprintf(ps->err, ps->errlen, "%s at line %zu, column %zu (offset %zu)", what, line, col,
			 (size_t)(ps->s - ps->start));
	}
	return NULL;
}

static void skip_ws(jparser *ps)
{
	while (*ps->s == ' ' || *ps->s == '\t' || *ps->s == '\n' || *ps->s == '\r')
		ps->s++;
}

static void put_utf8(sbuf *b, uint32_t cp)
{
	if (cp < 0x80) {
		sb_putc(b, (char)cp);
	} else if (cp < 0x800) {
		sb_putc(b, (char)(0xC0 | (cp >> 6)));
		sb_putc(b, (char)(0x80 | (cp & 0x3F)));
	} else if (cp < 0x10000) {
		sb_putc(b, (char)(0xE0 | (cp >> 12)));
		sb_putc(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
		sb_putc(b, (char)(0x80 | (cp & 0x3F)));
	} else {
		sb_putc(b, (char)(0xF0 | (cp >> 18)));
		sb_putc(b, (char)(0x80 | ((cp >> 12) & 0x3F)));
		sb_putc(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
		sb_putc(b, (char)(0x80 | (cp & 0x3F)));
	}
}

static int hex4(const char *s, uint32_t *out)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++) {
		char c = s[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (uint32_t)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/* Parses a string at ps->s (on the opening quote); returns a malloc'd copy. */
static char *parse_string(jparser *ps)
{
	sbuf b = {0};
	ps->s++;
	for (;;) {
		unsigned char c = (unsigned char)*ps->s;
		if (c == '"') {
			ps->s++;
			break;
		}
		if (c == '\0' || c < 0x20) {
			sb_free(&b);
			jfail(ps, c ? "control character in string" : "unterminated string");
			return NULL;
		}
		if (c != '\\') {
			sb_putc(&b, (char)c);
			ps->s++;
			continue;
		}
		ps->s++;
		char e = *ps->s++;
		switch (e) {
		case '"': sb_putc(&b, '"'); break;
		case '\\': sb_putc(&b, '\\'); break;
		case '/': sb_putc(&b, '/'); break;
		case 'b': sb_putc(&b, '\b'); break;
		case 'f': sb_putc(&b, '\f'); break;
		case 'n': sb_putc(&b, '\n'); break;
		case 'r': sb_putc(&b, '\r'); break;
		case 't': sb_putc(&b, '\t'); break;
		case 'u': {
			uint32_t cp;
			if (hex4(ps->s, &cp) < 0) {
				sb_free(&b);
				jfail(ps, "bad \\u escape");
				return NULL;
			}
			ps->s += 4;
			if (cp >= 0xD800 && cp < 0xDC00 && ps->s[0] == '\\' && ps->s[1] == 'u') {
				uint32_t lo;
				if (hex4(ps->s + 2, &lo) == 0 && lo >= 0xDC00 && lo < 0xE000) {
					cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
					ps->s += 6;
				}
			}
			put_utf8(&b, cp);
			break;
		}
		default:
			sb_free(&b);
			jfail(ps, "bad escape in string");
			return NULL;
		}
	}
	if (!b.p)
		return xcalloc(1, 1);
	return b.p;
}

static jval *parse_value(jparser *ps);

static jval *parse_number(jparser *ps)
{
	const char *p = ps->s;
	int is_int = 1;
	if (*p == '-')
		p++;
	if (*p == '0') {
		p++;
	} else if (*p >= '1' && *p <= '9') {
		while (*p >= '0' && *p <= '9')
			p++;
	} else {
		return jfail(ps, "invalid value");
	}
	if (*p == '.') {
		is_int = 0;
		p++;
		if (!(*p >= '0' && *p <= '9'))
			return jfail(ps, "invalid number");
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		is_int = 0;
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!(*p >= '0' && *p <= '9'))
			return jfail(ps, "invalid number");
		while (*p >= '0' && *p <= '9')
			p++;
	}
	jval *v = xcalloc(1, sizeof *v);
	v->t = J_NUM;
	v->is_int = is_int;
	size_t n = (size_t)(p - ps->s);
	v->s = xcalloc(n + 1, 1);
	memcpy(v->s, ps->s, n);
	v->num = strtod(v->s, NULL);
	ps->s = p;
	return v;
}

static jval *parse_container(jparser *ps, int is_obj)
{
	if (++ps->depth > JSON_MAX_DEPTH)
		return jfail(ps, "nesting too deep");
	jval *v = xcalloc(1, sizeof *v);
	v->t = is_obj ? J_OBJ : J_ARR;
	size_t cap = 0;
	char close = is_obj ? '}' : ']';
	ps->s++;
	skip_ws(ps);
	if (*ps->s == close) {
		ps->s++;
		ps->depth--;
		return v;
	}
	for (;;) {
		char *key = NULL;
		skip_ws(ps);
		if (is_obj) {
			if (*ps->s != '"') {
				json_free(v);
				return jfail(ps, "expected a string key");
			}
			key = parse_string(ps);
			if (!key) {
				json_free(v);
				return NULL;
			}
			skip_ws(ps);
			if (*ps->s != ':') {
				free(key);
				json_free(v);
				return jfail(ps, "expected ':'");
			}
			ps->s++;
		}
		jval *item = parse_value(ps);
		if (!item) {
			free(key);
			json_free(v);
			return NULL;
		}
		if (v->n == cap) {
			cap = cap ? cap * 2 : 4;
			v->items = realloc(v->items, cap * sizeof *v->items);
			if (is_obj)
				v->keys = realloc(v->keys, cap * sizeof *v->keys);
			if (!v->items || (is_obj && !v->keys)) {
				fputs("error: out of memory\n", stderr);
				abort();
			}
		}
		v->items[v->n] = item;
		if (is_obj)
			v->keys[v->n] = key;
		v->n++;
		skip_ws(ps);
		if (*ps->s == ',') {
			ps->s++;
			continue;
		}
		if (*ps->s == close) {
			ps->s++;
			break;
		}
		json_free(v);
		return jfail(ps, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
	}
	ps->depth--;
	return v;
}

static jval *parse_value(jparser *ps)
{
	skip_ws(ps);
	const char *s = ps->s;
	jval *v;
	switch (*s) {
	case '{': return parse_container(ps, 1);
	case '[': return parse_container(ps, 0);
	case '"': {
		char *str = parse_string(ps);
		if (!str)
			return NULL;
		v = xcalloc(1, sizeof *v);
		v->t = J_STR;
		v->s = str;
		return v;
	}
	case 't':
	case 'f':
	case 'n': {
		const char *word = *s == 't' ? "true" : *s == 'f' ? "false" : "null";
		size_t n = strlen(word);
		if (strncmp(s, word, n) != 0)
			return jfail(ps, "invalid literal");
		ps->s += n;
		v = xcalloc(1, sizeof *v);
		v->t = *s == 'n' ? J_NULL : J_BOOL;
		v->b = *s == 't';
		return v;
	}
	default:
		return parse_number(ps);
	}
}

jval *json_parse(const char *text, char *err, size_t errlen)
{
	jparser ps = {text, text, err, errlen, 0};
	if (err && errlen)
		err[0] = '\0';
	if (!text)
		return jfail(&ps, "null text");
	jval *v = parse_value(&ps);
	if (!v)
		return NULL;
	skip_ws(&ps);
	if (*ps.s) {
		json_free(v);
		return jfail(&ps, "trailing characters");
	}
	return v;
}

void json_free(jval *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n; i++) {
		json_free(v->items[i]);
		if (v->keys)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->s);
	free(v);
}

const jval *json_get(const jval *obj, const char *key)
{
	if (!obj || obj->t != J_OBJ)
		return NULL;
	/* the last duplicate wins, as in jsoncpp */
	for (size_t i = obj->n; i-- > 0;)
		if (strcmp(obj->keys[i], key) == 0)
			return obj->items[i];
	return NULL;
}

const char *json_scalar_string(const jval *v)
{
	if (!v)
		return "";
	switch (v->t) {
	case J_NULL: return "";
	case J_BOOL: return v->b ? "true" : "false";
	case J_STR:
	case J_NUM: return v->s;
	default: return NULL;
	}
}

const char *json_type_name(const jval *v)
{
	switch (v->t) {
	case J_NULL: return "null";
	case J_BOOL: return "boolean";
	case J_NUM: return v->is_int ? "integer" : "number";
	case J_STR: return "string";
	case J_ARR: return "array";
	default: return "object";
	}
}

/* ---- writer ---- */

void sb_json_strn(sbuf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	sb_reserve(b, n + 2);
	sb_putc(b, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '"': sb_write(b, "\\\"", 2); break;
		case '\\': sb_write(b, "\\\\", 2); break;
		case '\n': sb_write(b, "\\n", 2); break;
		case '\r': sb_write(b, "\\r", 2); break;
		case '\t': sb_write(b, "\\t", 2); break;
		default:
			if (c < 0x20 || c == 0x7f) {
				char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
				sb_write(b, e, 6);
			} else {
				/* bytes >= 0x80 pass through: the output is UTF-8 if the input was */
				sb_putc(b, (char)c);
			}
		}
	}
	sb_putc(b, '"');
}

void sb_json_str(sbuf *b, const char *s)
{
	if (!s) {
		sb_puts(b, "null");
		return;
	}
	sb_json_strn(b, s, strlen(s));
}

void sb_json_value(sbuf *b, const jval *v)
{
	if (!v) {
		sb_puts(b, "null");
		return;
	}
	switch (v->t) {
	case J_NULL: sb_puts(b, "null"); break;
	case J_BOOL: sb_puts(b, v->b ? "true" : "false"); break;
	case J_NUM: sb_puts(b, v->s); break;
	case J_STR: sb_json_str(b, v->s); break;
	case J_ARR:
	case J_OBJ:
		sb_putc(b, v->t == J_ARR ? '[' : '{');
		for (size_t i = 0; i < v->n; i++) {
			if (i)
				sb_putc(b, ',');
			if (v->t == J_OBJ) {
				sb_json_str(b, v->keys[i]);
				sb_putc(b, ':');
			}
			sb_json_value(b, v->items[i]);
		}
		sb_putc(b, v->t == J_ARR ? ']' : '}');
		break;
	}
}
