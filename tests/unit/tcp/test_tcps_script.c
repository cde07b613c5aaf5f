/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_tcps_script.c - runs every script in tests/unit/tcp/cases (*.pkt) (the
 * directory comes from TCPS_CASES, set by meson) through pkt_driver, one
 * cmocka test per script. A script that turns out "not applicable" fails
 * here: our own scripts must only use what the driver supports.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pkt_driver.h"

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_script(void **state)
{
	const char *path = *state;
	char why[1024];
	enum pkt_result r = pkt_run_file(path, why, sizeof(why), getenv("TCPS_VERBOSE") != NULL);

	if (r != PKT_PASS)
		fail_msg("%s: %s", path, why);
}

int main(void)
{
	const char *dir = getenv("TCPS_CASES");
	struct CMUnitTest *tests;
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	DIR *dp;
	int rc;

	if (dir == NULL)
		dir = "cases";
	dp = opendir(dir);
	if (dp == NULL) {
		fprintf(stderr, "cannot open %s\n", dir);
		return 1;
	}
	while ((de = readdir(dp)) != NULL) {
		size_t l = strlen(de->d_name);

		if (l < 5 || strcmp(de->d_name + l - 4, ".pkt") != 0)
			continue;
		names = realloc(names, (n + 1) * sizeof(*names));
		names[n] = malloc(strlen(dir) + l + 2);
		sprintf(names[n], "%s/%s", dir, de->d_name);
		n++;
	}
	closedir(dp);
	qsort(names, n, sizeof(*names), cmp);
	tests = calloc(n + 1, sizeof(*tests));
	for (size_t i = 0; i < n; i++) {
		tests[i].name = strrchr(names[i], '/') + 1;
		tests[i].test_func = run_script;
		tests[i].initial_state = names[i];
	}
	rc = _cmocka_run_group_tests("tcp_scripts", tests, n, NULL, NULL);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(tests);
	return rc;
}
