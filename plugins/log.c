/* The `log` callout: one JSON line per classified packet, as an
 * inspection callout (it never decides).
 *
 * Parameters: file=PATH (appended to; default standard error).
 * Line: {"layer":"ipforward-v4","filter":12,"name":"dns","src":"10.0.0.1",
 *        "dst":"10.0.0.2","proto":17,"sport":5353,"dport":53,"len":60}
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weir/plugin.h>

struct log_state {
	FILE *out;                   /* weir_param_open() */
};

static void num_field(char *line, size_t len, const struct weir_fields *f,
		      int field, const char *key)
{
	size_t n = strlen(line);

	if (f->present & (1ull << field))
		snprintf(line + n, len - n, ",\"%s\":%llu", key,
			 (unsigned long long)f->num[field]);
}

static void log_classify(void *priv, const struct weir_classify_in *in,
			 const struct weir_filter_view *filter,
			 uint64_t flow_ctx, struct weir_callout_out *out)
{
	struct log_state *st = priv;
	const struct weir_fields *f = in->fields;
	char src[INET6_ADDRSTRLEN] = "", dst[INET6_ADDRSTRLEN] = "";
	char name[2 * WEIR_NAME_MAX], line[512];

	(void)flow_ctx;
	(void)out; /* inspection: the action stays "continue" */
	if (f->family) {
		inet_ntop(f->family, f->src, src, sizeof(src));
		inet_ntop(f->family, f->dst, dst, sizeof(dst));
	}
	weir_json_escape(filter->name, name, sizeof(name));
	snprintf(line, sizeof(line),
		 "{\"layer\":\"%s\",\"filter\":%llu,\"name\":\"%s\","
		 "\"src\":\"%s\",\"dst\":\"%s\"", weir_layer_name(in->layer),
		 (unsigned long long)filter->id, name, src, dst);
	num_field(line, sizeof(line), f, WEIR_FIELD_IP_PROTO, "proto");
	num_field(line, sizeof(line), f, WEIR_FIELD_SRC_PORT, "sport");
	num_field(line, sizeof(line), f, WEIR_FIELD_DST_PORT, "dport");
	num_field(line, sizeof(line), f, WEIR_FIELD_TCP_FLAGS, "tcp_flags");
	num_field(line, sizeof(line), f, WEIR_FIELD_ICMP_TYPE, "icmp_type");
	num_field(line, sizeof(line), f, WEIR_FIELD_IP_LEN, "len");
	strncat(line, "}\n", sizeof(line) - strlen(line) - 1);
	fputs(line, st->out); /* stdio locks the stream: lines stay whole */
	fflush(st->out);
}

static int log_init(struct weir_engine *engine, const char *params,
		    void **ret_state)
{
	struct log_state *st = calloc(1, sizeof(*st));
	struct weir_callout c = { .name = "log", .classify = log_classify,
				  .flags = WEIR_CALLOUT_HEADERS_ONLY |
					   WEIR_CALLOUT_FLOWLESS };
	int rc;

	if (!st)
		return -ENOMEM;
	rc = weir_param_open(params, "file", stderr, &st->out);
	if (rc < 0) {
		free(st);
		return rc;
	}
	c.priv = st;
	rc = weir_callout_register(engine, &c);
	if (rc < 0) {
		weir_param_close(st->out, stderr);
		free(st);
		return rc;
	}
	*ret_state = st;
	return 0;
}

static void log_fini(struct weir_engine *engine, void *state)
{
	struct log_state *st = state;

	weir_callout_unregister(engine, "log");
	weir_param_close(st->out, stderr);
	free(st);
}

const struct weir_plugin_ops *weir_plugin_entry(void);

const struct weir_plugin_ops *weir_plugin_entry(void)
{
	static const struct weir_plugin_ops ops = {
		.abi = WEIR_PLUGIN_ABI,
		.name = "log",
		.description = "one JSON line per classified packet",
		.init = log_init,
		.fini = log_fini,
	};

	return &ops;
}
