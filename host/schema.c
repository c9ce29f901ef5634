/*
 * JSON Schema validation of init configs: the subset pydantic-generated schemas use.
 * libsinsp validates with valijson and reports the top error as
 * "In <context>, <description>", the context being "<root>" followed by "[property]" or
 * "[index]" segments joined without separators (plugin-api-facts.md, Fields, schemas and
 * source lists). Our descriptions name the field. Unlike libsinsp, every problem among the
 * config's own keys is reported (one message per key, joined by "; "), so that a user fixes
 * them in one go. Not supported (ignored): pattern, patternProperties, propertyNames, format,
 * uniqueItems, dependencies, if/then/else.
 */
#include "host.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 128

typedef struct {
	const jval *root;
	char ctx[512];
	size_t ctxlen;
	char name[512];
	size_t namelen;
	int depth;
	char errctx[512];
	char desc[768];
	char all[2048]; /* every problem among the root object's keys */
	size_t alllen;
	int nall;
} vstate;

typedef struct {
	size_t ctxlen, namelen;
} mark;

static mark push_key(vstate *vs, const char *key)
{
	mark m = {vs->ctxlen, vs->namelen};
	int n = snprintf(vs->ctx + vs->ctxlen, sizeof vs->ctx - vs->ctxlen, "[%s]", key);
	if (n > 0)
		vs->ctxlen = strlen(vs->ctx);
	n = snprintf(vs->name + vs->namelen, sizeof vs->name - vs->namelen, "%s%s", vs->namelen ? "." : "", key);
	if (n > 0)
		vs->namelen = strlen(vs->name);
	return m;
}

static mark push_index(vstate *vs, size_t i)
{
	mark m = {vs->ctxlen, vs->namelen};
	snprintf(vs->ctx + vs->ctxlen, sizeof vs->ctx - vs->ctxlen, "[%zu]", i);
	vs->ctxlen = strlen(vs->ctx);
	snprintf(vs->name + vs->namelen, sizeof vs->name - vs->namelen, "[%zu]", i);
	vs->namelen = strlen(vs->name);
	return m;
}

static void pop(vstate *vs, mark m)
{
	vs->ctxlen = m.ctxlen;
	vs->ctx[m.ctxlen] = '\0';
	vs->namelen = m.namelen;
	vs->name[m.namelen] = '\0';
}

/* "field 'a.b'" or "the config" */
static const char *label(const vstate *vs, char *buf, size_t len)
{
	if (vs->namelen == 0)
		snprintf(buf, len, "the config");
	else
		snprintf(buf, len, "field '%s'", vs->name);
	return buf;
}

static int fail(vstate *vs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(vstate *vs, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(vs->desc, sizeof vs->desc, fmt, ap);
	va_end(ap);
	snprintf(vs->errctx, sizeof vs->errctx, "%s", vs->ctx);
	return 1;
}

static int is_integral(const jval *v)
{
	return v->t == J_NUM && (v->is_int || (isfinite(v->num) && v->num == floor(v->num)));
}

static int type_matches(const char *t, const jval *v)
{
	if (strcmp(t, "integer") == 0)
		return is_integral(v);
	if (strcmp(t, "number") == 0)
		return v->t == J_NUM;
	if (strcmp(t, "string") == 0)
		return v->t == J_STR;
	if (strcmp(t, "boolean") == 0)
		return v->t == J_BOOL;
	if (strcmp(t, "object") == 0)
		return v->t == J_OBJ;
	if (strcmp(t, "array") == 0)
		return v->t == J_ARR;
	if (strcmp(t, "null") == 0)
		return v->t == J_NULL;
	return 0;
}

static int json_equal(const jval *a, const jval *b)
{
	if (a->t != b->t)
		return 0;
	switch (a->t) {
	case J_NULL: return 1;
	case J_BOOL: return a->b == b->b;
	case J_NUM: return a->num == b->num;
	case J_STR: return strcmp(a->s, b->s) == 0;
	case J_ARR:
		if (a->n != b->n)
			return 0;
		for (size_t i = 0; i < a->n; i++)
			if (!json_equal(a->items[i], b->items[i]))
				return 0;
		return 1;
	case J_OBJ:
		if (a->n != b->n)
			return 0;
		for (size_t i = 0; i < a->n; i++) {
			const jval *o = json_get(b, a->keys[i]);
			if (!o || !json_equal(a->items[i], o))
				return 0;
		}
		return 1;
	}
	return 0;
}

static size_t utf8_len(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	return n;
}

/* Short JSON text of a value for messages. */
static const char *brief(const jval *v, char *buf, size_t len)
{
	sbuf b = {0};
	sb_json_value(&b, v);
	if (b.len >= len && len > 4) {
		snprintf(buf, len, "%.*s...", (int)(len - 4), b.p);
	} else {
		snprintf(buf, len, "%s", b.p ? b.p : "");
	}
	sb_free(&b);
	return buf;
}

static const jval *resolve_ref(const jval *root, const char *ref)
{
	if (ref[0] != '#')
		return NULL;
	const jval *cur = root;
	const char *p = ref + 1;
	while (*p == '/') {
		p++;
		char tok[256];
		size_t n = 0;
		while (*p && *p != '/' && n + 1 < sizeof tok) {
			if (p[0] == '~' && p[1] == '1') {
				tok[n++] = '/';
				p += 2;
			} else if (p[0] == '~' && p[1] == '0') {
				tok[n++] = '~';
				p += 2;
			} else {
				tok[n++] = *p++;
			}
		}
		tok[n] = '\0';
		if (cur->t == J_OBJ) {
			cur = json_get(cur, tok);
		} else if (cur->t == J_ARR) {
			char *end;
			unsigned long i = strtoul(tok, &end, 10);
			cur = (*end || i >= cur->n) ? NULL : cur->items[i];
		} else {
			cur = NULL;
		}
		if (!cur)
			return NULL;
	}
	return *p ? NULL : cur;
}

static int validate(vstate *vs, const jval *schema, const jval *v);

/* Validates v against each sub-schema of arr; returns the number that matched and joins
 * the failures' descriptions into why. */
static size_t count_matches(vstate *vs, const jval *arr, const jval *v, char *why, size_t whylen)
{
	size_t ok = 0, used = 0;
	why[0] = '\0';
	for (size_t i = 0; i < arr->n; i++) {
		if (validate(vs, arr->items[i], v) == 0) {
			ok++;
		} else if (used + 3 < whylen) {
			int n = snprintf(why + used, whylen - used, "%s%s", used ? "; " : "", vs->desc);
			if (n > 0)
				used = strlen(why);
		}
	}
	return ok;
}

static int check_numeric(vstate *vs, const jval *schema, const jval *v, const char *lbl)
{
	const jval *k;
	double x = v->num;
	const jval *exmin = json_get(schema, "exclusiveMinimum");
	const jval *exmax = json_get(schema, "exclusiveMaximum");
	if ((k = json_get(schema, "minimum")) && k->t == J_NUM) {
		int excl = exmin && exmin->t == J_BOOL && exmin->b; /* draft 4 */
		if (excl ? !(x > k->num) : !(x >= k->num))
			return fail(vs, "%s must be %s %s, got %s", lbl, excl ? ">" : ">=", k->s, v->s);
	}
	if ((k = json_get(schema, "maximum")) && k->t == J_NUM) {
		int excl = exmax && exmax->t == J_BOOL && exmax->b;
		if (excl ? !(x < k->num) : !(x <= k->num))
			return fail(vs, "%s must be %s %s, got %s", lbl, excl ? "<" : "<=", k->s, v->s);
	}
	if (exmin && exmin->t == J_NUM && !(x > exmin->num))
		return fail(vs, "%s must be > %s, got %s", lbl, exmin->s, v->s);
	if (exmax && exmax->t == J_NUM && !(x < exmax->num))
		return fail(vs, "%s must be < %s, got %s", lbl, exmax->s, v->s);
	if ((k = json_get(schema, "multipleOf")) && k->t == J_NUM && k->num > 0) {
		double q = x / k->num;
		if (!isfinite(q) || fabs(q - nearbyint(q)) > 1e-9)
			return fail(vs, "%s must be a multiple of %s, got %s", lbl, k->s, v->s);
	}
	return 0;
}

/* At the root object, note a problem and go on with the next key (1: keep going). */
static int collect(vstate *vs)
{
	if (vs->depth != 1)
		return 0;
	if (vs->alllen < sizeof vs->all - 1) {
		int n = snprintf(vs->all + vs->alllen, sizeof vs->all - vs->alllen, "%sIn %s, %s", vs->nall ? "; " : "",
				 vs->errctx, vs->desc);
		vs->alllen = n > 0 ? strlen(vs->all) : vs->alllen;
	}
	vs->nall++;
	return 1;
}

static int check_object(vstate *vs, const jval *schema, const jval *v, const char *lbl)
{
	const jval *props = json_get(schema, "properties");
	const jval *addl = json_get(schema, "additionalProperties");
	const jval *req = json_get(schema, "required");
	const jval *k;
	if (req && req->t == J_ARR) {
		for (size_t i = 0; i < req->n; i++) {
			const jval *r = req->items[i];
			if (r->t == J_STR && !json_get(v, r->s)) {
				if (vs->namelen)
					return fail(vs, "missing required field '%s.%s'", vs->name, r->s);
				fail(vs, "missing required field '%s'", r->s);
				if (!collect(vs))
					return 1;
			}
		}
	}
	if ((k = json_get(schema, "minProperties")) && k->t == J_NUM && (double)v->n < k->num)
		return fail(vs, "%s must have at least %s properties", lbl, k->s);
	if ((k = json_get(schema, "maxProperties")) && k->t == J_NUM && (double)v->n > k->num)
		return fail(vs, "%s must have at most %s properties", lbl, k->s);
	for (size_t i = 0; i < v->n; i++) {
		const char *key = v->keys[i];
		if (json_get(v, key) != v->items[i])
			continue; /* a duplicate key shadowed by a later one */
		const jval *ps = props ? json_get(props, key) : NULL;
		mark m = push_key(vs, key);
		int r = 0;
		if (ps) {
			r = validate(vs, ps, v->items[i]);
		} else if (addl) {
			if (addl->t == J_BOOL && !addl->b) {
				char l[600];
				r = fail(vs, "%s is not allowed (additionalProperties is false)", label(vs, l, sizeof l));
			} else {
				r = validate(vs, addl, v->items[i]);
			}
		}
		pop(vs, m);
		if (r && !collect(vs))
			return r;
	}
	return vs->depth == 1 && vs->nall > 0;
}

static int check_array(vstate *vs, const jval *schema, const jval *v, const char *lbl)
{
	const jval *k;
	if ((k = json_get(schema, "minItems")) && k->t == J_NUM && (double)v->n < k->num)
		return fail(vs, "%s must have at least %s items, got %zu", lbl, k->s, v->n);
	if ((k = json_get(schema, "maxItems")) && k->t == J_NUM && (double)v->n > k->num)
		return fail(vs, "%s must have at most %s items, got %zu", lbl, k->s, v->n);
	const jval *prefix = json_get(schema, "prefixItems");
	const jval *items = json_get(schema, "items");
	if (items && items->t == J_ARR) { /* draft 4-7 tuple form */
		prefix = items;
		items = NULL;
	}
	for (size_t i = 0; i < v->n; i++) {
		const jval *s = (prefix && prefix->t == J_ARR && i < prefix->n) ? prefix->items[i] : items;
		if (!s)
			continue;
		mark m = push_index(vs, i);
		int r = validate(vs, s, v->items[i]);
		pop(vs, m);
		if (r && !collect(vs))
			return r;
	}
	return vs->depth == 1 && vs->nall > 0;
}

static int validate(vstate *vs, const jval *schema, const jval *v)
{
	char lbl[600], tmp[200], why[700];
	label(vs, lbl, sizeof lbl);
	if (schema->t == J_BOOL)
		return schema->b ? 0 : fail(vs, "%s is not allowed (schema is false)", lbl);
	if (schema->t != J_OBJ)
		return 0;
	if (++vs->depth > MAX_DEPTH) {
		vs->depth--;
		return fail(vs, "schema nesting too deep (recursive $ref?) at %s", lbl);
	}
	int r = 0;
	const jval *k;

	if ((k = json_get(schema, "$ref")) && k->t == J_STR) {
		const jval *target = resolve_ref(vs->root, k->s);
		r = target ? validate(vs, target, v) : fail(vs, "schema $ref '%s' cannot be resolved", k->s);
		if (r)
			goto out;
	}
	if ((k = json_get(schema, "type"))) {
		int ok = 0;
		sbuf want = {0};
		if (k->t == J_STR) {
			ok = type_matches(k->s, v);
			sb_puts(&want, k->s);
		} else if (k->t == J_ARR) {
			for (size_t i = 0; i < k->n; i++) {
				if (k->items[i]->t != J_STR)
					continue;
				ok |= type_matches(k->items[i]->s, v);
				if (want.len)
					sb_puts(&want, " or ");
				sb_puts(&want, k->items[i]->s);
			}
		} else {
			ok = 1;
		}
		if (!ok)
			/* libsinsp (valijson) says only the part in parentheses; Falco users grep for it */
			r = fail(vs, "%s must be of type %s, got %s (libsinsp: Value type not permitted by 'type' constraint.)",
				 lbl, want.p ? want.p : "?", json_type_name(v));
		sb_free(&want);
		if (r)
			goto out;
	}
	if ((k = json_get(schema, "enum")) && k->t == J_ARR) {
		int ok = 0;
		for (size_t i = 0; i < k->n && !ok; i++)
			ok = json_equal(k->items[i], v);
		if (!ok) {
			char allowed[300];
			r = fail(vs, "%s must be one of %s, got %s", lbl, brief(k, allowed, sizeof allowed),
				 brief(v, tmp, sizeof tmp));
			goto out;
		}
	}
	if ((k = json_get(schema, "const")) && !json_equal(k, v)) {
		char want[200];
		r = fail(vs, "%s must be %s, got %s", lbl, brief(k, want, sizeof want), brief(v, tmp, sizeof tmp));
		goto out;
	}
	if (v->t == J_NUM && (r = check_numeric(vs, schema, v, lbl)))
		goto out;
	if (v->t == J_STR) {
		size_t n = utf8_len(v->s);
		if ((k = json_get(schema, "minLength")) && k->t == J_NUM && (double)n < k->num) {
			r = fail(vs, "%s must be at least %s characters long, got %zu", lbl, k->s, n);
			goto out;
		}
		if ((k = json_get(schema, "maxLength")) && k->t == J_NUM && (double)n > k->num) {
			r = fail(vs, "%s must be at most %s characters long, got %zu", lbl, k->s, n);
			goto out;
		}
	}
	if (v->t == J_ARR && (r = check_array(vs, schema, v, lbl)))
		goto out;
	if (v->t == J_OBJ && (r = check_object(vs, schema, v, lbl)))
		goto out;
	if ((k = json_get(schema, "allOf")) && k->t == J_ARR) {
		for (size_t i = 0; i < k->n; i++)
			if ((r = validate(vs, k->items[i], v)))
				goto out;
	}
	if ((k = json_get(schema, "anyOf")) && k->t == J_ARR && k->n) {
		if (count_matches(vs, k, v, why, sizeof why) == 0) {
			r = fail(vs, "%s matches none of the allowed schemas (anyOf): %s", lbl, why);
			goto out;
		}
	}
	if ((k = json_get(schema, "oneOf")) && k->t == J_ARR && k->n) {
		size_t n = count_matches(vs, k, v, why, sizeof why);
		if (n == 0) {
			r = fail(vs, "%s matches none of the allowed schemas (oneOf): %s", lbl, why);
			goto out;
		}
		if (n > 1) {
			r = fail(vs, "%s matches %zu schemas of oneOf, exactly one is allowed", lbl, n);
			goto out;
		}
	}
	if ((k = json_get(schema, "not")) && validate(vs, k, v) == 0) {
		r = fail(vs, "%s must not match the schema in 'not'", lbl);
		goto out;
	}
out:
	vs->depth--;
	return r;
}

int schema_validate(const jval *schema, const jval *instance, char *err, size_t errlen)
{
	vstate *vs = calloc(1, sizeof *vs);
	if (!vs) {
		snprintf(err, errlen, "out of memory");
		return 1;
	}
	vs->root = schema;
	snprintf(vs->ctx, sizeof vs->ctx, "<root>");
	vs->ctxlen = strlen(vs->ctx);
	int r = validate(vs, schema, instance);
	if (r && vs->nall > 0)
		snprintf(err, errlen, "%s", vs->all);
	else if (r)
		snprintf(err, errlen, "In %s, %s", vs->errctx, vs->desc);
	free(vs);
	return r;
}
