/* A SQLite VFS for the writer's connection that gathers a commit's WAL frames into one write.
 * SQLite writes each frame with two pwrite calls (its 24-byte header, then the page): a
 * 500-mutation push commits ~75 frames, 150 system calls that took ~0.3 ms of a one-client
 * push's ~3 ms before its fsync. Here consecutive writes to the WAL are kept in a buffer and
 * written with one pwrite at the commit's sync, so the bytes on disk and the order of write,
 * sync and the WAL index update (after the sync) are the ones SQLite makes, and nothing is
 * acknowledged before its fsync.
 *
 * Only for synchronous=FULL (ledger_open uses it when durable): a commit then always syncs
 * the WAL before it publishes the frames to other connections; without the sync, readers would
 * look for frames still in this buffer. Every other call on the file (read, size, truncate,
 * file control, close) and a write that does not follow the buffered bytes write it out first,
 * so the connection itself never sees the file without its buffered bytes. Before buffered
 * frames are written, the WAL index regions they will be added to are mapped (index_ready),
 * so a full disk fails the commit before its frames can count.
 *
 * The WAL's blocks are written ahead of the commits, as zeros, by walfill.c: started from the
 * writer's sync, and every handle's write or truncate of the WAL goes through its lock (a
 * write that would reach a running fill stops and joins it first).
 *
 * The same wrapper, registered a second time without the buffering (LEDGER_SHM_VFS, the
 * process's default VFS), gives every connection's WAL index (-shm) its disk blocks before
 * SQLite stores into it; see wb_shm_map. */
#include "ledger_int.h"

#include "idbsync/log.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define WALBUF_CAP (1 << 20) /* a group commit larger than this goes out 1 MiB at a time */
/* The unix VFS writes at most 128 KiB - 1 per call (it masks the length with 0x1ffff and
 * reports a short write as a full disk), so a flush writes pieces of 124 KiB. */
#define WALBUF_WRITE (124 << 10)

typedef struct wb_file {
	sqlite3_file base;
	sqlite3_file *real;   /* the default VFS's file, allocated after this struct */
	int buffered;         /* the WAL: its writes are gathered */
	unsigned char *buf;   /* WALBUF_CAP bytes, allocated on the first buffered write */
	int len;
	sqlite3_int64 off;    /* file offset of buf[0] */
	int failed;           /* a flush's error not yet returned by a sync or truncate */
	const char *name;     /* the path SQLite opened (it keeps the string while open) */
	int psz;              /* the WAL: its page size, from its header once known */
	int index_ready;      /* the WAL: index regions [0, index_ready) mapped before a sync */
	sqlite3_int64 wend;   /* the WAL: the end of its last write (a commit's last frame) */
	walfill *fill;        /* the WAL: its blocks written ahead (walfill.c) */
} wb_file;

static sqlite3_vfs wb_vfs;   /* the writer's: WAL writes buffered */
static sqlite3_vfs wb_shm_vfs; /* everyone else's: only the WAL index's blocks */
static sqlite3_vfs *wb_real_vfs;

/* SQLite's WAL index geometry (wal.c): 32 KiB regions, the first one's 136-byte header taking
 * the place of 34 frames' entries */
#define WAL_HDR 32
#define WAL_FRAME_HDR 24
#define INDEX_REGION 32768
#define INDEX_NPAGE 4096
#define INDEX_NPAGE_ONE (INDEX_NPAGE - 136 / 4)

/* SQLite adds a commit's frames to the WAL index only after it synced them, so when a new
 * index region cannot be had (a full disk: wb_shm_map) the commit fails with its frames and
 * commit mark already durable in the WAL, and a crash before the next commit would replay a
 * commit the caller was told failed. So before the buffered frames are written (at the sync,
 * or earlier when a read or a rewrite in place needs them out), the writer's own database file
 * maps every region they will need: a failure then fails the commit before any of its frames
 * count. Without the WAL header's page size (an unreadable header) it does nothing, as SQLite. */
static int index_ready(wb_file *f)
{
	if (!f->psz) {
		unsigned char h[WAL_HDR];
		if (f->off == 0 && f->len >= WAL_HDR)
			memcpy(h, f->buf, WAL_HDR);
		else if (f->real->pMethods->xRead(f->real, h, WAL_HDR, 0) != SQLITE_OK)
			return SQLITE_OK;
		unsigned psz = (unsigned)h[8] << 24 | (unsigned)h[9] << 16 | (unsigned)h[10] << 8 | h[11];
		if (psz < 512 || psz > 65536 || (psz & (psz - 1)))
			return SQLITE_OK;
		f->psz = (int)psz;
	}
	sqlite3_int64 end = f->off + f->len, fsz = f->psz + WAL_FRAME_HDR;
	if (end <= WAL_HDR)
		return SQLITE_OK;
	sqlite3_int64 last = (end - WAL_HDR + fsz - 1) / fsz; /* a partial frame counts: more is safe */
	int need = (int)((last + INDEX_NPAGE - INDEX_NPAGE_ONE - 1) / INDEX_NPAGE);
	if (need < f->index_ready)
		return SQLITE_OK;
	sqlite3_file *db = sqlite3_database_file_object(f->name);
	for (int r = f->index_ready; r <= need; r++) {
		void volatile *region = NULL;
		int rc = db->pMethods->xShmMap(db, r, INDEX_REGION, 1, &region);
		if (rc != SQLITE_OK)
			return rc;
	}
	f->index_ready = need + 1;
	return SQLITE_OK;
}

/* Writes the buffered bytes out. On a failure the bytes are dropped (they are frames of a commit
 * that fails) and the error is also kept for the next sync or truncate: SQLite ignores the
 * result of some calls that flush here (file controls), and the sync that makes a commit
 * durable must not succeed after its frames failed to go out. */
static int wb_flush(wb_file *f)
{
	int rc = f->len ? index_ready(f) : SQLITE_OK;
	if (rc == SQLITE_OK && f->len) {
		f->wend = f->off + f->len;
		ledger_walfill_write_begin(f->fill, f->wend);
		for (int at = 0; rc == SQLITE_OK && at < f->len; at += WALBUF_WRITE)
			rc = f->real->pMethods->xWrite(f->real, f->buf + at,
						       f->len - at < WALBUF_WRITE ? f->len - at : WALBUF_WRITE, f->off + at);
		ledger_walfill_write_end(f->fill);
	}
	f->len = 0;
	if (rc != SQLITE_OK)
		f->failed = rc;
	return rc;
}

/* for a sync or truncate: the flush's result, or the error of an earlier flush not returned */
static int wb_flush_all(wb_file *f)
{
	int rc = wb_flush(f);
	if (rc == SQLITE_OK)
		rc = f->failed;
	f->failed = SQLITE_OK;
	return rc;
}

static int wb_close(sqlite3_file *p)
{
	wb_file *f = (wb_file *)p;
	int rc = wb_flush(f);
	ledger_walfill_put(f->fill);
	f->fill = NULL;
	int rc2 = f->real->pMethods->xClose(f->real);
	sqlite3_free(f->buf);
	f->buf = NULL;
	return rc != SQLITE_OK ? rc : rc2;
}

static int wb_read(sqlite3_file *p, void *out, int amt, sqlite3_int64 off)
{
	wb_file *f = (wb_file *)p;
	int rc = wb_flush(f);
	return rc != SQLITE_OK ? rc : f->real->pMethods->xRead(f->real, out, amt, off);
}

/* A write of any handle, with the WAL's fill (walfill.c) kept out of its bytes */
static int wal_write(wb_file *f, const void *data, int amt, sqlite3_int64 off)
{
	if (f->buffered)
		f->wend = off + amt;
	ledger_walfill_write_begin(f->fill, off + amt);
	int rc = f->real->pMethods->xWrite(f->real, data, amt, off);
	ledger_walfill_write_end(f->fill);
	return rc;
}

static int wb_write(sqlite3_file *p, const void *data, int amt, sqlite3_int64 off)
{
	wb_file *f = (wb_file *)p;
	if (f->buffered && amt < WALBUF_CAP) {
		if (f->len && (off != f->off + f->len || f->len + amt > WALBUF_CAP)) {
			int rc = wb_flush(f);
			if (rc != SQLITE_OK)
				return rc;
		}
		if (!f->buf && !(f->buf = sqlite3_malloc(WALBUF_CAP)))
			return wal_write(f, data, amt, off);
		if (!f->len)
			f->off = off;
		memcpy(f->buf + f->len, data, (size_t)amt);
		f->len += amt;
		return SQLITE_OK;
	}
	int rc = wb_flush(f);
	return rc != SQLITE_OK ? rc : wal_write(f, data, amt, off);
}

static int wb_truncate(sqlite3_file *p, sqlite3_int64 size)
{
	wb_file *f = (wb_file *)p;
	int rc = wb_flush_all(f);
	if (rc != SQLITE_OK)
		return rc;
	ledger_walfill_write_begin(f->fill, INT64_MAX);
	rc = f->real->pMethods->xTruncate(f->real, size);
	ledger_walfill_write_end(f->fill);
	return rc;
}

static int wb_sync(sqlite3_file *p, int flags)
{
	wb_file *f = (wb_file *)p;
	int rc = wb_flush_all(f);
	if (rc == SQLITE_OK)
		rc = f->real->pMethods->xSync(f->real, flags);
	if (rc == SQLITE_OK && f->buffered)
		ledger_walfill_after_sync(f->fill, f->real, f->wend);
	return rc;
}

static int wb_size(sqlite3_file *p, sqlite3_int64 *size)
{
	wb_file *f = (wb_file *)p;
	int rc = wb_flush(f);
	return rc != SQLITE_OK ? rc : f->real->pMethods->xFileSize(f->real, size);
}

static int wb_fcntl(sqlite3_file *p, int op, void *arg)
{
	wb_file *f = (wb_file *)p;
	int rc = wb_flush(f);
	return rc != SQLITE_OK ? rc : f->real->pMethods->xFileControl(f->real, op, arg);
}

/* the rest pass through: locks and the shared-memory index work on the file's other parts */
#define REAL(p) (((wb_file *)(p))->real)
static int wb_lock(sqlite3_file *p, int l) { return REAL(p)->pMethods->xLock(REAL(p), l); }
static int wb_unlock(sqlite3_file *p, int l) { return REAL(p)->pMethods->xUnlock(REAL(p), l); }
static int wb_reserved(sqlite3_file *p, int *out) { return REAL(p)->pMethods->xCheckReservedLock(REAL(p), out); }
static int wb_sector(sqlite3_file *p) { return REAL(p)->pMethods->xSectorSize(REAL(p)); }
static int wb_devchar(sqlite3_file *p) { return REAL(p)->pMethods->xDeviceCharacteristics(REAL(p)); }

/* The WAL index (-shm) is a file every connection maps and stores into. SQLite extends it by
 * writing one byte at the end of each 4 KiB page; on a filesystem with smaller blocks (ext4
 * makes 1 KiB blocks below 512 MB) the rest of each page is a hole, and the first store into a
 * hole needs a block: on a full disk the kernel answers that store with SIGBUS (a restart on
 * the full disk died so in faults/disk_full: the recovery's copy into the -shm's last page).
 * So every region handed to SQLite is first faulted in for writing with MADV_POPULATE_WRITE,
 * which gets each page its blocks and reports a failure as an error instead of a signal; once
 * a page has its blocks no later store needs more (ext4, tmpfs: a copy-on-write filesystem
 * takes new blocks on every write back and is not covered). Done for every connection and every call
 * (a region another connection populated costs a page-table walk) since the connections share
 * one mapping per process and any of them may be first to store into a page. */
static int shm_back(wb_file *f, int pg, int sz, void volatile *region)
{
	static atomic_int unsupported; /* kernels before 5.14: SQLite's own behaviour, said once */
	if (atomic_load_explicit(&unsupported, memory_order_relaxed))
		return SQLITE_OK;
	long psz = sysconf(_SC_PAGESIZE);
	uintptr_t a = (uintptr_t)region, start = a & ~(uintptr_t)(psz - 1);
	size_t len = (size_t)((a + (uintptr_t)sz + (uintptr_t)psz - 1 - start) & ~(uintptr_t)(psz - 1));
	int r;
	while ((r = madvise((void *)start, len, MADV_POPULATE_WRITE)) && (errno == EINTR || errno == EAGAIN))
		;
	if (!r)
		return SQLITE_OK;
	if (errno == EINVAL) {
		if (atomic_exchange(&unsupported, 1))
			return SQLITE_OK;
		ids_logf(IDS_LOG_WARN, "shm_populate_unsupported",
			 "%s-shm: MADV_POPULATE_WRITE is not supported here (Linux >= 5.14): a full disk may end the "
			 "process with SIGBUS", f->name ? f->name : "?");
		return SQLITE_OK;
	}
	int e = errno;
	ids_logf(IDS_LOG_WARN, "shm_no_space",
		 "%s-shm: cannot get disk blocks for WAL index region %d (%d KiB): %s", f->name ? f->name : "?", pg,
		 sz >> 10, e == EFAULT ? "the filesystem is full" : strerror(e));
	return e == ENOMEM ? SQLITE_NOMEM : SQLITE_FULL;
}

static int wb_shm_map(sqlite3_file *p, int pg, int sz, int ext, void volatile **out)
{
	int rc = REAL(p)->pMethods->xShmMap(REAL(p), pg, sz, ext, out);
	/* SQLITE_READONLY: a read-only mapping, never stored into */
	if (rc == SQLITE_OK && *out && (rc = shm_back((wb_file *)p, pg, sz, *out)) != SQLITE_OK)
		*out = NULL; /* the region stays mapped; the next call populates it again */
	return rc;
}
static int wb_shm_lock(sqlite3_file *p, int off, int n, int flags)
{
	return REAL(p)->pMethods->xShmLock(REAL(p), off, n, flags);
}
static void wb_shm_barrier(sqlite3_file *p) { REAL(p)->pMethods->xShmBarrier(REAL(p)); }
static int wb_shm_unmap(sqlite3_file *p, int del) { return REAL(p)->pMethods->xShmUnmap(REAL(p), del); }
static int wb_fetch(sqlite3_file *p, sqlite3_int64 off, int amt, void **out)
{
	wb_file *f = (wb_file *)p;
	int rc = wb_flush(f);
	return rc != SQLITE_OK ? rc : f->real->pMethods->xFetch(f->real, off, amt, out);
}
static int wb_unfetch(sqlite3_file *p, sqlite3_int64 off, void *pg)
{
	return REAL(p)->pMethods->xUnfetch(REAL(p), off, pg);
}

static const sqlite3_io_methods wb_io = {
	3,        wb_close,   wb_read,    wb_write,   wb_truncate, wb_sync,        wb_size,
	wb_lock,  wb_unlock,  wb_reserved, wb_fcntl,  wb_sector,   wb_devchar,     wb_shm_map,
	wb_shm_lock, wb_shm_barrier, wb_shm_unmap, wb_fetch, wb_unfetch,
};

static int wb_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *p, int flags, int *out_flags)
{
	wb_file *f = (wb_file *)p;
	memset(f, 0, sizeof *f);
	f->real = (sqlite3_file *)(f + 1);
	int rc = wb_real_vfs->xOpen(wb_real_vfs, name, f->real, flags, out_flags);
	if (rc != SQLITE_OK || !f->real->pMethods) {
		/* SQLite calls xClose only when pMethods is set: leave it NULL, the real file closed */
		if (f->real->pMethods)
			f->real->pMethods->xClose(f->real);
		return rc != SQLITE_OK ? rc : SQLITE_CANTOPEN;
	}
	/* the method table is version 3 above: the real one must have every method it calls */
	if (f->real->pMethods->iVersion < 3) {
		f->real->pMethods->xClose(f->real);
		return SQLITE_CANTOPEN;
	}
	f->buffered = vfs == &wb_vfs && (flags & SQLITE_OPEN_WAL) != 0;
	f->name = name;
	/* every handle of a WAL, the writer's and any other connection's (walfill.c) */
	if (flags & SQLITE_OPEN_WAL)
		f->fill = ledger_walfill_get(name);
	p->pMethods = &wb_io;
	return SQLITE_OK;
}

static int wb_delete(sqlite3_vfs *v, const char *n, int sync) { (void)v; return wb_real_vfs->xDelete(wb_real_vfs, n, sync); }
static int wb_access(sqlite3_vfs *v, const char *n, int fl, int *out)
{
	(void)v;
	return wb_real_vfs->xAccess(wb_real_vfs, n, fl, out);
}
static int wb_fullpath(sqlite3_vfs *v, const char *n, int len, char *out)
{
	(void)v;
	return wb_real_vfs->xFullPathname(wb_real_vfs, n, len, out);
}
static int wb_random(sqlite3_vfs *v, int n, char *out) { (void)v; return wb_real_vfs->xRandomness(wb_real_vfs, n, out); }
static int wb_sleep(sqlite3_vfs *v, int us) { (void)v; return wb_real_vfs->xSleep(wb_real_vfs, us); }
static int wb_time(sqlite3_vfs *v, double *out) { (void)v; return wb_real_vfs->xCurrentTime(wb_real_vfs, out); }
static int wb_lasterr(sqlite3_vfs *v, int n, char *out) { (void)v; return wb_real_vfs->xGetLastError(wb_real_vfs, n, out); }
static int wb_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
	(void)v;
	return wb_real_vfs->xCurrentTimeInt64(wb_real_vfs, out);
}

static void *wb_dlopen(sqlite3_vfs *v, const char *n) { (void)v; return wb_real_vfs->xDlOpen(wb_real_vfs, n); }
static void wb_dlerror(sqlite3_vfs *v, int n, char *out) { (void)v; wb_real_vfs->xDlError(wb_real_vfs, n, out); }
static void (*wb_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void)
{
	(void)v;
	return wb_real_vfs->xDlSym(wb_real_vfs, h, sym);
}
static void wb_dlclose(sqlite3_vfs *v, void *h) { (void)v; wb_real_vfs->xDlClose(wb_real_vfs, h); }

int ledger_walbuf_register(void)
{
	if (wb_real_vfs)
		return SQLITE_OK;
	sqlite3_vfs *real = sqlite3_vfs_find(NULL);
	if (!real || real->iVersion < 2)
		return SQLITE_ERROR;
	wb_real_vfs = real;
	wb_vfs = (sqlite3_vfs){
		.iVersion = 2,
		.szOsFile = (int)sizeof(wb_file) + real->szOsFile,
		.mxPathname = real->mxPathname,
		.zName = LEDGER_WALBUF_VFS,
		.xOpen = wb_open,
		.xDelete = wb_delete,
		.xAccess = wb_access,
		.xFullPathname = wb_fullpath,
		.xDlOpen = wb_dlopen,
		.xDlError = wb_dlerror,
		.xDlSym = wb_dlsym,
		.xDlClose = wb_dlclose,
		.xRandomness = wb_random,
		.xSleep = wb_sleep,
		.xCurrentTime = wb_time,
		.xGetLastError = wb_lasterr,
		.xCurrentTimeInt64 = wb_time64,
	};
	wb_shm_vfs = wb_vfs;
	wb_shm_vfs.zName = LEDGER_SHM_VFS;
	int rc = sqlite3_vfs_register(&wb_vfs, 0);
	/* the default: every connection of this process (readers, checkpoints, backups, queries)
	 * maps the -shm through shm_back, whoever opens it without naming a VFS */
	if (rc == SQLITE_OK)
		rc = sqlite3_vfs_register(&wb_shm_vfs, 1);
	return rc;
}
