/* The data directory's reserve: a file of LEDGER_RESERVE_BYTES kept beside the state and
 * deleted just before the state opens, so that a restart on a full disk has room for the
 * SQLite WAL index (-shm) it must build anew. The first connection truncates the -shm and
 * recovery extends and fills it again; the blocks the truncation frees were not always enough
 * (faults/disk_full: 2 of 40 restarts on the full ext4 image, the new file's blocks need more
 * extents than the old one's). Made again once the state is open, if the disk has room: it is
 * never written through, so pushes that fill the disk never take it (CockroachDB keeps an
 * "emergency ballast" file for the same reason). */
#include "ledger_int.h"

#include "idbsync/log.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define RESERVE_NAME "idbsync.reserve"

static int reserve_path(char *out, size_t n, const char *dir)
{
	return ids_path(out, n, NULL, "%s/" RESERVE_NAME, dir);
}

void ledger_reserve_release(const char *dir)
{
	char path[IDS_PATH_MAX + 1];
	if (!reserve_path(path, sizeof path, dir) && unlink(path) && errno != ENOENT)
		ids_logf(IDS_LOG_WARN, "reserve", "cannot delete %s: %s", path, strerror(errno));
}

int ledger_reserve_make(const char *dir, int quiet)
{
	char path[IDS_PATH_MAX + 1];
	if (reserve_path(path, sizeof path, dir))
		return -1;
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	/* blocks, not a sparse size: zeros written, where fallocate is not supported too */
	int rc = posix_fallocate(fd, 0, LEDGER_RESERVE_BYTES);
	close(fd);
	if (rc) {
		/* a short reserve would give a restart less than it counts on: none then */
		unlink(path);
		if (!quiet)
			ids_logf(IDS_LOG_INFO, "reserve", "no room for the %d KiB reserve %s (%s): made after a checkpoint "
				 "once the disk has room", LEDGER_RESERVE_BYTES >> 10, path, strerror(rc));
		return -1;
	}
	return 0;
}
