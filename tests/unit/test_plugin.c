/* Unit tests for plug-in loading (ABI refusal, names, parameters) and the
 * shipped `log` and `portscan` callouts, through a real engine. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weir/flow.h>
#include <weir/plugin.h>

#define L WEIR_LAYER_IPFORWARD_V4

static const char *plugin_dir(void)
{
	const char *d = getenv("WEIR_PLUGIN_DIR");

	return d ? d : "plugins";
}

static void params(void **state)
{
	char buf[16];

	(void)state;
	assert_int_equal(weir_param_get("a=1\nfile=/x y;b=2", "file", buf,
					sizeof(buf)), 0);
	assert_string_equal(buf, "/x y");
	assert_int_equal(weir_param_get("a=1;b=2", "b", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "2");
	assert_int_equal(weir_param_get("ab=1", "b", buf, sizeof(buf)), -ENOENT);
	assert_int_equal(weir_param_get("", "b", buf, sizeof(buf)), -ENOENT);
	assert_int_equal(weir_param_get("b=0123456789abcdefgh", "b", buf,
					sizeof(buf)), -ENOSPC);
}

static void refusals(void **state)
{
	struct weir_engine *e = weir_engine_new();
	struct weir_plugin *p = NULL;
	char err[256];

	(void)state;
	assert_int_equal(weir_plugin_load(e, getenv("WEIR_TEST_PLUGIN_DIR"),
					  "plugin_badabi", "", &p, err,
					  sizeof(err)), -ENOEXEC);
	print_message("%s\n", err);
	assert_non_null(strstr(err, "ABI 3"));
	assert_non_null(strstr(err, "ABI 2"));
	assert_int_equal(weir_plugin_load(e, plugin_dir(), "nope", "", &p, err,
					  sizeof(err)), -ENOENT);
	assert_int_equal(weir_plugin_load(e, plugin_dir(), "../log", "", &p,
					  err, sizeof(err)), -EINVAL);
	assert_null(p);
	weir_engine_free(e);
}

/* A filter at L calling `callout` for every packet. */
static void callout_filter(struct weir_engine *e, const char *callout,
			   uint8_t action)
{
	struct weir_filter_spec s = { .layer = L, .action = action };
	struct weir_txn *t = weir_txn_begin(e);

	strcpy(s.name, "test \"quoted\"");
	strcpy(s.callout, callout);
	assert_int_equal(weir_txn_add(t, &s, NULL, NULL), 0);
	assert_int_equal(weir_txn_commit(t), 0);
}

static struct weir_fields fields(const char *src, uint16_t dport)
{
	struct weir_fields f = { .family = AF_INET };

	inet_pton(AF_INET, src, f.src);
	inet_pton(AF_INET, "10.0.0.9", f.dst);
	f.num[WEIR_FIELD_IP_PROTO] = 6;
	f.num[WEIR_FIELD_DST_PORT] = dport;
	f.present = 1u << WEIR_FIELD_IP_SRC | 1u << WEIR_FIELD_IP_DST |
		    1u << WEIR_FIELD_IP_PROTO | 1u << WEIR_FIELD_DST_PORT;
	return f;
}

static void log_writes_json(void **state)
{
	struct weir_engine *e = weir_engine_new();
	char path[] = "/tmp/weir-log-XXXXXX", params_buf[64], line[512];
	struct weir_fields f = fields("192.0.2.1", 53);
	struct weir_classify_in in = { .layer = L, .fields = &f };
	struct weir_plugin *p;
	struct weir_decision d;
	char err[256];
	FILE *fp;
	int fd = mkstemp(path);

	(void)state;
	close(fd);
	snprintf(params_buf, sizeof(params_buf), "file=%s", path);
	assert_int_equal(weir_plugin_load(e, plugin_dir(), "log", params_buf,
					  &p, err, sizeof(err)), 0);
	assert_string_equal(weir_plugin_name(p), "log");
	callout_filter(e, "log", WEIR_ACTION_CALLOUT_INSPECTION);
	weir_classify(e, &in, &d);
	weir_classify(e, &in, &d);
	assert_int_equal(d.action, WEIR_ACTION_PERMIT); /* only looked */
	weir_plugin_unload(p);
	fp = fopen(path, "r");
	assert_non_null(fgets(line, sizeof(line), fp));
	assert_string_equal(line,
		"{\"layer\":\"ipforward-v4\",\"filter\":1,"
		"\"name\":\"test \\\"quoted\\\"\",\"src\":\"192.0.2.1\","
		"\"dst\":\"10.0.0.9\",\"proto\":6,\"dport\":53}\n");
	assert_non_null(fgets(line, sizeof(line), fp));
	assert_null(fgets(line, sizeof(line), fp));
	fclose(fp);
	unlink(path);
	weir_engine_free(e);
}

static uint8_t at(struct weir_engine *e, const char *src, uint16_t port,
		  uint64_t t_s)
{
	struct weir_fields f = fields(src, port);
	struct weir_pkt pkt = { .meta = { .timestamp_ns = t_s * 1000000000u } };
	struct weir_classify_in in = { .layer = L, .fields = &f, .pkt = &pkt };
	struct weir_decision d;

	weir_classify(e, &in, &d);
	return d.action;
}

static void portscan_blocks_a_scanner(void **state)
{
	struct weir_engine *e = weir_engine_new();
	struct weir_plugin *p;
	char err[256];

	(void)state;
	assert_int_equal(weir_plugin_load(e, plugin_dir(), "portscan",
					  "ports=5;window=10;block=30", &p,
					  err, sizeof(err)), 0);
	callout_filter(e, "portscan", WEIR_ACTION_CALLOUT_UNKNOWN);
	for (uint16_t port = 1; port <= 5; port++)
		assert_int_equal(at(e, "198.51.100.7", port, 100),
				 WEIR_ACTION_PERMIT);
	/* Repeats are not new ports. */
	assert_int_equal(at(e, "198.51.100.7", 5, 101), WEIR_ACTION_PERMIT);
	/* The sixth distinct port within 10 s: blocked, on any port. */
	assert_int_equal(at(e, "198.51.100.7", 6, 102), WEIR_ACTION_BLOCK);
	assert_int_equal(at(e, "198.51.100.7", 1, 103), WEIR_ACTION_BLOCK);
	/* Others are not affected. */
	assert_int_equal(at(e, "198.51.100.8", 6, 103), WEIR_ACTION_PERMIT);
	/* After the block time, allowed again. */
	assert_int_equal(at(e, "198.51.100.7", 1, 133), WEIR_ACTION_PERMIT);
	/* Slow scans (one port per 3 s over a 10 s window) pass. */
	for (uint16_t port = 100; port < 120; port++)
		assert_int_equal(at(e, "198.51.100.9", port, 200 + 3u * port),
				 WEIR_ACTION_PERMIT);
	weir_plugin_unload(p);
	/* Unloaded: its filter now blocks (callout unregistered). */
	assert_int_equal(at(e, "198.51.100.8", 1, 300), WEIR_ACTION_BLOCK);
	assert_int_equal(weir_plugin_load(e, plugin_dir(), "portscan",
					  "ports=0", &p, err, sizeof(err)),
			 -EINVAL);
	weir_engine_free(e);
}

static uint64_t flow_of(struct weir_engine *e, uint16_t sport)
{
	struct weir_flow_key k = { .family = AF_INET, .proto = 6,
				   .sport = sport, .dport = 80 };
	unsigned info;
	uint64_t id;

	k.src[0] = 192;
	k.dst[0] = 10;
	assert_int_equal(weir_flow_lookup(weir_engine_flows(e), &k, 1,
					  WEIR_FLOW_CREATE, &id, &info), 0);
	return id;
}

static void count_totals_per_flow(void **state)
{
	struct weir_engine *e = weir_engine_new();
	char path[] = "/tmp/weir-count-XXXXXX", prm[64], line[256];
	struct weir_fields f = fields("192.0.2.1", 80);
	struct weir_classify_in in = { .layer = L, .fields = &f };
	struct weir_plugin *p;
	struct weir_decision d;
	uint64_t a, b;
	char err[256];
	FILE *fp;
	int fd = mkstemp(path);

	(void)state;
	close(fd);
	snprintf(prm, sizeof(prm), "file=%s", path);
	assert_int_equal(weir_plugin_load(e, plugin_dir(), "count", prm, &p,
					  err, sizeof(err)), 0);
	callout_filter(e, "count", WEIR_ACTION_CALLOUT_INSPECTION);
	f.num[WEIR_FIELD_IP_LEN] = 100;
	f.present |= 1u << WEIR_FIELD_IP_LEN;
	a = flow_of(e, 1000);
	b = flow_of(e, 1001);
	in.flow_id = a;
	for (int i = 0; i < 3; i++)
		weir_classify(e, &in, &d);
	in.flow_id = b;
	weir_classify(e, &in, &d);
	/* The flow ends: its totals. */
	assert_int_equal(weir_flow_delete(weir_engine_flows(e), a), 0);
	/* Unloading takes the contexts the callout still holds. */
	weir_plugin_unload(p);
	fp = fopen(path, "r");
	assert_non_null(fgets(line, sizeof(line), fp));
	snprintf(prm, sizeof(prm), "{\"flow\":%llu,", (unsigned long long)a);
	assert_non_null(strstr(line, prm));
	assert_non_null(strstr(line, "\"packets\":3,\"bytes\":300}"));
	assert_non_null(fgets(line, sizeof(line), fp));
	assert_non_null(strstr(line, "\"packets\":1,\"bytes\":100}"));
	assert_null(fgets(line, sizeof(line), fp));
	fclose(fp);
	unlink(path);
	weir_engine_free(e);
}

/* The JSON helpers every log line uses: nothing a name or a reason
 * holds can end the string early or break the line. */
static void json_escaping(void **state)
{
	char buf[32];
	char *mem;
	size_t memlen;
	FILE *f;

	(void)state;
	assert_int_equal(weir_json_escape("a\"b\\c\nd", buf, sizeof(buf)),
			 14);
	assert_string_equal(buf, "a\\\"b\\\\c\\u000ad");
	assert_int_equal(weir_json_escape(NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	/* cut before an escape that does not fit whole */
	assert_int_equal(weir_json_escape("ab\"", buf, 4), 2);
	assert_string_equal(buf, "ab");
	f = open_memstream(&mem, &memlen);
	weir_json_put(f, "x\"y");
	weir_json_put(f, NULL);
	fclose(f);
	assert_string_equal(mem, "\"x\\\"y\"\"\"");
	free(mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(params),
		cmocka_unit_test(json_escaping),
		cmocka_unit_test(refusals),
		cmocka_unit_test(log_writes_json),
		cmocka_unit_test(portscan_blocks_a_scanner),
		cmocka_unit_test(count_totals_per_flow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
