/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pktdrill_corpus.c - runs packetdrill scripts (e.g. the 177 Linux scripts
 * in shared/corpus/smtp/packetdrill, read in place) through pkt_driver and
 * prints pass / fail / not applicable per script and in total. Not a unit
 * test: Linux-specific expectations (window sizes, PRR, TSO, RACK) are
 * reported, not enforced.
 *
 *	pktdrill_corpus [-v] [-w] FILE.pkt... (or a directory, walked)
 *	-w  ignore window/wscale values (our buffer sizes differ from Linux)
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pkt_driver.h"

static int verbose, npass, nfail, nna;

static void run(const char *path)
{
	char why[1024];
	enum pkt_result r = pkt_run_file(path, why, sizeof(why), verbose);

	if (r == PKT_PASS)
		npass++;
	else if (r == PKT_FAIL)
		nfail++;
	else
		nna++;
	printf("%-4s %s%s%s\n", r == PKT_PASS ? "PASS" : r == PKT_FAIL ? "FAIL" : "N/A", path,
	       r == PKT_PASS ? "" : "  ", why);
}

static void walk(const char *path)
{
	struct stat st;
	DIR *dp;
	struct dirent *de;

	if (stat(path, &st) < 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		size_t l = strlen(path);

		if (l > 4 && strcmp(path + l - 4, ".pkt") == 0)
			run(path);
		return;
	}
	dp = opendir(path);
	if (dp == NULL)
		return;
	while ((de = readdir(dp)) != NULL) {
		char sub[4096];

		if (de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		walk(sub);
	}
	closedir(dp);
}

int main(int argc, char **argv)
{
	setenv("TCPS_LENIENT", "1", 1);
	/* an 8 MiB receive buffer gives window scale 8, as Linux announces */
	setenv("TCPS_RCVBUF", "8388608", 0);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-v") == 0)
			verbose = 1;
		else if (strcmp(argv[i], "-w") == 0)
			setenv("TCPS_IGNORE_WIN", "1", 1);
		else
			walk(argv[i]);
	}
	printf("total: %d pass, %d fail, %d not applicable\n", npass, nfail, nna);
	return 0;
}
