/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mxgatectl.c - command-line client of mxgate-control's REST API.
 *
 *	mxgatectl [OPTIONS] COMMAND ...      (mxgatectl --help lists them)
 *
 * Where to connect and whom to trust come, in this order, from the options
 * (--api, --token, --token-file, --cacert), the [control] section of the
 * configuration file (--config, default /etc/mxgate/mxgate.conf if it
 * exists: api_listen, state_dir, tls_cert), then the defaults
 * (https://127.0.0.1:8445, /var/lib/mxgate). The token is read from a file
 * rather than the command line by default, so it does not show in ps.
 *
 * Exit status: 0 done; 1 the control plane refused the request (4xx: bad
 * input, not found, conflict; its message is printed with the field names);
 * 2 usage error or unreadable/malformed local file; 3 the control plane
 * could not be reached, failed (5xx) or its database is down (503).
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "ctl_cli_http.h"
#include "ctl_conf.h"
#include "mxg_conf.h"
#ifdef MXG_HAVE_XPF
#include "ctl_xdp.h" /* sender filter: local xdp/block/allow commands */
#endif

#define EX_REFUSED 1
#define EX_USAGE 2
#define EX_UNAVAIL 3

static struct {
	struct cli_http h;
	bool json;                 /* print raw JSON answers */
	char api[600];
	char cacert[PATH_MAX];
	char token[512];
} g;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mxgatectl [OPTIONS] COMMAND [ARGS]\n"
		"options:\n"
		"  --config PATH       read api_listen, state_dir, tls_cert from [control]\n"
		"  --api URL           https://HOST:PORT of mxgate-control\n"
		"  --token TOKEN       API token (default: STATE_DIR/admin.token)\n"
		"  --token-file PATH   read the token from PATH\n"
		"  --cacert PATH       certificate to trust (default: STATE_DIR/tls/api.crt)\n"
		"  --json              print the API's JSON answers as they are\n"
		"commands:\n"
		"  status\n"
		"  policy list | show ID | add FILE | edit ID FILE | delete ID\n"
		"  policy export [FILE] | import FILE     (the whole configuration)\n"
		"  config export [FILE] | import FILE     (same as policy export/import)\n"
		"  list [show NAME | set NAME FILE]\n"
		"  quarantine list [--sender A] [--recipient A] [--subject S] [--area A]\n"
		"                  [--since T] [--until T] [--limit N]\n"
		"  quarantine show ID [--raw FILE] | delete ID | release ID\n"
		"  log search [--sender A] [--recipient A] [--subject S] [--message-id ID]\n"
		"             [--since T] [--until T] [--verdict V] [--limit N]\n"
		"  block add PREFIX [--reason R] [--expires SECONDS] | remove PREFIX | list\n"
		"                  [--source admin|profiler]   (control plane: every dataplane)\n"
		"  profiler        (the IP profiler's settings and counters)\n"
		"  dnsbl list | set FILE   (email reputation zones; FILE as GET prints it)\n"
		"  xdp attach|adopt|detach IFACE | list | stats | conf   (local, root)\n"
		"  block add|del PREFIX --local|--name N | list --local | gc; allow add|del\n"
		"        PREFIX | list  (local pinned XDP maps; see docs/filter.md)\n"
		"FILE may be '-' for standard input/output. Times: YYYY-MM-DD[THH:MM:SS][Z].\n"
		"exit: 0 ok, 1 refused by the control plane, 2 usage or bad file,\n"
		"      3 control plane unreachable or failing\n");
}

static char *read_all(const char *path, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "re");
	char *p = NULL, *np;
	size_t n = 0, cap = 0, r;

	if (!f)
		return NULL;
	do {
		if (cap - n < 65536) {
			cap = cap ? cap * 2 : 65536;
			np = realloc(p, cap + 1);
			if (!np) {
				free(p);
				p = NULL;
				break;
			}
			p = np;
		}
		r = fread(p + n, 1, cap - n, f);
		n += r;
	} while (r > 0);
	if (p && ferror(f)) {
		free(p);
		p = NULL;
	}
	if (f != stdin)
		fclose(f);
	if (p) {
		p[n] = '\0';
		*len = n;
	}
	return p;
}

/* Reads a JSON file and checks it parses, so a typo is reported with its
 * line and column before anything is sent. Returns the text (caller frees). */
static char *read_json_file(const char *path)
{
	size_t len;
	char *text = read_all(path, &len);
	json_error_t je;
	json_t *j;

	if (!text)
		cli_die(EX_USAGE, "%s: %s", path, strerror(errno));
	j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		cli_die(EX_USAGE, "%s: invalid JSON at line %d column %d: %s", path, je.line,
		    je.column, je.text);
	json_decref(j);
	return text;
}

/* Prints the server's error answer, field by field. */
static void print_error(long code, const char *resp)
{
	json_t *j = json_loads(resp, 0, NULL), *errs, *e;
	size_t i;

	if (!j || !json_is_string(json_object_get(j, "error"))) {
		fprintf(stderr, "mxgatectl: HTTP %ld: %s\n", code, resp);
		json_decref(j);
		return;
	}
	fprintf(stderr, "mxgatectl: %s\n", json_string_value(json_object_get(j, "error")));
	errs = json_object_get(j, "errors");
	if (json_array_size(errs) > 1)
		json_array_foreach(errs, i, e)
			fprintf(stderr, "  %s: %s\n",
				json_string_value(json_object_get(e, "field")),
				json_string_value(json_object_get(e, "message")));
	json_decref(j);
}

/* Performs the request; on success returns the parsed JSON answer (caller
 * owns); on failure prints and exits with the right status. */
static json_t *call(const char *method, const char *path, const char *body)
{
	char err[512], *resp;
	long code;
	json_t *j;

	if (cli_http_request(&g.h, method, path, body, &code, &resp, err, sizeof(err)) != 0)
		cli_die(EX_UNAVAIL, "%s", err);
	if (code < 200 || code >= 300) {
		print_error(code, resp);
		free(resp);
		if (code == 401)
			fprintf(stderr, "mxgatectl: check --token/--token-file\n");
		exit(code >= 500 || code == 0 ? EX_UNAVAIL : EX_REFUSED);
	}
	j = json_loads(resp, 0, NULL);
	free(resp);
	if (!j)
		cli_die(EX_UNAVAIL, "the control plane answered with invalid JSON");
	return j;
}

static void print_json(const json_t *j, FILE *f)
{
	json_dumpf(j, f, JSON_INDENT(2) | JSON_SORT_KEYS);
	fputc('\n', f);
}

static int need_args(int argc, int n, const char *what)
{
	if (argc < n)
		cli_die(EX_USAGE, "usage: mxgatectl %s", what);
	return 0;
}

static const char *id_arg(const char *s)
{
	if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 18)
		cli_die(EX_USAGE, "'%s' is not an id (a positive integer)", s);
	return s;
}

static int cmd_status(void)
{
	json_t *j = call("GET", "/api/v1/status", NULL), *nodes, *n;
	size_t i;

	if (g.json) {
		print_json(j, stdout);
	} else {
		printf("node:            %s\n", json_string_value(json_object_get(j, "node")));
		printf("version:         %s\n", json_string_value(json_object_get(j, "version")));
		printf("database:        %s (%s)\n",
		       json_string_value(json_object_get(j, "database")),
		       json_is_true(json_object_get(j, "db_ok")) ? "ok" : "DOWN");
		printf("policy version:  %lld\n",
		       (long long)json_integer_value(json_object_get(j, "policy_version")));
		nodes = json_object_get(j, "nodes");
		json_array_foreach(nodes, i, n)
			printf("cluster node:    %s %s policy %lld %s\n",
			       json_string_value(json_object_get(n, "name")),
			       json_string_value(json_object_get(n, "version")),
			       (long long)json_integer_value(json_object_get(n, "policy_version")),
			       json_is_true(json_object_get(n, "alive")) ? "alive" : "silent");
	}
	json_decref(j);
	return 0;
}

static int config_export(const char *file)
{
	json_t *j = call("GET", "/api/v1/config/export", NULL);
	FILE *f = !file || strcmp(file, "-") == 0 ? stdout : fopen(file, "we");

	if (!f)
		cli_die(EX_USAGE, "%s: %s", file, strerror(errno));
	print_json(j, f);
	if (f != stdout && fclose(f) != 0)
		cli_die(EX_USAGE, "%s: %s", file, strerror(errno));
	json_decref(j);
	return 0;
}

/* mxgatectl dnsbl list | set FILE: the DNSBL zones (/api/v1/dnsbl). */
static int cmd_dnsbl(int argc, char **argv)
{
	json_t *j, *z;
	char *body;
	size_t i;

	need_args(argc, 1, "dnsbl list|set FILE");
	if (strcmp(argv[0], "list") == 0) {
		j = call("GET", "/api/v1/dnsbl", NULL);
	} else if (strcmp(argv[0], "set") == 0) {
		need_args(argc, 2, "dnsbl set FILE");
		body = read_json_file(argv[1]);
		j = call("PUT", "/api/v1/dnsbl", body);
		free(body);
	} else {
		return cli_fail(EX_USAGE, "usage: mxgatectl dnsbl list|set FILE");
	}
	if (g.json || strcmp(argv[0], "list") == 0) {
		print_json(j, stdout);
	} else {
		printf("%zu zone(s):\n", json_array_size(json_object_get(j, "zones")));
		json_array_foreach(json_object_get(j, "zones"), i, z)
			printf("  %s %s %s %s%s\n", json_string_value(json_object_get(z, "name")),
			       json_string_value(json_object_get(z, "zone")),
			       json_string_value(json_object_get(z, "kind")),
			       json_string_value(json_object_get(z, "action")),
			       json_is_true(json_object_get(z, "enabled")) ? "" : " (disabled)");
	}
	json_decref(j);
	return 0;
}

static int config_import(const char *file)
{
	char *body = read_json_file(file);
	json_t *j = call("POST", "/api/v1/config/import", body);

	if (g.json)
		print_json(j, stdout);
	else
		printf("imported %lld rules and %lld lists: policy version %lld\n",
		       (long long)json_integer_value(json_object_get(j, "policies")),
		       (long long)json_integer_value(json_object_get(j, "lists")),
		       (long long)json_integer_value(json_object_get(j, "policy_version")));
	json_decref(j);
	free(body);
	return 0;
}

static int cmd_policy(int argc, char **argv)
{
	char path[128];
	json_t *j, *r;
	size_t i;

	need_args(argc, 1, "policy list|show|add|edit|delete|export|import");
	if (strcmp(argv[0], "list") == 0) {
		j = call("GET", "/api/v1/policies", NULL);
		if (g.json) {
			print_json(j, stdout);
		} else {
			printf("%6s %8s %-8s %-7s %s\n", "ID", "POSITION", "SCOPE", "ENABLED",
			       "NAME");
			json_array_foreach(j, i, r)
				printf("%6lld %8lld %-8s %-7s %s\n",
				       (long long)json_integer_value(json_object_get(r, "id")),
				       (long long)json_integer_value(json_object_get(r, "position")),
				       json_string_value(json_object_get(r, "scope")),
				       json_is_true(json_object_get(r, "enabled")) ? "yes" : "no",
				       json_string_value(json_object_get(r, "name")));
		}
		json_decref(j);
		return 0;
	}
	if (strcmp(argv[0], "show") == 0 || strcmp(argv[0], "delete") == 0) {
		need_args(argc, 2, "policy show|delete ID");
		snprintf(path, sizeof(path), "/api/v1/policies/%s", id_arg(argv[1]));
		j = call(argv[0][0] == 's' ? "GET" : "DELETE", path, NULL);
		if (argv[0][0] == 's' || g.json)
			print_json(j, stdout);
		else
			printf("deleted rule %s\n", argv[1]);
		json_decref(j);
		return 0;
	}
	if (strcmp(argv[0], "add") == 0 || strcmp(argv[0], "edit") == 0) {
		bool add = argv[0][0] == 'a';
		char *body;

		need_args(argc, add ? 2 : 3, add ? "policy add FILE" : "policy edit ID FILE");
		if (add)
			snprintf(path, sizeof(path), "/api/v1/policies");
		else
			snprintf(path, sizeof(path), "/api/v1/policies/%s", id_arg(argv[1]));
		body = read_json_file(argv[add ? 1 : 2]);
		/* "policy show" output carries read-only fields: drop them */
		j = json_loads(body, 0, NULL);
		json_object_del(j, "created_at");
		json_object_del(j, "updated_at");
		json_object_del(j, "policy_version");
		if (add)
			json_object_del(j, "id");
		free(body);
		body = json_dumps(j, JSON_COMPACT);
		json_decref(j);
		j = call(add ? "POST" : "PUT", path, body);
		free(body);
		if (g.json)
			print_json(j, stdout);
		else
			printf("%s rule %lld (policy version %lld)\n", add ? "added" : "updated",
			       (long long)json_integer_value(json_object_get(j, "id")),
			       (long long)json_integer_value(json_object_get(j, "policy_version")));
		json_decref(j);
		return 0;
	}
	if (strcmp(argv[0], "export") == 0)
		return config_export(argc > 1 ? argv[1] : NULL);
	if (strcmp(argv[0], "import") == 0) {
		need_args(argc, 2, "policy import FILE");
		return config_import(argv[1]);
	}
	return cli_fail(EX_USAGE, "policy: unknown subcommand '%s'", argv[0]);
}

static int cmd_list(int argc, char **argv)
{
	char path[160], *body;
	json_t *j, *r;
	size_t i;

	if (argc == 0) {
		j = call("GET", "/api/v1/lists", NULL);
		if (g.json) {
			print_json(j, stdout);
		} else {
			printf("%-24s %-18s %8s\n", "NAME", "KIND", "ENTRIES");
			json_array_foreach(j, i, r)
				printf("%-24s %-18s %8lld\n",
				       json_string_value(json_object_get(r, "name")),
				       json_string_value(json_object_get(r, "kind")),
				       (long long)json_integer_value(json_object_get(r, "entries")));
		}
		json_decref(j);
		return 0;
	}
	if (strcmp(argv[0], "show") == 0) {
		need_args(argc, 2, "list show NAME");
		if (strlen(argv[1]) > 64 || strpbrk(argv[1], "/?#%"))
			cli_die(EX_USAGE, "'%s' is not a list name", argv[1]);
		snprintf(path, sizeof(path), "/api/v1/lists/%s", argv[1]);
		j = call("GET", path, NULL);
		print_json(j, stdout);
		json_decref(j);
		return 0;
	}
	if (strcmp(argv[0], "set") == 0) {
		need_args(argc, 3, "list set NAME FILE");
		if (strlen(argv[1]) > 64 || strpbrk(argv[1], "/?#%"))
			cli_die(EX_USAGE, "'%s' is not a list name", argv[1]);
		snprintf(path, sizeof(path), "/api/v1/lists/%s", argv[1]);
		body = read_json_file(argv[2]);
		j = call("PUT", path, body);
		free(body);
		if (g.json)
			print_json(j, stdout);
		else
			printf("list %s: %zu entries (policy version %lld)\n", argv[1],
			       json_array_size(json_object_get(j, "entries")),
			       (long long)json_integer_value(json_object_get(j, "policy_version")));
		json_decref(j);
		return 0;
	}
	return cli_fail(EX_USAGE, "list: unknown subcommand '%s'", argv[0]);
}

/* Turns "--name value" pairs into query parameters of |url|, accepting only
 * the names in |allowed| (NULL-terminated, without "--"). Returns the index
 * of the first argument not consumed. */
static int filters(int argc, char **argv, const char *const *allowed, char *url, size_t len)
{
	int i;

	for (i = 0; i < argc; i += 2) {
		const char *name = argv[i] + 2;
		size_t k;
		char key[64];

		if (strncmp(argv[i], "--", 2) != 0)
			cli_die(EX_USAGE, "unexpected argument '%s'", argv[i]);
		if (i + 1 >= argc)
			cli_die(EX_USAGE, "%s needs a value", argv[i]);
		for (k = 0; allowed[k]; k++)
			if (strcmp(allowed[k], name) == 0)
				break;
		if (!allowed[k])
			cli_die(EX_USAGE, "unknown option %s", argv[i]);
		snprintf(key, sizeof(key), "%s", name);
		for (char *p = key; *p; p++)
			if (*p == '-')
				*p = '_';
		if (cli_http_add_param(url, len, key, argv[i + 1]) != 0)
			cli_die(EX_USAGE, "search too long");
	}
	return i;
}

/* Decodes standard base64 (no line breaks) into |out|. Returns the length
 * or -1 on a bad character. */
static int b64_decode(const char *in, size_t n, unsigned char *out)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned acc = 0, bits = 0;
	int len = 0;

	for (size_t i = 0; i < n && in[i] != '='; i++) {
		const char *p = strchr(tab, in[i]);

		if (!p || !in[i])
			return -1;
		acc = acc << 6 | (unsigned)(p - tab);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[len++] = (unsigned char)(acc >> bits);
		}
	}
	return len;
}

static int cmd_quarantine(int argc, char **argv)
{
	static const char *const qf[] = { "sender", "recipient", "subject", "area", "since",
					  "until", "limit", "offset", NULL };
	char path[4096];
	const char *raw = NULL;
	json_t *j, *r;
	size_t i;

	need_args(argc, 1, "quarantine list|show|delete|release");
	if (strcmp(argv[0], "list") == 0) {
		snprintf(path, sizeof(path), "/api/v1/quarantine");
		filters(argc - 1, argv + 1, qf, path, sizeof(path));
		j = call("GET", path, NULL);
		if (g.json) {
			print_json(j, stdout);
		} else {
			printf("%8s %-25s %-10s %-30s %s\n", "ID", "RECEIVED", "AREA", "SENDER",
			       "SUBJECT");
			json_array_foreach(j, i, r)
				printf("%8lld %-25.25s %-10s %-30s %s\n",
				       (long long)json_integer_value(json_object_get(r, "id")),
				       json_string_value(json_object_get(r, "received_at")),
				       json_string_value(json_object_get(r, "area")),
				       json_string_value(json_object_get(r, "sender")),
				       json_string_value(json_object_get(r, "subject")));
		}
		json_decref(j);
		return 0;
	}
	if (strcmp(argv[0], "show") == 0) {
		need_args(argc, 2, "quarantine show ID [--raw FILE]");
		snprintf(path, sizeof(path), "/api/v1/quarantine/%s", id_arg(argv[1]));
		if (argc == 4 && strcmp(argv[2], "--raw") == 0)
			raw = argv[3];
		else if (argc != 2)
			cli_die(EX_USAGE, "usage: mxgatectl quarantine show ID [--raw FILE]");
		j = call("GET", path, NULL);
		if (raw) {
			const char *b64 = json_string_value(json_object_get(j, "message_base64"));
			size_t n = b64 ? strlen(b64) : 0;
			unsigned char *out = malloc(n / 4 * 3 + 3);
			FILE *f = strcmp(raw, "-") == 0 ? stdout : fopen(raw, "we");
			int len;

			if (!f || !out)
				cli_die(EX_USAGE, "%s: %s", raw, strerror(errno));
			len = b64_decode(b64, n, out);
			if (len < 0 || fwrite(out, 1, (size_t)len, f) != (size_t)len)
				cli_die(EX_USAGE, "%s: write failed", raw);
			if (f != stdout)
				fclose(f);
			free(out);
		}
		json_object_del(j, "message_base64");
		print_json(j, raw && strcmp(raw, "-") == 0 ? stderr : stdout);
		json_decref(j);
		return 0;
	}
	if (strcmp(argv[0], "delete") == 0) {
		need_args(argc, 2, "quarantine delete ID");
		snprintf(path, sizeof(path), "/api/v1/quarantine/%s", id_arg(argv[1]));
		j = call("DELETE", path, NULL);
		if (g.json)
			print_json(j, stdout);
		else
			printf("deleted quarantined message %s\n", argv[1]);
		json_decref(j);
		return 0;
	}
	if (strcmp(argv[0], "release") == 0) {
		/* sent once to [control] release_smtp; 409 if released before,
		 * 502 (exit 3) with the downstream's answer if it refused */
		need_args(argc, 2, "quarantine release ID");
		if (argc != 2)
			cli_die(EX_USAGE, "usage: mxgatectl quarantine release ID");
		snprintf(path, sizeof(path), "/api/v1/quarantine/%s/release", id_arg(argv[1]));
		j = call("POST", path, "{}"); /* a body: Content-Length, no guessing */
		if (g.json)
			print_json(j, stdout);
		else
			printf("released quarantined message %s: %s\n", argv[1],
			       json_string_value(json_object_get(j, "reply")));
		json_decref(j);
		return 0;
	}
	return cli_fail(EX_USAGE, "quarantine: unknown subcommand '%s'", argv[0]);
}

static int cmd_log(int argc, char **argv)
{
	static const char *const lf[] = { "sender", "recipient", "subject", "message-id",
					  "since", "until", "verdict", "limit", "offset", NULL };
	char path[4096];
	json_t *j, *r;
	size_t i;

	need_args(argc, 1, "log search [filters]");
	if (strcmp(argv[0], "search") != 0)
		return cli_fail(EX_USAGE, "log: unknown subcommand '%s'", argv[0]);
	snprintf(path, sizeof(path), "/api/v1/logs");
	filters(argc - 1, argv + 1, lf, path, sizeof(path));
	j = call("GET", path, NULL);
	if (g.json) {
		print_json(j, stdout);
	} else {
		printf("%-25s %-28s %-28s %-10s %-10s %s\n", "TIME", "SENDER", "RECIPIENT",
		       "VERDICT", "ACTION", "SUBJECT");
		json_array_foreach(j, i, r)
			printf("%-25.25s %-28s %-28s %-10s %-10s %s\n",
			       json_string_value(json_object_get(r, "ts")),
			       json_string_value(json_object_get(r, "sender")),
			       json_string_value(json_object_get(r, "recipient")),
			       json_string_value(json_object_get(r, "verdict")),
			       json_string_value(json_object_get(r, "action")),
			       json_string_value(json_object_get(r, "subject")));
	}
	json_decref(j);
	return 0;
}

/* "198.51.100.0/24" -> "198.51.100.0%2F24" (a path segment). */
static void path_escape(const char *s, char *out, size_t len)
{
	size_t o = 0;

	for (; *s && o + 4 < len; s++) {
		if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '.' || *s == '-')
			out[o++] = *s;
		else
			o += (size_t)snprintf(out + o, len - o, "%%%02X", (unsigned char)*s);
	}
	if (*s)
		cli_die(EX_USAGE, "'%.40s...' is too long for a prefix", s);
	out[o] = '\0';
}

/* block add|remove|list against /api/v1/blocklist (the stored list that
 * every dataplane and XDP pre-filter gets). */
static int cmd_block(int argc, char **argv)
{
	const char *reason = NULL, *expires = NULL, *source = NULL, *prefix = NULL;
	char path[512], esc[300];
	json_t *j, *r, *body;
	size_t i;

	need_args(argc, 1, "block add|remove|list");
	for (int k = 1; k < argc; k++) {
		if (!strcmp(argv[k], "--control"))
			continue;
		if (!strcmp(argv[k], "--reason") || !strcmp(argv[k], "--expires") ||
		    !strcmp(argv[k], "--source")) {
			if (k + 1 >= argc)
				cli_die(EX_USAGE, "%s needs a value", argv[k]);
			if (argv[k][2] == 'r')
				reason = argv[++k];
			else if (argv[k][2] == 'e')
				expires = argv[++k];
			else
				source = argv[++k];
		} else if (!strncmp(argv[k], "--", 2)) {
			cli_die(EX_USAGE, "block %s: unknown option %s", argv[0], argv[k]);
		} else if (!prefix) {
			prefix = argv[k];
		} else {
			cli_die(EX_USAGE, "block %s: unexpected argument '%s'", argv[0], argv[k]);
		}
	}
	if (!strcmp(argv[0], "list")) {
		if (prefix || reason || expires)
			cli_die(EX_USAGE, "usage: mxgatectl block list [--source admin|profiler]");
		snprintf(path, sizeof(path), "/api/v1/blocklist");
		if (source && cli_http_add_param(path, sizeof(path), "source", source) != 0)
			cli_die(EX_USAGE, "--source too long");
		j = call("GET", path, NULL);
		if (g.json) {
			print_json(j, stdout);
		} else {
			printf("%-43s %-8s %-10s %s\n", "PREFIX", "SOURCE", "EXPIRES IN", "REASON");
			json_array_foreach(json_object_get(j, "entries"), i, r) {
				json_t *e = json_object_get(r, "expires_in");
				char left[24] = "never";

				if (json_is_integer(e))
					snprintf(left, sizeof(left), "%llds",
						 (long long)json_integer_value(e));
				printf("%-43s %-8s %-10s %s\n",
				       json_string_value(json_object_get(r, "prefix")),
				       json_string_value(json_object_get(r, "source")), left,
				       json_string_value(json_object_get(r, "reason")));
			}
		}
		json_decref(j);
		return 0;
	}
	if (!strcmp(argv[0], "add")) {
		char *text, *end;
		long long secs = 0;

		if (!prefix || source)
			cli_die(EX_USAGE, "usage: mxgatectl block add PREFIX [--reason R] "
			    "[--expires SECONDS]");
		if (expires) {
			secs = strtoll(expires, &end, 10);
			if (!*expires || *end || secs < 1)
				cli_die(EX_USAGE, "--expires: '%s' is not a number of seconds >= 1",
				    expires);
		}
		body = json_pack("{s:s}", "prefix", prefix);
		if (reason)
			json_object_set_new(body, "reason", json_string(reason));
		if (expires)
			json_object_set_new(body, "expires_in", json_integer(secs));
		text = json_dumps(body, JSON_COMPACT);
		json_decref(body);
		if (!text)
			cli_die(EX_USAGE, "out of memory");
		j = call("POST", "/api/v1/blocklist", text);
		free(text);
		if (g.json)
			print_json(j, stdout);
		else
			printf("blocked %s%s%s%s\n", json_string_value(json_object_get(j, "prefix")),
			       expires ? " for " : "", expires ? expires : "", expires ? " s" : "");
		json_decref(j);
		return 0;
	}
	if (!strcmp(argv[0], "remove") || !strcmp(argv[0], "del")) {
		if (!prefix || reason || expires || source)
			cli_die(EX_USAGE, "usage: mxgatectl block remove PREFIX");
		path_escape(prefix, esc, sizeof(esc));
		snprintf(path, sizeof(path), "/api/v1/blocklist/%s", esc);
		j = call("DELETE", path, NULL);
		if (g.json)
			print_json(j, stdout);
		else
			printf("removed %s\n", json_string_value(json_object_get(j, "deleted")));
		json_decref(j);
		return 0;
	}
	return cli_fail(EX_USAGE, "block: unknown subcommand '%s' (add, remove, list)", argv[0]);
}

/* Defaults from the configuration file's [control] section. */
static void from_config(const char *cfg, bool explicit_cfg, char *state_dir, size_t slen)
{
	struct mxg_conf *c;
	struct mxg_conf_sec *s;
	char err[512], host[256];
	const char *v;
	unsigned port;

	if (!explicit_cfg && access(cfg, R_OK) != 0)
		return;
	if (mxg_conf_load(cfg, &c, err, sizeof(err)) != 0)
		cli_die(EX_USAGE, "%s", err);
	s = mxg_conf_find(c, "control", "");
	if ((v = mxg_conf_get(s, "state_dir")))
		snprintf(state_dir, slen, "%s", v);
	if ((v = mxg_conf_get(s, "api_listen")) && !g.api[0]) {
		if (ctl_conf_split_hostport(v, 8445, host, sizeof(host), &port) != 0)
			cli_die(EX_USAGE, "%s: api_listen: bad address", cfg);
		/* a wildcard listener is reached on loopback */
		if (strcmp(host, "0.0.0.0") == 0)
			snprintf(host, sizeof(host), "127.0.0.1");
		if (strcmp(host, "::") == 0)
			snprintf(host, sizeof(host), "::1");
		snprintf(g.api, sizeof(g.api), strchr(host, ':') ? "https://[%s]:%u"
								 : "https://%s:%u", host, port);
	}
	if ((v = mxg_conf_get(s, "tls_cert")) && *v && !g.cacert[0])
		snprintf(g.cacert, sizeof(g.cacert), "%s", v);
	mxg_conf_free(c);
}

static void read_token(const char *path)
{
	size_t len;
	char *t = read_all(path, &len);

	if (!t)
		cli_die(EX_USAGE, "token file %s: %s", path, strerror(errno));
	while (len && (t[len - 1] == '\n' || t[len - 1] == '\r' || t[len - 1] == ' '))
		t[--len] = '\0';
	if (len == 0 || len >= sizeof(g.token))
		cli_die(EX_USAGE, "token file %s: no token in it", path);
	memcpy(g.token, t, len + 1);
	explicit_bzero(t, len);
	free(t);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "api", required_argument, NULL, 'a' },
		{ "token", required_argument, NULL, 't' },
		{ "token-file", required_argument, NULL, 'T' },
		{ "cacert", required_argument, NULL, 'C' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cfg = "/etc/mxgate/mxgate.conf", *token_file = NULL;
	char state_dir[PATH_MAX - 32] = "/var/lib/mxgate", tf[PATH_MAX];
	bool explicit_cfg = false;
	int o, rc;

	/* '+': stop at the command, so its own --options are left to it */
	while ((o = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (o) {
		case 'c': cfg = optarg; explicit_cfg = true; break;
		case 'a': snprintf(g.api, sizeof(g.api), "%s", optarg); break;
		case 't':
			snprintf(g.token, sizeof(g.token), "%s", optarg);
			explicit_bzero(optarg, strlen(optarg)); /* out of ps */
			break;
		case 'T': token_file = optarg; break;
		case 'C': snprintf(g.cacert, sizeof(g.cacert), "%s", optarg); break;
		case 'j': g.json = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EX_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EX_USAGE;
	}
#ifdef MXG_HAVE_XPF
	/* sender filter: pinned XDP maps, no control plane needed */
	if (ctl_xdp_cli_is_local(argc - optind, argv + optind))
		return ctl_xdp_cli_main(argc - optind, argv + optind);
#endif
	from_config(cfg, explicit_cfg, state_dir, sizeof(state_dir));
	if (!g.api[0])
		snprintf(g.api, sizeof(g.api), "https://127.0.0.1:8445");
	if (strncmp(g.api, "https://", 8) != 0)
		cli_die(EX_USAGE, "--api must be an https:// URL");
	while (strlen(g.api) > 8 && g.api[strlen(g.api) - 1] == '/')
		g.api[strlen(g.api) - 1] = '\0';
	if (!g.cacert[0])
		snprintf(g.cacert, sizeof(g.cacert), "%s/tls/api.crt", state_dir);
	if (!g.token[0]) {
		if (!token_file) {
			snprintf(tf, sizeof(tf), "%s/admin.token", state_dir);
			token_file = tf;
		}
		read_token(token_file);
	}
	g.h.base = g.api;
	g.h.token = g.token;
	g.h.cacert = g.cacert;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	argc -= optind;
	argv += optind;
	if (strcmp(argv[0], "status") == 0)
		rc = cmd_status();
	else if (strcmp(argv[0], "policy") == 0)
		rc = cmd_policy(argc - 1, argv + 1);
	else if (strcmp(argv[0], "config") == 0 && argc >= 2 && strcmp(argv[1], "export") == 0)
		rc = config_export(argc > 2 ? argv[2] : NULL);
	else if (strcmp(argv[0], "config") == 0 && argc >= 3 && strcmp(argv[1], "import") == 0)
		rc = config_import(argv[2]);
	else if (strcmp(argv[0], "list") == 0)
		rc = cmd_list(argc - 1, argv + 1);
	else if (strcmp(argv[0], "quarantine") == 0)
		rc = cmd_quarantine(argc - 1, argv + 1);
	else if (strcmp(argv[0], "log") == 0)
		rc = cmd_log(argc - 1, argv + 1);
	else if (strcmp(argv[0], "block") == 0)
		rc = cmd_block(argc - 1, argv + 1);
	else if (strcmp(argv[0], "dnsbl") == 0)
		rc = cmd_dnsbl(argc - 1, argv + 1);
	else if (strcmp(argv[0], "profiler") == 0) {
		json_t *j = call("GET", "/api/v1/profiler", NULL);

		print_json(j, stdout);
		json_decref(j);
		rc = 0;
	}
	else
		rc = cli_fail(EX_USAGE, "unknown command '%s' (mxgatectl --help)", argv[0]);
	explicit_bzero(g.token, sizeof(g.token));
	curl_global_cleanup();
	return rc;
}
