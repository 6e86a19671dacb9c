/* Bearer-token authentication from a tokens file ("TOKEN USER" per line). Tokens are kept
 * only as SHA-256 digests and compared in constant time, so neither memory dumps nor timing
 * reveal them. */
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server_int.h"

typedef struct tok {
	unsigned char digest[SHA256_DIGEST_LENGTH];
	char *user;
	int admin;
} tok;

struct auth_table {
	int enabled;
	tok *t;
	size_t n;
};

int auth_load(auth_table **out, const char *spec, ids_error *err)
{
	auth_table *a = calloc(1, sizeof *a);
	if (!a)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	*out = a;
	if (!strcmp(spec, "none"))
		return 0;
	if (strncmp(spec, "tokens:", 7))
		return ids_fail(err, IDS_EINVAL, "--auth %s: expected none or tokens:FILE", spec);
	const char *path = spec + 7;
	FILE *f = fopen(path, "r");
	if (!f)
		return ids_fail(err, IDS_EIO, "--auth: cannot open tokens file %s", path);
	a->enabled = 1;
	char line[1024];
	int lineno = 0, rc = 0;
	while (fgets(line, sizeof line, f)) {
		lineno++;
		char *p = line + strspn(line, " \t");
		if (*p == '#' || *p == '\n' || !*p)
			continue;
		char *token = strtok(p, " \t\r\n");
		char *user = strtok(NULL, " \t\r\n");
		char *role = user ? strtok(NULL, " \t\r\n") : NULL;
		if (!token || !user || (role && strcmp(role, "admin")) || strtok(NULL, " \t\r\n") ||
		    !ids_id_valid(user, strlen(user))) {
			rc = ids_fail(err, IDS_EINVAL,
				      "%s:%d: expected \"TOKEN USER [admin]\" (user: printable, no spaces)", path, lineno);
			break;
		}
		tok *nt = realloc(a->t, (a->n + 1) * sizeof *nt);
		if (!nt) {
			rc = ids_fail(err, IDS_ENOMEM, "out of memory");
			break;
		}
		a->t = nt;
		SHA256((const unsigned char *)token, strlen(token), a->t[a->n].digest);
		a->t[a->n].user = strdup(user);
		a->t[a->n].admin = role != NULL;
		a->n++;
	}
	fclose(f);
	if (!rc && a->n == 0)
		rc = ids_fail(err, IDS_EINVAL, "%s: no tokens", path);
	return rc;
}

int auth_check(auth_table *a, const char *token, const char **user, int *admin)
{
	unsigned char d[SHA256_DIGEST_LENGTH];
	SHA256((const unsigned char *)token, strlen(token), d);
	const tok *found = NULL;
	for (size_t i = 0; i < a->n; i++)
		if (!CRYPTO_memcmp(d, a->t[i].digest, sizeof d))
			found = &a->t[i];
	if (!found)
		return IDS_EFORBIDDEN;
	*user = found->user;
	*admin = found->admin;
	return 0;
}

int auth_enabled(const auth_table *a) { return a && a->enabled; }

void auth_free(auth_table *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n; i++)
		free(a->t[i].user);
	free(a->t);
	free(a);
}
