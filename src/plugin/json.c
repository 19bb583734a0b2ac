/* JSON string text for the log lines of plug-ins and of weir itself:
 * names, reasons and media types come from policies and from the
 * network, and must not be able to forge or break a line. */
#include <stdio.h>

#include <weir/plugin.h>

/* The escape for c ("\\\"", "\\u001f"), or NULL when c stands as is. */
static const char *escape(unsigned char c, char *tmp, size_t len)
{
	if (c == '"' || c == '\\')
		snprintf(tmp, len, "\\%c", c);
	else if (c < 0x20)
		snprintf(tmp, len, "\\u%04x", c);
	else
		return NULL;
	return tmp;
}

size_t weir_json_escape(const char *s, char *buf, size_t len)
{
	size_t n = 0;
	char tmp[8];

	if (!len)
		return 0;
	for (; s && *s; s++) {
		const char *e = escape((unsigned char)*s, tmp, sizeof(tmp));
		size_t k = 0;

		while (e && e[k])
			k++;
		if (n + (e ? k : 1) >= len)
			break;          /* cut before a whole escape */
		for (size_t i = 0; i < k; i++)
			buf[n++] = e[i];
		if (!e)
			buf[n++] = *s;
	}
	buf[n] = '\0';
	return n;
}

void weir_json_put(FILE *f, const char *s)
{
	char tmp[8];

	fputc('"', f);
	for (; s && *s; s++) {
		const char *e = escape((unsigned char)*s, tmp, sizeof(tmp));

		if (e)
			fputs(e, f);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}
