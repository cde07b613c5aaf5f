/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mxgate-status - prints the dataplane's counters from DPDK telemetry.
 *
 *   mxgate-status [--file-prefix PREFIX] [--json]
 *
 * Connects to /var/run/dpdk/PREFIX/dpdk_telemetry.v2 (the same socket
 * dpdk-telemetry.py uses), asks /mxgate/ports, /mxgate/stats,
 * /mxgate/workers and /mxgate/tcp, and prints a table, or the raw JSON with --json.
 * Exit codes: 0, 1 if the dataplane cannot be reached, 2 on usage errors.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#define REPLY_MAX (64 * 1024)

static json_t *ask(int fd, const char *cmd)
{
	static char buf[REPLY_MAX];
	json_error_t jerr;
	json_t *root, *v;
	ssize_t n;

	if (write(fd, cmd, strlen(cmd)) < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	root = json_loads(buf, 0, &jerr);
	if (!root)
		return NULL;
	v = json_object_get(root, cmd);
	json_incref(v);
	json_decref(root);
	return v;
}

static void print_port(const char *name, json_t *info, json_t *st)
{
	json_t *drop = json_object_get(st, "drop"), *v;
	const char *k;

	printf("port %s  %s  mac %s", name, json_string_value(json_object_get(info, "pmd")),
	       json_string_value(json_object_get(info, "mac")));
	if ((v = json_object_get(info, "ipv4")))
		printf("  %s", json_string_value(v));
	if ((v = json_object_get(info, "ipv6")))
		printf("  %s", json_string_value(v));
	printf("\n");
	json_object_foreach(st, k, v) {
		if (json_is_integer(v))
			printf("  %-16s %" JSON_INTEGER_FORMAT "\n", k, json_integer_value(v));
	}
	json_object_foreach(drop, k, v) {
		if (json_integer_value(v))
			printf("  drop %-11s %" JSON_INTEGER_FORMAT "\n", k, json_integer_value(v));
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"file-prefix", required_argument, NULL, 'p'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *prefix = "mxgate";
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	json_t *ports, *stats, *workers, *tcp, *ctl, *v;
	char hello[1024];
	const char *k;
	bool raw = false;
	int fd, opt;

	while ((opt = getopt_long(argc, argv, "p:jh", opts, NULL)) != -1) {
		switch (opt) {
		case 'p': prefix = optarg; break;
		case 'j': raw = true; break;
		case 'h':
			printf("usage: mxgate-status [--file-prefix PREFIX] [--json]\n");
			return 0;
		default: return 2;
		}
	}
	snprintf(sun.sun_path, sizeof(sun.sun_path), "/var/run/dpdk/%s/dpdk_telemetry.v2", prefix);
	fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    read(fd, hello, sizeof(hello)) <= 0) {
		fprintf(stderr, "mxgate-status: %s: %s (is mxgate-dataplane running with "
				"file_prefix %s?)\n", sun.sun_path, strerror(errno), prefix);
		return 1;
	}
	ports = ask(fd, "/mxgate/ports");
	stats = ask(fd, "/mxgate/stats");
	workers = ask(fd, "/mxgate/workers");
	tcp = ask(fd, "/mxgate/tcp");
	ctl = ask(fd, "/mxgate/control"); /* NULL from a dataplane without it */
	close(fd);
	if (!ports || !stats || !workers || !tcp) {
		fprintf(stderr, "mxgate-status: unexpected reply from the dataplane\n");
		return 1;
	}
	if (raw) {
		json_t *all = json_pack("{sOsOsOsOsO*}", "ports", ports, "stats", stats, "workers",
					workers, "tcp", tcp, "control", ctl);

		json_dumpf(all, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		printf("\n");
		json_decref(all);
	} else {
		json_object_foreach(ports, k, v)
			print_port(k, v, json_object_get(stats, k));
		json_object_foreach(workers, k, v) {
			printf("worker %s  lcore %" JSON_INTEGER_FORMAT "  polls %" JSON_INTEGER_FORMAT
			       "  busy %" JSON_INTEGER_FORMAT "  sleeps %" JSON_INTEGER_FORMAT
			       "  tx_dropped %" JSON_INTEGER_FORMAT "\n", k,
			       json_integer_value(json_object_get(v, "lcore")),
			       json_integer_value(json_object_get(v, "polls")),
			       json_integer_value(json_object_get(v, "busy_polls")),
			       json_integer_value(json_object_get(v, "idle_sleeps")),
			       json_integer_value(json_object_get(v, "tx_dropped")));
		}
	}
	if (!raw) {
		printf("tcp");
		json_object_foreach(tcp, k, v)
			if (json_integer_value(v))
				printf("  %s %" JSON_INTEGER_FORMAT, k, json_integer_value(v));
		printf("\n");
		if (ctl && json_integer_value(json_object_get(ctl, "enabled"))) {
			printf("control  %s  policy version %" JSON_INTEGER_FORMAT,
			       json_integer_value(json_object_get(ctl, "connected")) ? "connected"
										 : "DISCONNECTED",
			       json_integer_value(json_object_get(ctl, "policy_version")));
			json_object_foreach(ctl, k, v)
				if (json_is_integer(v) && json_integer_value(v) && strcmp(k, "enabled") &&
				    strcmp(k, "connected") && strcmp(k, "policy_version"))
					printf("  %s %" JSON_INTEGER_FORMAT, k, json_integer_value(v));
			printf("\n");
		} else if (ctl) {
			printf("control  none (built-in policy)\n");
		}
	}
	json_decref(ctl);
	json_decref(tcp);
	json_decref(ports);
	json_decref(stats);
	json_decref(workers);
	return 0;
}
