/* The settings and path helpers (idbsync/config.h, idbsync/path.h): a path that does not fit is
 * an IDS_ELIMIT and an empty string, never a cut name; settings-file errors name the file, the
 * line and the key; durations and sizes parse the same for every command. */
#include "idbsync/config.h"
#include "idbsync/path.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"

static void test_path(void)
{
	char out[16];
	ids_error err = IDS_ERROR_INIT;
	CHECK_EQ_INT(ids_path(out, sizeof out, &err, "%s/%s", "a", "b"), 0);
	CHECK_EQ_STR(out, "a/b");
	/* exactly full (15 bytes and the terminator) fits; one more does not */
	CHECK_EQ_INT(ids_path(out, sizeof out, &err, "%s", "123456789012345"), 0);
	CHECK_EQ_INT(ids_path(out, sizeof out, &err, "%s/%s", "1234567890", "123456"), IDS_ELIMIT);
	CHECK_EQ_STR(out, "");
	CHECK_HAS(err.msg, "path too long (17 bytes");
	CHECK_HAS(err.msg, "1234567890/1234");   /* names the start of it */
	/* a NULL err is allowed (the empty name is the signal) */
	CHECK_EQ_INT(ids_path(out, sizeof out, NULL, "%s", "12345678901234567890"), IDS_ELIMIT);
	CHECK_EQ_STR(out, "");
	/* a big buffer still stops at IDS_PATH_MAX */
	static char big[IDS_PATH_MAX + 100];
	char *name = malloc(IDS_PATH_MAX + 1);
	memset(name, 'x', IDS_PATH_MAX);
	name[IDS_PATH_MAX] = 0;
	CHECK_EQ_INT(ids_path(big, sizeof big, &err, "%s", name), 0);
	CHECK_EQ_INT(ids_path(big, sizeof big, &err, "/%s", name), IDS_ELIMIT);
	free(name);

	CHECK_EQ_INT(ids_path_room("/srv/lake", 1200, "--lake", &err), 0);
	char *dir = malloc(3001);
	memset(dir, 'd', 3000);
	dir[3000] = 0;
	CHECK_EQ_INT(ids_path_room(dir, 1200, "--lake", &err), IDS_ELIMIT);
	CHECK_HAS(err.msg, "--lake: the directory name is 3000 bytes; at most 2895");
	free(dir);
}

static void test_values(void)
{
	int64_t v = 0;
	CHECK_EQ_INT(ids_parse_duration_ms("250ms", &v), 0);
	CHECK_EQ_INT(v, 250);
	CHECK_EQ_INT(ids_parse_duration_ms("1.5s", &v), 0);
	CHECK_EQ_INT(v, 1500);
	CHECK_EQ_INT(ids_parse_duration_ms("500", &v), 0);
	CHECK_EQ_INT(v, 500);
	CHECK(ids_parse_duration_ms("-1s", &v) != 0);
	CHECK(ids_parse_duration_ms("5min", &v) != 0);
	CHECK(ids_parse_duration_ms("", &v) != 0);
	CHECK_EQ_INT(ids_parse_size("128M", &v), 0);
	CHECK_EQ_INT(v, (int64_t)128 << 20);
	CHECK_EQ_INT(ids_parse_size("64k", &v), 0);
	CHECK_EQ_INT(v, 65536);
	CHECK_EQ_INT(ids_parse_size("1GiB", &v), 0);
	CHECK_EQ_INT(v, (int64_t)1 << 30);
	CHECK(ids_parse_size("0", &v) != 0);
	CHECK(ids_parse_size("12X", &v) != 0);
	CHECK(ids_parse_size("9223372036854775807G", &v) != 0);
}

static const char *write_tmp(const char *text)
{
	static char path[64];
	snprintf(path, sizeof path, "/tmp/idbsync-config-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0)
		return "";
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		path[0] = 0;
	close(fd);
	return path;
}

static void test_file(void)
{
	ids_error err = IDS_ERROR_INIT;
	ids_config *c = NULL;
	const char *p = write_tmp("{\n  \"a\": 1,\n  \"stores\": {\n    \"orders\": {\"x\": 2},\n    \"b\": 3\n  },\n  \"b\": \"s\"\n}\n");
	CHECK_EQ_INT(ids_config_load(&c, p, &err), 0);
	CHECK_EQ_INT(ids_config_line(c, NULL, "a"), 2);
	CHECK_EQ_INT(ids_config_line(c, NULL, "b"), 7);          /* not the nested "b" on line 5 */
	CHECK_EQ_INT(ids_config_line(c, "stores", "orders"), 4);
	CHECK_EQ_INT(ids_config_line(c, "stores", "b"), 5);
	CHECK_EQ_INT(ids_config_line(c, NULL, "nope"), 0);
	CHECK_EQ_INT(ids_config_fail(c, &err, "stores", "orders", "must be %s", "an object"), IDS_EINVAL);
	char want[128];
	snprintf(want, sizeof want, "%s:4: field \"stores.orders\": must be an object", p);
	CHECK_EQ_STR(err.msg, want);
	ids_config_free(c);
	unlink(p);

	p = write_tmp("{\"a\": 1,\n \"b\": }\n");
	CHECK_EQ_INT(ids_config_load(&c, p, &err), IDS_EINVAL);
	CHECK(c == NULL);
	snprintf(want, sizeof want, "%s:2:", p);
	CHECK_HAS(err.msg, want);
	unlink(p);
	p = write_tmp("[1, 2]");
	CHECK_EQ_INT(ids_config_load(&c, p, &err), IDS_EINVAL);
	CHECK_HAS(err.msg, "expected a JSON object of settings");
	unlink(p);
	CHECK_EQ_INT(ids_config_load(&c, "/nonexistent/idbsync.json", &err), IDS_EIO);
	CHECK_HAS(err.msg, "/nonexistent/idbsync.json: No such file");
	ids_config_free(NULL);
}

int main(void)
{
	test_path();
	test_values();
	test_file();
	return test_report("test_config");
}
