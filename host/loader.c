/*
 * Loading a plugin .so as libsinsp does (plugin-api-facts.md, Symbols and capabilities; Init): dlopen with
 * RTLD_LOCAL|RTLD_NOW, one dlsym per "plugin_<name>", the API version check, the required
 * symbols, capability detection, then the static JSON answers. Also init and `info`.
 */
#include "host.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

static char *xstrdup(const char *s)
{
	char *d = strdup(s ? s : "");
	if (!d) {
		fputs("error: out of memory\n", stderr);
		abort();
	}
	return d;
}

static int fmt_err(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fmt_err(char *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, HOST_ERRLEN, fmt, ap);
	va_end(ap);
	return -1;
}

static void err_append(char *err, const char *msg)
{
	if (err[0])
		strncat(err, ", ", HOST_ERRLEN - strlen(err) - 1);
	strncat(err, msg, HOST_ERRLEN - strlen(err) - 1);
}

const char *cap_name(uint32_t cap)
{
	switch (cap) {
	case CAP_SOURCING: return "sourcing";
	case CAP_EXTRACTION: return "extraction";
	case CAP_PARSING: return "parsing";
	case CAP_ASYNC: return "async";
	case CAP_CAPTURE_LISTENING: return "capture_listening";
	default: return "?";
	}
}

static int check_required_api_version(plugin *p, char *err)
{
	if (!p->api.get_required_api_version)
		return fmt_err(err, "plugin_get_required_api_version symbol not implemented");
	const char *ver = p->api.get_required_api_version();
	if (!ver) /* libsinsp would crash in sscanf */
		return fmt_err(err, "plugin_get_required_api_version returned NULL");
	unsigned major, minor, patch;
	if (sscanf(ver, "%u.%u.%u", &major, &minor, &patch) != 3)
		return fmt_err(err, "plugin provided an invalid required API version: '%s'", ver);
	const char *why = NULL;
	if (major != FPA_API_MAJOR)
		why = "major versions disagree";
	else if (minor > FPA_API_MINOR)
		why = "framework's minor is less than the requested one";
	else if (minor == FPA_API_MINOR && patch > FPA_API_PATCH)
		why = "framework's patch is less than the requested one";
	if (why)
		return fmt_err(err,
			       "plugin required API version '%s' not compatible with the framework's API version "
			       "'%d.%d.%d': %s",
			       ver, FPA_API_MAJOR, FPA_API_MINOR, FPA_API_PATCH, why);
	return 0;
}

static int check_required_symbols(plugin *p, char *err)
{
#define REQ(sym)                                                                  \
	if (!p->api.sym)                                                          \
		return fmt_err(err, "required symbol not implemented: '%s'", #sym);
	REQ(get_required_api_version)
	REQ(get_version)
	REQ(get_name)
	REQ(get_description)
	REQ(get_contact)
	REQ(init)
	REQ(destroy)
	REQ(get_last_error)
#undef REQ
	return 0;
}

static int valid_version(const char *s)
{
	unsigned a, b, c;
	return sscanf(s, "%u.%u.%u", &a, &b, &c) == 3;
}

/* get_id()/get_event_source() are called here, as libsinsp's loader does. */
static uint32_t detect_caps(plugin *p, char *err)
{
	uint32_t caps = 0;
	err[0] = '\0';
	if (p->api.open && p->api.close && p->api.next_batch) {
		int has_id = p->api.get_id && p->api.get_id() != 0;
		int has_source = 0;
		if (p->api.get_event_source) {
			const char *src = p->api.get_event_source();
			if (!src) { /* libsinsp calls strlen() on it */
				err_append(err, "plugin_get_event_source returned NULL");
				return CAP_BROKEN;
			}
			has_source = src[0] != '\0';
		}
		if (has_id == has_source) {
			caps |= CAP_SOURCING;
		} else {
			caps |= CAP_BROKEN;
			err_append(err, "must implement both 'plugin_get_id' and 'plugin_get_event_source' or neither "
					"(event sourcing)");
		}
	} else if (p->api.open || p->api.close || p->api.next_batch) {
		caps |= CAP_BROKEN;
		err_append(err, "must implement all of 'plugin_open', 'plugin_close', and 'plugin_next_batch' "
				"(event sourcing)");
	}
	if (p->api.get_fields && p->api.extract_fields) {
		caps |= CAP_EXTRACTION;
	} else if (p->api.extract_fields) {
		caps |= CAP_BROKEN;
		err_append(err, "must implement both 'plugin_get_fields' and 'plugin_extract_fields' (field extraction)");
	}
	if (p->api.parse_event)
		caps |= CAP_PARSING;
	if (p->api.get_async_events && p->api.set_async_event_handler) {
		caps |= CAP_ASYNC;
	} else if (p->api.set_async_event_handler) {
		caps |= CAP_BROKEN;
		err_append(err, "must implement both 'plugin_get_async_events' and 'plugin_set_async_event_handler' "
				"(async events)");
	}
	if (p->api.capture_open && p->api.capture_close) {
		caps |= CAP_CAPTURE_LISTENING;
	} else if (p->api.capture_open) {
		caps |= CAP_BROKEN;
		err_append(err, "must implement both 'plugin_capture_open' and 'plugin_capture_close' "
				"(capture listening)");
	}
	return caps;
}

static const char *const field_types[] = {"string", "uint64", "reltime", "abstime", "bool", "ipaddr", "ipnet"};
static const uint32_t field_type_ids[] = {FTYPE_STRING, FTYPE_UINT64, FTYPE_RELTIME, FTYPE_ABSTIME,
					  FTYPE_BOOL,   FTYPE_IPADDR, FTYPE_IPNET};

/* A strict boolean property: 0 absent/false, 1 true, -1 not a boolean. */
static int bool_prop(const jval *obj, const char *key)
{
	const jval *v = json_get(obj, key);
	if (!v || v->t == J_NULL)
		return 0;
	if (v->t != J_BOOL)
		return -1;
	return v->b;
}

/* get_fields (plugin.cpp). */
static int load_fields(plugin *p, char *err)
{
	const char *text = p->api.get_fields();
	if (!text)
		return fmt_err(err, "error in plugin %s: get_fields returned a null string", p->name);
	jval *root = json_parse(text, NULL, 0);
	if (!root || root->t != J_ARR) {
		json_free(root);
		return fmt_err(err, "error in plugin %s: get_fields returned an invalid JSON", p->name);
	}
	p->fields_json = root;
	p->fields = calloc(root->n ? root->n : 1, sizeof *p->fields);
	for (size_t j = 0; j < root->n; j++) {
		const jval *f = root->items[j];
		const jval *obj = f->t == J_OBJ ? f : NULL;
		const char *type = json_scalar_string(json_get(obj, "type"));
		const char *name = json_scalar_string(json_get(obj, "name"));
		const char *desc = json_scalar_string(json_get(obj, "desc"));
		if (!type || !type[0])
			return fmt_err(err, "error in plugin %s: field JSON entry has no type", p->name);
		if (!name || !name[0])
			return fmt_err(err, "error in plugin %s: field JSON entry has no name", p->name);
		if (!desc || !desc[0])
			return fmt_err(err, "error in plugin %s: field JSON entry has no desc", p->name);
		field_def *d = &p->fields[p->nfields++];
		d->name = xstrdup(name);
		size_t t;
		for (t = 0; t < sizeof field_types / sizeof *field_types; t++)
			if (strcmp(type, field_types[t]) == 0)
				break;
		if (t == sizeof field_types / sizeof *field_types)
			return fmt_err(err, "error in plugin %s: invalid field type %s", p->name, type);
		d->type = field_type_ids[t];
		if ((d->is_list = bool_prop(obj, "isList")) < 0)
			return fmt_err(err, "error in plugin %s: field %s isList property is not boolean", p->name, name);
		if (bool_prop(obj, "addOutput") < 0)
			return fmt_err(err, "error in plugin %s: field %s addOutput property is not boolean", p->name,
				       name);
		const jval *arg = json_get(obj, "arg");
		if (arg && arg->t != J_NULL) {
			if (arg->t != J_OBJ)
				return fmt_err(err, "error in plugin %s: field %s arg property is not an object", p->name,
					       name);
			static const char *const keys[] = {"isRequired", "isIndex", "isKey"};
			int vals[3];
			for (int i = 0; i < 3; i++)
				if ((vals[i] = bool_prop(arg, keys[i])) < 0)
					return fmt_err(err, "error in plugin %s: field %s %s property is not boolean",
						       p->name, name, keys[i]);
			d->arg_required = vals[0];
			d->arg_index = vals[1];
			d->arg_key = vals[2];
			if (d->arg_required && !d->arg_index && !d->arg_key)
				return fmt_err(err,
					       "error in plugin %s: field %s arg has isRequired true, but none of isKey "
					       "nor isIndex is true",
					       p->name, name);
		}
		const jval *props = json_get(obj, "properties");
		if (props && props->t != J_NULL) {
			if (props->t != J_ARR)
				return fmt_err(err, "error in plugin %s: field %s properties property is not array",
					       p->name, name);
			for (size_t i = 0; i < props->n; i++)
				if (props->items[i]->t != J_STR)
					return fmt_err(err, "error in plugin %s: field %s properties value is not string",
						       p->name, name);
		}
	}
	if (p->nfields == 0)
		return fmt_err(err, "error in plugin %s: plugins with extraction capability must export at least one field",
			       p->name);
	return 0;
}

static void strlist_add(strlist *l, const char *s)
{
	char **v = realloc(l->v, (l->n + 1) * sizeof *v);
	if (!v)
		abort();
	l->v = v;
	l->v[l->n++] = xstrdup(s);
}

static void strlist_free(strlist *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	free(l);
}

/* A JSON array of strings (plugin.cpp); NULL/"" means "all" unless !allow_empty. */
static int load_strlist(plugin *p, const char *symbol, const char *(*fn)(void), int allow_empty, strlist **out,
			char *err)
{
	if (!fn)
		return 0;
	strlist *l = calloc(1, sizeof *l);
	*out = l;
	const char *text = fn();
	if (!text || !text[0]) {
		if (allow_empty)
			return 0;
		return fmt_err(err, "error in plugin %s: '%s' did not return a json array but it should", p->name,
			       symbol);
	}
	jval *root = json_parse(text, NULL, 0);
	int rc = 0;
	if (!root || root->t != J_ARR) {
		rc = fmt_err(err, "error in plugin %s: '%s' did not return a json array", p->name, symbol);
	} else {
		for (size_t i = 0; i < root->n; i++) {
			const char *s = json_scalar_string(root->items[i]);
			if (!s) {
				rc = fmt_err(err, "error in plugin %s: '%s' did not return a json array", p->name, symbol);
				break;
			}
			if (s[0])
				strlist_add(l, s);
		}
	}
	json_free(root);
	return rc;
}

int plugin_load(plugin *p, const char *path, char *err)
{
	err[0] = '\0';
	p->path = path;
	pthread_mutex_init(&p->lock, NULL);
	p->dl = dlopen(path, RTLD_LOCAL | RTLD_NOW);
	if (!p->dl)
		return fmt_err(err, "can't load plugin dynamic library: %s", dlerror());
#define FPH_RESOLVE(ret, name, args)                                   \
	{                                                              \
		void *sym = dlsym(p->dl, "plugin_" #name);             \
		memcpy(&p->api.name, &sym, sizeof sym);                \
	}
	FPA_FOR_EACH_SYMBOL(FPH_RESOLVE)
#undef FPH_RESOLVE

	if (check_required_api_version(p, err) || check_required_symbols(p, err))
		return -1;
	p->name = xstrdup(p->api.get_name());
	p->description = xstrdup(p->api.get_description());
	p->contact = xstrdup(p->api.get_contact());
	p->version = xstrdup(p->api.get_version());
	if (!valid_version(p->version))
		return fmt_err(err, "plugin provided an invalid version string: '%s'", p->version);
	p->required_api_version = xstrdup(p->api.get_required_api_version());
	if (!valid_version(p->required_api_version))
		return fmt_err(err, "plugin provided an invalid required api version string: '%s'",
			       p->required_api_version);

	char cerr[HOST_ERRLEN];
	p->caps = detect_caps(p, cerr);
	if (p->caps & CAP_BROKEN)
		return fmt_err(err, "broken plugin capabilities: %s", cerr);
	if (p->caps == 0)
		return fmt_err(err, "plugin does not implement any capability");

	p->event_source = xstrdup("");
	if ((p->caps & CAP_SOURCING) && p->api.get_id && p->api.get_event_source && p->api.get_id() != 0) {
		p->id = p->api.get_id();
		free(p->event_source);
		p->event_source = xstrdup(p->api.get_event_source());
		if (strcmp(p->event_source, "syscall") == 0)
			return fmt_err(err, "plugin can't implement the reserved event source '%s'", p->event_source);
	}
	if (p->caps & CAP_EXTRACTION) {
		if (load_fields(p, err))
			return -1;
		if (load_strlist(p, "get_extract_event_sources", p->api.get_extract_event_sources, 1,
				 &p->extract_sources, err))
			return -1;
	}
	/* The effective extract set adds the plugin's own source (plugin.cpp); empty means all sources. */
	p->extract_all_sources = (!p->extract_sources || p->extract_sources->n == 0) && !p->event_source[0];
	if ((p->caps & CAP_PARSING) &&
	    load_strlist(p, "get_parse_event_sources", p->api.get_parse_event_sources, 1, &p->parse_sources, err))
		return -1;
	if (p->caps & CAP_ASYNC) {
		if (load_strlist(p, "get_async_event_sources", p->api.get_async_event_sources, 1, &p->async_sources,
				 err) ||
		    load_strlist(p, "get_async_events", p->api.get_async_events, 0, &p->async_events, err))
			return -1;
	}
	return 0;
}

int source_compatible(const plugin *p, const char *source)
{
	if (p->extract_all_sources)
		return 1;
	if (p->event_source[0] && strcmp(p->event_source, source) == 0)
		return 1;
	if (p->extract_sources)
		for (size_t i = 0; i < p->extract_sources->n; i++)
			if (strcmp(p->extract_sources->v[i], source) == 0)
				return 1;
	return 0;
}

const field_def *plugin_find_field(const plugin *p, const char *name, uint32_t *index)
{
	if (!(p->caps & CAP_EXTRACTION))
		return NULL;
	for (size_t i = 0; i < p->nfields; i++) {
		if (strcmp(p->fields[i].name, name) == 0) {
			if (index)
				*index = (uint32_t)i;
			return &p->fields[i];
		}
	}
	return NULL;
}

int plugin_init(plugin *p, char *err, size_t errlen)
{
	ss_plugin_schema_type stype = SS_PLUGIN_SCHEMA_NONE;
	const char *schema = p->api.get_init_schema ? p->api.get_init_schema(&stype) : NULL;
	const char *config = p->config ? p->config : "";
	if (schema && schema[0] && stype != SS_PLUGIN_SCHEMA_NONE) {
		if (stype != SS_PLUGIN_SCHEMA_JSON) {
			snprintf(err, errlen, "error in plugin %s: get_init_schema returned an unknown schema type %d",
				 p->name, (int)stype);
			return 1;
		}
		jval *sj = json_parse(schema, NULL, 0);
		if (!sj || sj->t != J_OBJ) {
			json_free(sj);
			snprintf(err, errlen, "error in plugin %s: get_init_schema did not return a json object", p->name);
			return 1;
		}
		if (!config[0])
			config = "{}";
		char jerr[256];
		jval *cj = json_parse(config, jerr, sizeof jerr);
		if (!cj) {
			json_free(sj);
			snprintf(err, errlen, "error in plugin %s: init config is not a valid json: %s", p->name, jerr);
			return 1;
		}
		char verr[HOST_ERRLEN];
		int bad = schema_validate(sj, cj, verr, sizeof verr);
		json_free(sj);
		json_free(cj);
		if (bad) {
			snprintf(err, errlen, "error in plugin %s init config: %s", p->name, verr);
			return 1;
		}
	}

	/* the tables input only for parsing or extraction (sinsp_plugin::init); a stack object,
	 * valid during the call */
	ss_plugin_init_tables_input tables;
	tables_init(); /* idempotent: the registry with the host's tables */
	tables_fill_init_input(&tables);
	ss_plugin_init_input in = {
		.config = config,
		.owner = p,
		.get_owner_last_error = host_get_owner_last_error,
		.tables = (p->caps & (CAP_PARSING | CAP_EXTRACTION)) ? &tables : NULL,
		.log_fn = host_log_fn,
	};
	ss_plugin_rc rc = (ss_plugin_rc)0x5a5a; /* garbage: catches a plugin that never writes rc */
	tables_call_begin(p, CALL_INIT);
	ss_plugin_t *state = p->api.init(&in, &rc);
	tables_call_end(p);
	if (state)
		p->state = state; /* kept even on failure, destroyed later (sinsp_plugin::init) */
	if (rc != SS_PLUGIN_SUCCESS) {
		snprintf(err, errlen, "could not initialize plugin: %s%s", plugin_last_error(p),
			 rc == (ss_plugin_rc)0x5a5a ? " (init did not write rc)" : "");
		return 1;
	}

	if (p->caps & CAP_EXTRACTION) {
		p->extract_types = calloc(65536 / 8, 1);
		uint32_t n = 0;
		uint16_t *types = p->api.get_extract_event_types ? p->api.get_extract_event_types(&n, p->state) : NULL;
		p->extract_types_declared = types ? (int64_t)n : -1;
		if (types)
			for (uint32_t i = 0; i < n; i++)
				p->extract_types[types[i] / 8] |= (uint8_t)(1u << (types[i] % 8));
		if (!types || n == 0) {
			/* default: every type if the sources include "syscall", else only 322 */
			if (source_compatible(p, "syscall"))
				memset(p->extract_types, 0xff, 65536 / 8);
			else
				p->extract_types[FPA_EVT_PLUGINEVENT / 8] |= (uint8_t)(1u << (FPA_EVT_PLUGINEVENT % 8));
		}
	}
	parse_setup(p);
	return 0;
}

/* plugin.cpp check_required_schema_version: only for plugins whose parse or extract codes
 * include any code other than 322, and only when the engine reports a schema version (kmod,
 * modern_bpf). */
static int takes_non_plugin_events(const uint8_t *bitmap)
{
	if (!bitmap)
		return 0;
	for (uint32_t code = 0; code < 65536; code++)
		if (code != FPA_EVT_PLUGINEVENT && (bitmap[code / 8] & (1u << (code % 8))))
			return 1;
	return 0;
}

static void sb_codes(sbuf *b, const uint8_t *bitmap, int json)
{
	if (!bitmap) {
		sb_puts(b, json ? "null" : "-");
		return;
	}
	uint32_t n = 0;
	for (uint32_t code = 0; code < 65536; code++)
		n += (bitmap[code / 8] >> (code % 8)) & 1u;
	if (n == 65536) {
		sb_puts(b, json ? "\"all\"" : "all");
		return;
	}
	if (json)
		sb_putc(b, '[');
	int first = 1;
	for (uint32_t code = 0; code < 65536; code++) {
		if (!(bitmap[code / 8] & (1u << (code % 8))))
			continue;
		sb_printf(b, first ? "%u" : ",%u", code);
		first = 0;
	}
	if (json)
		sb_putc(b, ']');
}

void print_plugin_init(plugin *p, int json)
{
	const char *esv = p->api.get_required_event_schema_version && p->state
				  ? p->api.get_required_event_schema_version(p->state)
				  : NULL;
	sbuf b = {0};
	if (json) {
		sb_puts(&b, "{\"init\":{\"plugin\":");
		sb_json_str(&b, p->name);
		sb_puts(&b, ",\"extract_event_types\":");
		sb_codes(&b, p->extract_types, 1);
		sb_puts(&b, ",\"parse_event_types\":");
		sb_codes(&b, p->parse_types, 1);
		/* what the plugin answered, before the host's default for an empty answer */
		sb_printf(&b, ",\"extract_event_types_declared\":%lld,\"parse_event_types_declared\":%lld",
			  (long long)(p->extract_types ? p->extract_types_declared : -1),
			  (long long)(p->parse_types ? p->parse_types_declared : -1));
		sb_printf(&b, ",\"has_required_event_schema_version\":%s,\"required_event_schema_version\":",
			  p->api.get_required_event_schema_version ? "true" : "false");
		if (esv)
			sb_json_str(&b, esv);
		else
			sb_puts(&b, "null");
		sb_puts(&b, "}}\n");
	} else {
		sb_printf(&b, "init: plugin=%s extract_event_types=", p->name);
		sb_codes(&b, p->extract_types, 0);
		sb_puts(&b, " parse_event_types=");
		sb_codes(&b, p->parse_types, 0);
		sb_printf(&b, " required_event_schema_version=%s\n",
			  esv ? esv : (p->api.get_required_event_schema_version ? "NULL" : "-"));
	}
	write_line(&b);
	sb_free(&b);
}

int plugin_check_schema_version(plugin *p, const char *engine, char *err, size_t errlen)
{
	if (!engine || !(takes_non_plugin_events(p->extract_types) || takes_non_plugin_events(p->parse_types)))
		return 0;
	const char *req = p->api.get_required_event_schema_version
				  ? p->api.get_required_event_schema_version(p->state)
				  : NULL;
	if (!req)
		req = "3.0.0"; /* the symbol missing or NULL */
	unsigned rmaj, rmin, rpat, emaj, emin, epat;
	char extra;
	if (sscanf(req, "%u.%u.%u%c", &rmaj, &rmin, &rpat, &extra) != 3) {
		snprintf(err, errlen, "plugin %s: invalid required event schema version: '%s'", p->name, req);
		return 1;
	}
	if (sscanf(engine, "%u.%u.%u", &emaj, &emin, &epat) != 3) {
		snprintf(err, errlen, "invalid engine event schema version: '%s'", engine);
		return 1;
	}
	const char *why = NULL;
	if (rmaj != emaj)
		why = "major versions disagree";
	else if (emin < rmin)
		why = "driver schema minor version is less than the requested one";
	else if (emin == rmin && epat < rpat)
		why = "driver schema patch version is less than the requested one";
	if (why) {
		snprintf(err, errlen,
			 "plugin %s: required event schema version '%s' not compatible with the driver schema "
			 "version '%s': %s",
			 p->name, req, engine, why);
		return 1;
	}
	return 0;
}

void plugin_unload(plugin *p)
{
	if (p->state) {
		p->api.destroy(p->state);
		p->state = NULL;
	}
	if (p->dl)
		dlclose(p->dl);
	p->dl = NULL;
	free(p->name);
	free(p->version);
	free(p->description);
	free(p->contact);
	free(p->required_api_version);
	free(p->event_source);
	json_free(p->fields_json);
	for (size_t i = 0; i < p->nfields; i++)
		free(p->fields[i].name);
	free(p->fields);
	strlist_free(p->extract_sources);
	strlist_free(p->parse_sources);
	strlist_free(p->async_sources);
	strlist_free(p->async_events);
	free(p->extract_types);
	free(p->parse_types);
	strlist_free(p->parse_errors_seen);
	tables_plugin_free(p);
	pthread_mutex_destroy(&p->lock);
}

static void sb_strlist(sbuf *b, const strlist *l)
{
	if (!l) {
		sb_puts(b, "null");
		return;
	}
	sb_putc(b, '[');
	for (size_t i = 0; i < l->n; i++) {
		if (i)
			sb_putc(b, ',');
		sb_json_str(b, l->v[i]);
	}
	sb_putc(b, ']');
}

int cmd_info(const char *path)
{
	plugin *p = calloc(1, sizeof *p);
	char err[HOST_ERRLEN];
	if (plugin_load(p, path, err)) {
		errorf("%s", err);
		plugin_unload(p);
		free(p);
		return 2;
	}
	sbuf b = {0};
	sb_puts(&b, "{\"path\":");
	sb_json_str(&b, path);
	sb_puts(&b, ",\"required_api_version\":");
	sb_json_str(&b, p->required_api_version);
	sb_puts(&b, ",\"name\":");
	sb_json_str(&b, p->name);
	sb_puts(&b, ",\"version\":");
	sb_json_str(&b, p->version);
	sb_puts(&b, ",\"description\":");
	sb_json_str(&b, p->description);
	sb_puts(&b, ",\"contact\":");
	sb_json_str(&b, p->contact);
	sb_puts(&b, ",\"capabilities\":[");
	int first = 1;
	for (uint32_t c = CAP_SOURCING; c <= CAP_CAPTURE_LISTENING; c <<= 1) {
		if (p->caps & c) {
			if (!first)
				sb_putc(&b, ',');
			first = 0;
			sb_json_str(&b, cap_name(c));
		}
	}
	sb_printf(&b, "],\"id\":%u,\"event_source\":", p->id);
	sb_json_str(&b, p->event_source);

	ss_plugin_schema_type stype = SS_PLUGIN_SCHEMA_NONE;
	const char *schema = p->api.get_init_schema ? p->api.get_init_schema(&stype) : NULL;
	int has_schema = schema && schema[0] && stype == SS_PLUGIN_SCHEMA_JSON;
	sb_printf(&b, ",\"init_schema_type\":\"%s\",\"init_schema\":", has_schema ? "json" : "none");
	jval *sj = has_schema ? json_parse(schema, NULL, 0) : NULL;
	sb_json_value(&b, sj);
	if (has_schema && !sj) {
		sb_puts(&b, ",\"init_schema_error\":\"get_init_schema did not return a json object\"");
	}
	json_free(sj);
	sb_puts(&b, ",\"fields\":");
	sb_json_value(&b, p->fields_json);
	sb_puts(&b, ",\"extract_event_sources\":");
	sb_strlist(&b, p->extract_sources);
	sb_puts(&b, ",\"parse_event_sources\":");
	sb_strlist(&b, p->parse_sources);
	sb_puts(&b, ",\"async_events\":");
	sb_strlist(&b, p->async_events);
	sb_puts(&b, ",\"async_event_sources\":");
	sb_strlist(&b, p->async_sources);
	sb_puts(&b, ",\"required_event_schema_version\":");
	const char *esv = p->api.get_required_event_schema_version ? p->api.get_required_event_schema_version(NULL)
								    : NULL; /* s may be NULL (before init) */
	if (esv)
		sb_json_str(&b, esv);
	else
		sb_puts(&b, "null");
	sb_puts(&b, ",\"symbols\":[");
	first = 1;
#define FPH_SYMBOL(ret, name, args)                        \
	if (p->api.name) {                                 \
		if (!first)                                \
			sb_putc(&b, ',');                  \
		first = 0;                                 \
		sb_json_str(&b, "plugin_" #name);          \
	}
	FPA_FOR_EACH_SYMBOL(FPH_SYMBOL)
#undef FPH_SYMBOL
	sb_puts(&b, "]}\n");
	fputs(b.p, stdout);
	fflush(stdout);
	sb_free(&b);
	plugin_unload(p);
	free(p);
	return 0;
}
