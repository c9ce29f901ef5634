/*
 * Private to extract.c and batch_fields.c: the extraction state of a plugin state, the baked
 * field tables, and the hot path of batch fields. The hot path is static inline here so that
 * plugin_extract_fields (extract.c) answers most calls without a call into another file.
 */
#ifndef FALCO_PLUGIN_EXTRACT_H
#define FALCO_PLUGIN_EXTRACT_H

#include "shim.h"

#if FPY_CAP_EXTRACTION

#include <string.h>

enum { ARG_NONE = 0, ARG_INDEX = 1, ARG_KEY = 2 };

static const uint8_t field_types[] = FPY_FIELD_TYPES;
static const uint8_t field_is_list[] = FPY_FIELD_IS_LIST;
static const uint8_t field_arg[] = FPY_FIELD_ARG;
#define NFIELDS ((uint32_t)sizeof field_types)

/* One field's result for the current event: its values and the objects they point into. */
typedef struct {
	uint32_t fid;
	ss_plugin_bool arg_present;
	uint64_t arg_index;
	char *arg_key; /* a copy, or NULL */
	PyObject *arg_obj; /* the argument as the method receives it, made on first use */
	void *buf;     /* the values, reused from event to event */
	size_t cap;
	char *data; /* copies of the strings / IP bytes the values point to, also reused */
	size_t datacap;
	uint64_t len; /* how many values (0: no value) */
	uint32_t *offs; /* located fields: start, length per value */
	size_t offcap;
	int fresh; /* computed for the current event; else carried over from the last one */
	int asked; /* the host asked for it during the current event */
} fp_result;

/* One batch field (and argument): its values for every event of a batch, owned by C. */
typedef struct {
	uint32_t fid;
	ss_plugin_bool arg_present;
	uint64_t arg_index;
	char *arg_key;
	uint64_t gen;   /* the batch they are for (0: none yet) */
	uint32_t *off;  /* event i's values are [off[i], off[i + 1]) */
	size_t offcap;
	void *vals;     /* the values, elem_size each */
	size_t valcap;
	char *arena;    /* copies of strings and IP bytes the values point into */
	size_t arenalen, arenacap;
} fp_bslot;

struct fp_extract {
	PyObject *methods; /* tuple of bound methods, by field id */
	PyObject *batch_methods; /* tuple: the batch method of a batch field, else None */
	PyObject *batch_func[sizeof field_types]; /* borrowed from batch_methods; NULL: per event */
	fp_bslot *bslots;
	uint32_t nbslots, capbslots;
	/* each method as function and self (self NULL: a plain callable), borrowed from methods,
	 * so a call skips the bound method's own dispatch */
	PyObject *func[sizeof field_types], *self[sizeof field_types];
	PyObject *datetime_ns, *ip_packed; /* _runtime converters, looked up once */
	PyObject *located_type, *str_value, *str_start, *str_length; /* falco_plugin.Located */
	PyObject *payloads_type, *str_buffer, *str_offsets; /* falco_plugin.Payloads, its two slots */
	uint32_t *ostart, *olen; /* the value_offsets arrays handed to the host */
	uint64_t ocap;
	fp_result *results;
	uint32_t nresults, capresults;
	/* by field id: where its result or batch slot was found last (a hint, checked on use) */
	uint32_t result_hint[sizeof field_types], bslot_hint[sizeof field_types];
	uint8_t elem_size[sizeof field_types]; /* bytes per value, by field id */
	int have_event; /* which event the results are for */
	uint64_t evtnum, ts;
	uint16_t type;
	uint8_t logged[sizeof field_types];
};

static inline size_t elem_size(uint8_t ftype)
{
	switch (ftype) {
	case FTYPE_STRING:
		return sizeof(const char *);
	case FTYPE_BOOL:
		return sizeof(ss_plugin_bool);
	case FTYPE_IPADDR:
	case FTYPE_IPNET:
		return sizeof(ss_plugin_byte_buffer);
	default:
		return sizeof(uint64_t);
	}
}

/* --- batch fields: the hot path ------------------------------------------------------- */

/* The position of ev in the state's current batch, or -1 (no GIL needed). */
static inline int64_t batch_index(fp_state *s, const ss_plugin_event *ev)
{
	fp_batch *b = s->batch; /* NULL for a plugin that does not source events */
	uintptr_t p = (uintptr_t)ev;
	if (!b || !b->n || p < (uintptr_t)b->start || p >= (uintptr_t)b->end)
		return -1;
	uint32_t h = b->hint; /* the host asks in order: this event or the next */
	if (h < b->n && b->events[h] == ev)
		return h;
	if (h + 1 < b->n && b->events[h + 1] == ev)
		return b->hint = h + 1;
	uint32_t lo = 0, hi = b->n; /* the events lie in the buffer in order */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if ((uintptr_t)b->events[mid] < p)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < b->n && b->events[lo] == ev)
		return b->hint = lo;
	return -1;
}

static inline int bslot_is(const fp_bslot *b, const ss_plugin_extract_field *f)
{
	if (b->fid != f->field_id || b->arg_present != f->arg_present || b->arg_index != f->arg_index)
		return 0;
	if (!b->arg_key || !f->arg_key)
		return b->arg_key == f->arg_key;
	return strcmp(b->arg_key, f->arg_key) == 0;
}

static inline fp_bslot *find_bslot(struct fp_extract *x, const ss_plugin_extract_field *f)
{
	uint32_t h = x->bslot_hint[f->field_id];
	if (h < x->nbslots && bslot_is(&x->bslots[h], f))
		return &x->bslots[h];
	for (uint32_t i = 0; i < x->nbslots; i++)
		if (bslot_is(&x->bslots[i], f)) {
			x->bslot_hint[f->field_id] = i;
			return &x->bslots[i];
		}
	return NULL;
}

static inline void answer_batch(const struct fp_extract *x, ss_plugin_extract_field *f, const fp_bslot *b,
				int64_t idx)
{
	size_t size = x->elem_size[f->field_id];
	f->res.u64 = (uint64_t *)((char *)b->vals + (size_t)b->off[idx] * size);
	f->res_len = b->off[idx + 1] - b->off[idx];
}

/* The hot path of batch fields, as libsinsp calls: one field, of an event of the current batch
 * (the one asked last or the next), already computed for the batch. 1: answered. */
static inline int answer_batch_fast(struct fp_extract *x, fp_state *s, const ss_plugin_event *ev,
				    ss_plugin_extract_field *f)
{
	uint32_t fid = f->field_id;
	if (fid >= NFIELDS || !x->batch_func[fid])
		return 0;
	int64_t h = batch_index(s, ev);
	if (h < 0)
		return 0;
	uint32_t k = x->bslot_hint[fid];
	if (k >= x->nbslots)
		return 0;
	const fp_bslot *slot = &x->bslots[k];
	if (slot->fid != fid || slot->gen != s->batch->gen || slot->arg_present != f->arg_present)
		return 0;
	if (f->arg_present && !bslot_is(slot, f))
		return 0;
	answer_batch(x, f, slot, h);
	return 1;
}

/* --- extract.c ------------------------------------------------------------------------ */

/* Convert one value of type ftype into *out (strings and IP bytes copied into r's data). */
int fp_convert_one(const struct fp_extract *x, PyObject *v, uint8_t ftype, void *out, fp_result *r, size_t *used);
/* The argument of f as the field's method receives it (new reference; None without one). */
PyObject *fp_field_arg_object(uint32_t fid, const ss_plugin_extract_field *f);

/* --- batch_fields.c ------------------------------------------------------------------- */

/* A new slot for f, not computed yet (NULL when out of memory). */
fp_bslot *fp_bslot_add(struct fp_extract *x, const ss_plugin_extract_field *f);
/* Compute f for every event of the state's current batch into b (-1 with a Python error). */
int fp_batch_compute(struct fp_extract *x, fp_state *s, fp_bslot *b, const ss_plugin_extract_field *f);
/* The bytes payload event idx of the batch was framed from (borrowed), or NULL. */
PyObject *fp_batch_payload(const fp_batch *bt, int64_t idx);
/* Free the batch slots (fp_extract_destroy). */
void fp_bslots_free(struct fp_extract *x);

#endif /* FPY_CAP_EXTRACTION */
#endif
