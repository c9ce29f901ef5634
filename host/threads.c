/*
 * libsinsp's "threads" table (key INT64) with the fields libsinsp exposes under the same names
 * and types (tid, pid, ptid, comm, exe, exe_path, uid, gid, ..., the read-only subtable
 * file_descriptors and the read-only cwd), its initial values, and the small state update the
 * replay command makes from a capture.
 *
 * The state update is deliberately minimal (this is a test host, not libsinsp's parser):
 *  - the capture's process-list blocks fill the table (tid, pid, ptid, sid, vtid, vpid, vpgid,
 *    comm, exe, exe_path, cwd, root, fd_limit, flags, uid, gid, loginuid, tty) and its fd-list
 *    blocks each thread's file_descriptors (fd, ino, type, name, open_flags, dev, pid);
 *  - an event of a tid without an entry creates one with only tid set (other fields keep
 *    libsinsp's initial values: pid, ptid, sid... -1, uid/gid/loginuid 0xffffffff, "");
 *  - the child's exit of clone/clone3/fork/vfork (res 0) sets pid, ptid, comm, exe, cwd, uid,
 *    gid, vtid, vpid, fd_limit from the event and exe_path from the parent's entry;
 *  - a successful execve/execveat exit sets comm, exe, exe_path (trusted_exepath when the event
 *    has it, else exe), pid, ptid, cwd, uid, gid from the event (when it has them);
 *  - procexit removes the thread's entry after the plugins parsed the event.
 * File descriptors are not tracked from events (open, socket, close...).
 */
#include "host.h"

#include <stdlib.h>
#include <string.h>

static htable *g_threads;
static tschema *g_fd_schema;

static struct {
	tfield *tid, *pid, *ptid, *sid, *comm, *exe, *exe_path, *flags, *fd_limit, *uid, *gid, *loginuid, *vtid,
		*vpid, *vpgid, *root, *tty, *fds, *cwd;
	tfield *fd_fd, *fd_ino, *fd_type, *fd_name, *fd_open_flags, *fd_dev, *fd_pid;
} F;

enum { ACT_NONE, ACT_CLONE, ACT_EXEC, ACT_EXIT, ACT_OPEN };
static uint8_t *g_actions; /* per event code */

void threads_init(void)
{
	static const field_spec fd_fields[] = {
		{"type", SS_PLUGIN_ST_UINT8, 0, 0, NULL},
		{"open_flags", SS_PLUGIN_ST_UINT32, 0, 0, NULL},
		{"name", SS_PLUGIN_ST_STRING, 0, 0, NULL},
		{"flags", SS_PLUGIN_ST_UINT32, 0, 0, NULL},
		{"dev", SS_PLUGIN_ST_UINT32, 0, 0, NULL},
		{"mount_id", SS_PLUGIN_ST_UINT32, 0, 0, NULL},
		{"ino", SS_PLUGIN_ST_UINT64, 0, 0, NULL},
		{"pid", SS_PLUGIN_ST_INT64, 0, 0, NULL},
		{"fd", SS_PLUGIN_ST_INT64, 0, 0, NULL},
	};
	g_fd_schema = schema_new("file_descriptors", SS_PLUGIN_ST_INT64, fd_fields, sizeof fd_fields / sizeof *fd_fields,
				 "fd");
	const field_spec thread_fields[] = {
		{"tid", SS_PLUGIN_ST_INT64, 0, 0, NULL},
		{"pid", SS_PLUGIN_ST_INT64, 0, -1, NULL},
		{"ptid", SS_PLUGIN_ST_INT64, 0, -1, NULL},
		{"reaper_tid", SS_PLUGIN_ST_INT64, 0, -1, NULL},
		{"sid", SS_PLUGIN_ST_INT64, 0, -1, NULL},
		{"comm", SS_PLUGIN_ST_STRING, 0, 0, NULL},
		{"exe", SS_PLUGIN_ST_STRING, 0, 0, NULL},
		{"exe_path", SS_PLUGIN_ST_STRING, 0, 0, NULL},
		{"exe_writable", SS_PLUGIN_ST_BOOL, 0, 0, NULL},
		{"exe_upper_layer", SS_PLUGIN_ST_BOOL, 0, 0, NULL},
		{"exe_lower_layer", SS_PLUGIN_ST_BOOL, 0, 0, NULL},
		{"exe_from_memfd", SS_PLUGIN_ST_BOOL, 0, 0, NULL},
		{"flags", SS_PLUGIN_ST_UINT32, 0, 0, NULL},
		{"fd_limit", SS_PLUGIN_ST_INT64, 0, -1, NULL},
		{"uid", SS_PLUGIN_ST_UINT32, 0, 0xffffffff, NULL},
		{"gid", SS_PLUGIN_ST_UINT32, 0, 0xffffffff, NULL},
		{"loginuid", SS_PLUGIN_ST_UINT32, 0, 0xffffffff, NULL},
		{"exe_ino", SS_PLUGIN_ST_UINT64, 0, 0, NULL},
		{"exe_ino_ctime", SS_PLUGIN_ST_UINT64, 0, 0, NULL},
		{"exe_ino_mtime", SS_PLUGIN_ST_UINT64, 0, 0, NULL},
		{"vtid", SS_PLUGIN_ST_INT64, 0, -1, NULL},
		{"vpid", SS_PLUGIN_ST_INT64, 0, -1, NULL},
		{"vpgid", SS_PLUGIN_ST_INT64, 0, -1, NULL},
		{"pgid", SS_PLUGIN_ST_INT64, 0, -1, NULL},
		{"pidns_init_start_ts", SS_PLUGIN_ST_UINT64, 0, 0, NULL},
		{"root", SS_PLUGIN_ST_STRING, 0, 0, NULL},
		{"tty", SS_PLUGIN_ST_UINT32, 0, 0, NULL},
		{"file_descriptors", SS_PLUGIN_ST_TABLE, 1, 0, g_fd_schema},
		{"cwd", SS_PLUGIN_ST_STRING, 1, 0, NULL},
	};
	tschema *ts = schema_new("threads", SS_PLUGIN_ST_INT64, thread_fields,
				 sizeof thread_fields / sizeof *thread_fields, "tid");
	g_threads = tables_register_host("threads", ts);
#define FLD(var, name) F.var = schema_field(ts, name)
	FLD(tid, "tid");
	FLD(pid, "pid");
	FLD(ptid, "ptid");
	FLD(sid, "sid");
	FLD(comm, "comm");
	FLD(exe, "exe");
	FLD(exe_path, "exe_path");
	FLD(flags, "flags");
	FLD(fd_limit, "fd_limit");
	FLD(uid, "uid");
	FLD(gid, "gid");
	FLD(loginuid, "loginuid");
	FLD(vtid, "vtid");
	FLD(vpid, "vpid");
	FLD(vpgid, "vpgid");
	FLD(root, "root");
	FLD(tty, "tty");
	FLD(fds, "file_descriptors");
	FLD(cwd, "cwd");
#undef FLD
	F.fd_fd = schema_field(g_fd_schema, "fd");
	F.fd_ino = schema_field(g_fd_schema, "ino");
	F.fd_type = schema_field(g_fd_schema, "type");
	F.fd_name = schema_field(g_fd_schema, "name");
	F.fd_open_flags = schema_field(g_fd_schema, "open_flags");
	F.fd_dev = schema_field(g_fd_schema, "dev");
	F.fd_pid = schema_field(g_fd_schema, "pid");

	free(g_actions);
	g_actions = calloc(g_event_max ? g_event_max : 1, 1);
	for (uint32_t c = 0; c < g_event_max; c++) {
		const event_schema_info *ei = &g_event_table[c];
		if (!ei->name)
			continue;
		if (ei->dir == '<' && (!strcmp(ei->name, "clone") || !strcmp(ei->name, "clone3") ||
				       !strcmp(ei->name, "fork") || !strcmp(ei->name, "vfork")))
			g_actions[c] = ACT_CLONE;
		else if (ei->dir == '<' && (!strcmp(ei->name, "execve") || !strcmp(ei->name, "execveat")))
			g_actions[c] = ACT_EXEC;
		else if (ei->dir == '>' && !strcmp(ei->name, "procexit"))
			g_actions[c] = ACT_EXIT;
		else if (ei->dir == '<' && (!strcmp(ei->name, "open") || !strcmp(ei->name, "openat") ||
					    !strcmp(ei->name, "openat2") || !strcmp(ei->name, "creat")) &&
			 event_param_index((uint16_t)c, "fd") >= 0 && event_param_index((uint16_t)c, "name") >= 0)
			g_actions[c] = ACT_OPEN;
	}
}

htable *threads_table(void)
{
	return g_threads;
}

void threads_add_proc(const proc_info *pi)
{
	hentry *e = ht_add_int(g_threads, pi->tid);
	ent_set_u(e, F.pid, (uint64_t)pi->pid);
	ent_set_u(e, F.ptid, (uint64_t)pi->ptid);
	ent_set_u(e, F.sid, (uint64_t)pi->sid);
	ent_set_u(e, F.vtid, (uint64_t)pi->vtid);
	ent_set_u(e, F.vpid, (uint64_t)pi->vpid);
	ent_set_u(e, F.vpgid, (uint64_t)pi->vpgid);
	ent_set_u(e, F.fd_limit, (uint64_t)pi->fdlimit);
	ent_set_u(e, F.uid, pi->uid);
	ent_set_u(e, F.gid, pi->gid);
	ent_set_u(e, F.loginuid, pi->loginuid);
	ent_set_u(e, F.flags, pi->flags);
	ent_set_u(e, F.tty, pi->tty);
	ent_set_s(e, F.comm, pi->comm);
	ent_set_s(e, F.exe, pi->exe);
	ent_set_s(e, F.exe_path, pi->exepath);
	ent_set_s(e, F.cwd, pi->cwd);
	ent_set_s(e, F.root, pi->root);
}

void threads_add_fd(int64_t tid, const fd_info *fi)
{
	hentry *t = ht_get_int(g_threads, tid);
	if (!t) /* libscap skips fds of threads it does not know */
		return;
	htable *fds = ent_get_table(t, F.fds);
	if (!fds)
		return;
	hentry *e = ht_add_int(fds, fi->fd);
	ent_set_u(e, F.fd_ino, fi->ino);
	ent_set_u(e, F.fd_type, fi->type);
	ent_set_u(e, F.fd_open_flags, fi->open_flags);
	ent_set_u(e, F.fd_dev, fi->dev);
	ent_set_u(e, F.fd_pid, ent_get_u(t, F.pid));
	ent_set_s(e, F.fd_name, fi->name);
}

/* ---- event parameters ---- */

int event_param_index(uint16_t code, const char *name)
{
	if (code >= g_event_max || !g_event_table[code].name)
		return -1;
	const char *p = g_event_table[code].params;
	size_t n = strlen(name);
	for (int i = 0; *p; i++) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len == n && memcmp(p, name, n) == 0)
			return i;
		if (!end)
			break;
		p = end + 1;
	}
	return -1;
}

const uint8_t *event_param(const ss_plugin_event *e, uint32_t i, uint32_t *len)
{
	const uint8_t *raw = (const uint8_t *)e;
	int large = e->type < g_event_max ? g_event_table[e->type].large : 0;
	size_t w = large ? 4 : 2;
	size_t off = sizeof(ss_plugin_event) + w * e->nparams;
	*len = 0;
	if (i >= e->nparams || off > e->len)
		return NULL;
	for (uint32_t k = 0; k <= i; k++) {
		uint32_t l = 0;
		memcpy(&l, raw + sizeof(ss_plugin_event) + w * k, w);
		if (k == i) {
			if (off + l > e->len)
				return NULL;
			*len = l;
			return raw + off;
		}
		off += l;
	}
	return NULL;
}

static int p_int(const ss_plugin_event *e, const char *name, int64_t *out)
{
	int i = event_param_index(e->type, name);
	uint32_t len;
	const uint8_t *d = i >= 0 ? event_param(e, (uint32_t)i, &len) : NULL;
	if (!d)
		return 0;
	switch (len) {
	case 8: memcpy(out, d, 8); return 1;
	case 4: {
		uint32_t v;
		memcpy(&v, d, 4);
		*out = v;
		return 1;
	}
	case 2: {
		uint16_t v;
		memcpy(&v, d, 2);
		*out = v;
		return 1;
	}
	case 1: *out = d[0]; return 1;
	default: return 0;
	}
}

/* A string parameter (CHARBUF/FSPATH): up to its NUL; args-like buffers stop at the first NUL. */
static int p_str(const ss_plugin_event *e, const char *name, char *buf, size_t n)
{
	int i = event_param_index(e->type, name);
	uint32_t len;
	const uint8_t *d = i >= 0 ? event_param(e, (uint32_t)i, &len) : NULL;
	if (!d || len == 0)
		return 0;
	size_t k = 0;
	while (k < len && k + 1 < n && d[k])
		k++;
	memcpy(buf, d, k);
	buf[k] = '\0';
	return 1;
}

static void set_int_param(hentry *t, const ss_plugin_event *e, const char *name, const tfield *f)
{
	int64_t v;
	if (p_int(e, name, &v))
		ent_set_u(t, f, (uint64_t)v);
}

static void set_str_param(hentry *t, const ss_plugin_event *e, const char *name, const tfield *f)
{
	char buf[4096];
	if (p_str(e, name, buf, sizeof buf))
		ent_set_s(t, f, buf);
}

void threads_before_parse(const ss_plugin_event *e)
{
	if (e->tid == UINT64_MAX || !g_threads)
		return;
	int64_t tid = (int64_t)e->tid;
	hentry *t = ht_get_int(g_threads, tid);
	if (!t)
		t = ht_add_int(g_threads, tid);
	uint8_t act = e->type < g_event_max ? g_actions[e->type] : ACT_NONE;
	int64_t res;
	if (act == ACT_CLONE && p_int(e, "res", &res) && res == 0) {
		set_int_param(t, e, "pid", F.pid);
		set_int_param(t, e, "ptid", F.ptid);
		set_int_param(t, e, "uid", F.uid);
		set_int_param(t, e, "gid", F.gid);
		set_int_param(t, e, "vtid", F.vtid);
		set_int_param(t, e, "vpid", F.vpid);
		set_int_param(t, e, "fdlimit", F.fd_limit);
		set_str_param(t, e, "comm", F.comm);
		set_str_param(t, e, "exe", F.exe);
		set_str_param(t, e, "cwd", F.cwd);
		hentry *parent = ht_get_int(g_threads, (int64_t)ent_get_u(t, F.ptid));
		if (parent)
			ent_set_s(t, F.exe_path, ent_get_s(parent, F.exe_path));
	} else if (act == ACT_OPEN && p_int(e, "fd", &res) && res >= 0) {
		/* a successful open exit: the new fd in the thread's file_descriptors (by path) */
		char path[4096];
		int64_t flags = 0, dev = 0, ino = 0;
		if (!p_str(e, "name", path, sizeof path))
			path[0] = '\0';
		p_int(e, "flags", &flags);
		p_int(e, "dev", &dev);
		p_int(e, "ino", &ino);
		fd_info fi = {.fd = res, .ino = (uint64_t)ino, .type = 1 /* SCAP_FD_FILE_V2 */,
			      .open_flags = (uint32_t)flags, .dev = (uint32_t)dev, .name = path};
		threads_add_fd(tid, &fi);
	} else if (act == ACT_EXEC && p_int(e, "res", &res) && res == 0) {
		set_int_param(t, e, "pid", F.pid);
		set_int_param(t, e, "ptid", F.ptid);
		set_int_param(t, e, "uid", F.uid);
		set_int_param(t, e, "gid", F.gid);
		set_str_param(t, e, "comm", F.comm);
		set_str_param(t, e, "exe", F.exe);
		set_str_param(t, e, "cwd", F.cwd);
		char path[4096];
		if (p_str(e, "trusted_exepath", path, sizeof path) && path[0])
			ent_set_s(t, F.exe_path, path);
		else if (p_str(e, "exe", path, sizeof path))
			ent_set_s(t, F.exe_path, path);
	}
}

void threads_after_parse(const ss_plugin_event *e, int allow_remove)
{
	if (!allow_remove || e->tid == UINT64_MAX || !g_threads || e->type >= g_event_max)
		return;
	if (g_actions[e->type] == ACT_EXIT)
		ht_erase_int(g_threads, (int64_t)e->tid);
}
