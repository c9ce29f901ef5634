/*
 * Reading scap capture files (plain or gzip, through zlib) for `replay` and `bench-parse`, as
 * libscap's savefile engine does: a section header block, then metadata blocks (machine info,
 * process lists v1..v9, fd lists v1/v2, interface and user lists) up to the first event block,
 * then event blocks (v1 events get their nparams restored from the event schema, as libscap and
 * falco_plugin.event.scap do). Process and fd lists fill the threads table (threads.c).
 * Non-event blocks after the first event are skipped.
 */
#include <errno.h>
#include "host.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define SHB_TYPE 0x0A0D0D0Au
#define BYTE_ORDER_MAGIC 0x1A2B3C4Du

struct capture {
	gzFile f;
	const char *path;
	uint8_t *body; /* current block body (+ trailer) */
	size_t cap;
	uint32_t btype;
	size_t blen; /* body length */
	int pending; /* body holds an event block not returned yet */
	uint8_t *ev;
	size_t evcap;
	uint64_t procs, fds, nevents, offset;
};

static int fail(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, n, fmt, ap);
	va_end(ap);
	return -1;
}

/* Reads exactly n bytes; 1 ok, 0 clean end before the first byte, -1 error/truncation. */
static int rd(capture *c, void *buf, size_t n, char *err, size_t errlen)
{
	size_t got = 0;
	while (got < n) {
		int r = gzread(c->f, (uint8_t *)buf + got, (unsigned)(n - got > (1u << 30) ? (1u << 30) : n - got));
		if (r < 0) {
			int zerr;
			const char *msg = gzerror(c->f, &zerr);
			return fail(err, errlen, "cannot read capture %s: %s", c->path, msg ? msg : "read error");
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	if (got == n)
		return 1;
	if (got == 0)
		return 0;
	return fail(err, errlen, "truncated capture %s at file offset %llu", c->path, (unsigned long long)c->offset);
}

/* The next block into c->body; 1 ok, 0 end of file, -1 error. */
static int read_block(capture *c, char *err, size_t errlen)
{
	uint32_t hdr[2];
	int r = rd(c, hdr, sizeof hdr, err, errlen);
	if (r <= 0)
		return r;
	if (c->offset == 0 && hdr[0] != SHB_TYPE)
		return fail(err, errlen, "not a scap capture: %s (first block type %#x)", c->path, hdr[0]);
	if (hdr[1] < 12)
		return fail(err, errlen, "block of type %#x at file offset %llu: length %u", hdr[0],
			    (unsigned long long)c->offset, hdr[1]);
	size_t rest = hdr[1] - 8;
	if (rest > c->cap) {
		uint8_t *b = realloc(c->body, rest);
		if (!b)
			return fail(err, errlen, "out of memory for a block of %zu bytes", rest);
		c->body = b;
		c->cap = rest;
	}
	if (rd(c, c->body, rest, err, errlen) != 1) {
		if (!err[0])
			fail(err, errlen, "truncated capture %s: block of type %#x at file offset %llu", c->path, hdr[0],
			     (unsigned long long)c->offset);
		return -1;
	}
	uint32_t trailer;
	memcpy(&trailer, c->body + rest - 4, 4);
	if (trailer != hdr[1])
		return fail(err, errlen, "block of type %#x at file offset %llu: length %u in header, %u in trailer",
			    hdr[0], (unsigned long long)c->offset, hdr[1], trailer);
	c->btype = hdr[0];
	c->blen = rest - 4;
	c->offset += hdr[1];
	return 1;
}

static int is_event_block(uint32_t t)
{
	switch (t) {
	case 0x204:
	case 0x8010ABCD:
	case 0x216:
	case 0x221:
	case 0x208:
	case 0x217:
	case 0x222: return 1;
	default: return 0;
	}
}

/* ---- a bounded reader over a block body ---- */
typedef struct {
	const uint8_t *p, *end;
	int bad;
} cur;

static void take(cur *c, void *out, size_t n)
{
	if (c->bad || (size_t)(c->end - c->p) < n) {
		c->bad = 1;
		if (out)
			memset(out, 0, n);
		return;
	}
	if (out)
		memcpy(out, c->p, n);
	c->p += n;
}

static uint64_t u64(cur *c)
{
	uint64_t v;
	take(c, &v, 8);
	return v;
}

static uint32_t u32(cur *c)
{
	uint32_t v;
	take(c, &v, 4);
	return v;
}

static uint16_t u16(cur *c)
{
	uint16_t v;
	take(c, &v, 2);
	return v;
}

/* A length-prefixed string (not NUL-terminated on file) into buf. */
static void str16(cur *c, char *buf, size_t n)
{
	uint16_t len = u16(c);
	size_t k = len < n ? len : n - 1;
	if (c->bad || (size_t)(c->end - c->p) < len) {
		c->bad = 1;
		buf[0] = '\0';
		return;
	}
	memcpy(buf, c->p, k);
	buf[k] = '\0';
	c->p += len;
}

enum { PL1 = 1, PL2, PL3, PL4, PL5, PL6, PL7, PL8, PL9 };

static int proclist_version(uint32_t t)
{
	switch (t) {
	case 0x202:
	case 0x8000ABCD: return PL1;
	case 0x207:
	case 0x8013ABCD: return PL2;
	case 0x209:
	case 0x8014ABCD: return PL3;
	case 0x210: return PL4;
	case 0x211: return PL5;
	case 0x212: return PL6;
	case 0x213: return PL7;
	case 0x214: return PL8;
	case 0x215: return PL9;
	default: return 0;
	}
}

static char s_comm[1025], s_exe[1025], s_exepath[1025], s_cwd[1025], s_root[1025], s_skip[4097];

static int read_proclist(capture *c, int ver, char *err, size_t errlen)
{
	cur k = {c->body, c->body + c->blen, 0};
	while (!k.bad && k.end - k.p >= 4) {
		const uint8_t *start = k.p;
		uint32_t sub_len = ver == PL9 ? u32(&k) : 0;
		proc_info pi;
		memset(&pi, 0, sizeof pi);
		pi.sid = pi.vtid = pi.vpid = pi.vpgid = -1;
		pi.loginuid = UINT32_MAX;
		pi.tid = (int64_t)u64(&k);
		pi.pid = (int64_t)u64(&k);
		pi.ptid = (int64_t)u64(&k);
		if (ver >= PL6)
			pi.sid = (int64_t)u64(&k);
		if (ver >= PL8)
			pi.vpgid = (int64_t)u64(&k);
		str16(&k, s_comm, sizeof s_comm);
		str16(&k, s_exe, sizeof s_exe);
		s_exepath[0] = '\0';
		if (ver >= PL7)
			str16(&k, s_exepath, sizeof s_exepath);
		str16(&k, s_skip, sizeof s_skip); /* args */
		str16(&k, s_cwd, sizeof s_cwd);
		pi.fdlimit = (int64_t)u64(&k);
		pi.flags = u32(&k);
		pi.uid = u32(&k);
		pi.gid = u32(&k);
		s_root[0] = '\0';
		if (ver >= PL2) {
			take(&k, NULL, 4 + 4 + 4 + 8 + 8); /* vmsize, vmrss, vmswap, pfmajor, pfminor */
			if (ver >= PL3)
				str16(&k, s_skip, sizeof s_skip); /* env */
			if (ver >= PL4) {
				pi.vtid = (int64_t)u64(&k);
				pi.vpid = (int64_t)u64(&k);
				str16(&k, s_skip, sizeof s_skip); /* cgroups */
				if (ver >= PL5)
					str16(&k, s_root, sizeof s_root);
			}
		}
		if (ver == PL9) {
			/* optional trailing fields: (pidns_init_start_ts, tty unless pre-0.10), loginuid, ... */
			size_t read = (size_t)(k.p - start);
			if (!k.bad && sub_len >= read) {
				int pre_0_10 = sub_len - read <= 29;
				if (!pre_0_10 && read + 8 <= sub_len) {
					take(&k, NULL, 8);
					read += 8;
				}
				if (!pre_0_10 && read + 4 <= sub_len) {
					pi.tty = u32(&k);
					read += 4;
				}
				if (read + 4 <= sub_len)
					pi.loginuid = u32(&k);
			}
			if (k.bad || (size_t)(k.end - start) < sub_len || (size_t)(k.p - start) > sub_len)
				return fail(err, errlen, "corrupted process list entry (length %u) in %s", sub_len, c->path);
			k.p = start + sub_len;
		}
		if (k.bad)
			break;
		pi.comm = s_comm;
		pi.exe = s_exe;
		pi.exepath = s_exepath;
		pi.cwd = s_cwd;
		pi.root = s_root;
		threads_add_proc(&pi);
		c->procs++;
	}
	if (k.bad)
		return fail(err, errlen, "corrupted process list block in %s", c->path);
	return 0;
}

static void ipv4_text(char *buf, size_t n, const uint8_t *ip)
{
	snprintf(buf, n, "%u.%u.%u.%u", ip[0], ip[1], ip[2], ip[3]);
}

static void ipv6_text(char *buf, size_t n, const uint8_t *ip)
{
	size_t o = 0;
	for (int i = 0; i < 16 && o < n; i += 2)
		o += (size_t)snprintf(buf + o, n - o, "%s%x", i ? ":" : "", (unsigned)(ip[i] << 8 | ip[i + 1]));
}

static int read_fdlist(capture *c, int v2, char *err, size_t errlen)
{
	cur k = {c->body, c->body + c->blen, 0};
	int64_t tid = (int64_t)u64(&k);
	char name[1100], a[64], b[64];
	while (!k.bad && k.end - k.p >= 4) {
		const uint8_t *start = k.p;
		uint32_t sub_len = v2 ? u32(&k) : 0;
		fd_info fi;
		memset(&fi, 0, sizeof fi);
		fi.fd = (int64_t)u64(&k);
		fi.ino = u64(&k);
		take(&k, &fi.type, 1);
		name[0] = '\0';
		switch (fi.type) {
		case 3: { /* IPv4 socket: sip, dip, sport, dport, l4proto */
			uint8_t sip[4], dip[4];
			take(&k, sip, 4);
			take(&k, dip, 4);
			uint16_t sport = u16(&k), dport = u16(&k);
			take(&k, NULL, 1);
			ipv4_text(a, sizeof a, sip);
			ipv4_text(b, sizeof b, dip);
			snprintf(name, sizeof name, "%s:%u->%s:%u", a, sport, b, dport);
			break;
		}
		case 5: { /* IPv4 server socket: ip, port, l4proto */
			uint8_t ip[4];
			take(&k, ip, 4);
			uint16_t port = u16(&k);
			take(&k, NULL, 1);
			ipv4_text(a, sizeof a, ip);
			snprintf(name, sizeof name, "%s:%u", a, port);
			break;
		}
		case 4: { /* IPv6 socket */
			uint8_t sip[16], dip[16];
			take(&k, sip, 16);
			take(&k, dip, 16);
			uint16_t sport = u16(&k), dport = u16(&k);
			take(&k, NULL, 1);
			ipv6_text(a, sizeof a, sip);
			ipv6_text(b, sizeof b, dip);
			snprintf(name, sizeof name, "%s:%u->%s:%u", a, sport, b, dport);
			break;
		}
		case 6: { /* IPv6 server socket */
			uint8_t ip[16];
			take(&k, ip, 16);
			uint16_t port = u16(&k);
			take(&k, NULL, 1);
			ipv6_text(a, sizeof a, ip);
			snprintf(name, sizeof name, "%s:%u", a, port);
			break;
		}
		case 8: /* unix socket: source, destination, name */
			take(&k, NULL, 16);
			str16(&k, name, sizeof name);
			break;
		case 16: /* file v2: open flags, name, dev (v2 blocks, when the entry has it) */
			fi.open_flags = u32(&k);
			str16(&k, name, sizeof name);
			if (sub_len && (size_t)(k.p - start) + 4 <= sub_len)
				fi.dev = u32(&k);
			break;
		case 0: /* SCAP_FD_UNKNOWN: nothing follows (libscap reads nothing either) */
			break;
		case 1: case 2: case 7: case 9: case 10: case 11: case 12: case 13: case 14: case 15: case 17: case 18:
		case 19: case 20: case 21:
			str16(&k, name, sizeof name);
			break;
		default:
			if (!sub_len)
				return fail(err, errlen, "fd list of %s: fd type %u of an older block cannot be skipped",
					    c->path, fi.type);
			snprintf(name, sizeof name, "unknown-type:[%d]", fi.type);
			fi.type = 10; /* SCAP_FD_UNSUPPORTED */
		}
		if (sub_len) {
			if (k.bad || (size_t)(k.p - start) > sub_len || (size_t)(k.end - start) < sub_len)
				return fail(err, errlen, "corrupted fd list entry in %s", c->path);
			k.p = start + sub_len;
		}
		if (k.bad)
			break;
		fi.name = name;
		threads_add_fd(tid, &fi);
		c->fds++;
	}
	if (k.bad)
		return fail(err, errlen, "corrupted fd list block in %s", c->path);
	return 0;
}

capture *capture_open_file(const char *path, char *err, size_t errlen)
{
	capture *c = calloc(1, sizeof *c);
	if (!c)
		abort();
	err[0] = '\0';
	c->path = path;
	errno = 0;
	c->f = gzopen(path, "rb");
	if (!c->f) {
		fail(err, errlen, "cannot open capture %s: %s", path, errno ? strerror(errno) : "out of memory");
		free(c);
		return NULL;
	}
	gzbuffer(c->f, 1u << 17);
	int r = read_block(c, err, errlen);
	if (r <= 0) {
		if (r == 0)
			fail(err, errlen, "empty capture file %s", path);
		goto bad;
	}
	uint32_t magic;
	if (c->btype != SHB_TYPE || c->blen < 16) {
		fail(err, errlen, "not a scap capture: %s (first block type %#x)", path, c->btype);
		goto bad;
	}
	memcpy(&magic, c->body, 4);
	uint16_t major;
	memcpy(&major, c->body + 4, 2);
	if (magic != BYTE_ORDER_MAGIC) {
		fail(err, errlen, "bad byte-order magic %#x in %s", magic, path);
		goto bad;
	}
	if (major > 1) {
		fail(err, errlen, "capture format version %u of %s is newer than this host (1.x)", major, path);
		goto bad;
	}
	for (;;) {
		r = read_block(c, err, errlen);
		if (r < 0)
			goto bad;
		if (r == 0)
			break; /* no events */
		if (is_event_block(c->btype)) {
			c->pending = 1;
			break;
		}
		int ver = proclist_version(c->btype);
		if (ver && read_proclist(c, ver, err, errlen))
			goto bad;
		if ((c->btype == 0x203 || c->btype == 0x8001ABCD || c->btype == 0x218) &&
		    read_fdlist(c, c->btype == 0x218, err, errlen))
			goto bad;
	}
	return c;
bad:
	capture_close_file(c);
	return NULL;
}

static int is_quirk(uint16_t code)
{
	return code == g_v1_quirk_codes[0] || code == g_v1_quirk_codes[1];
}

static int ensure_ev(capture *c, size_t n)
{
	if (n <= c->evcap)
		return 0;
	uint8_t *p = realloc(c->ev, n);
	if (!p)
		return -1;
	c->ev = p;
	c->evcap = n;
	return 0;
}

static int event_from_block(capture *c, ss_plugin_event **out, uint16_t *cpu, char *err, size_t errlen)
{
	int has_flags = c->btype == 0x208 || c->btype == 0x217 || c->btype == 0x222;
	int v2 = c->btype == 0x216 || c->btype == 0x221 || c->btype == 0x217 || c->btype == 0x222;
	size_t start = has_flags ? 6 : 2;
	uint64_t num = c->nevents + 1;
	if (c->blen < start)
		return fail(err, errlen, "event block %llu of %s is %zu bytes long", (unsigned long long)num, c->path,
			    c->blen);
	memcpy(cpu, c->body, 2);
	const uint8_t *d = c->body + start;
	size_t avail = c->blen - start;
	if (v2) {
		if (avail < sizeof(ss_plugin_event))
			return fail(err, errlen, "event block %llu of %s: truncated event header", (unsigned long long)num,
				    c->path);
		ss_plugin_event h;
		memcpy(&h, d, sizeof h);
		if (h.len < sizeof h || h.len > avail)
			return fail(err, errlen, "event block %llu of %s: event length %u, block holds %zu",
				    (unsigned long long)num, c->path, h.len, avail);
		if (ensure_ev(c, h.len))
			return fail(err, errlen, "out of memory");
		memcpy(c->ev, d, h.len);
	} else {
		/* version 1: ts, tid, len, type without nparams */
		if (avail < 22)
			return fail(err, errlen, "event block %llu of %s: truncated version-1 header", (unsigned long long)num,
				    c->path);
		uint64_t ts, tid;
		uint32_t len;
		uint16_t type;
		memcpy(&ts, d, 8);
		memcpy(&tid, d + 8, 8);
		memcpy(&len, d + 16, 4);
		memcpy(&type, d + 20, 2);
		if (is_quirk(type))
			len -= 3;
		if (len < 22 || len > avail)
			return fail(err, errlen, "event block %llu of %s: version-1 event (type %u) declares length %u",
				    (unsigned long long)num, c->path, type, len);
		const uint8_t *payload = d + 22;
		size_t plen = len - 22;
		size_t w = (type < g_event_max && g_event_table[type].large) ? 4 : 2;
		size_t most = type < g_event_max ? g_event_table[type].nparams : 32;
		if (most > plen / w)
			most = plen / w;
		int found = -1;
		for (size_t n = most + 1; n-- > 0;) {
			uint64_t sum = n * w;
			for (size_t i = 0; i < n; i++) {
				uint32_t l = 0;
				memcpy(&l, payload + i * w, w);
				sum += l;
			}
			if (sum == plen) {
				found = (int)n;
				break;
			}
		}
		if (found < 0)
			return fail(err, errlen, "event block %llu of %s: version-1 event (type %u): no parameter count "
						 "matches its %u bytes",
				    (unsigned long long)num, c->path, type, len);
		if (ensure_ev(c, len + 4))
			return fail(err, errlen, "out of memory");
		ss_plugin_event h = {ts, tid, len + 4, type, (uint32_t)found};
		memcpy(c->ev, &h, sizeof h);
		memcpy(c->ev + sizeof h, payload, plen);
	}
	c->nevents++;
	*out = (ss_plugin_event *)c->ev;
	return 0;
}

int capture_next(capture *c, ss_plugin_event **evt, uint16_t *cpu, char *err, size_t errlen)
{
	err[0] = '\0';
	for (;;) {
		if (!c->pending) {
			int r = read_block(c, err, errlen);
			if (r < 0)
				return -1;
			if (r == 0)
				return 1;
			if (!is_event_block(c->btype))
				continue; /* metadata after the first event is not loaded */
		}
		c->pending = 0;
		return event_from_block(c, evt, cpu, err, errlen) ? -1 : 0;
	}
}

void capture_close_file(capture *c)
{
	if (!c)
		return;
	if (c->f)
		gzclose(c->f);
	free(c->body);
	free(c->ev);
	free(c);
}

uint64_t capture_procs(const capture *c)
{
	return c->procs;
}

uint64_t capture_fds(const capture *c)
{
	return c->fds;
}
