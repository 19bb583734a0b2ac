/* Lexer: words (names, numbers, addresses, layer names), strings and
 * punctuation, with line and column of each token. Errors become
 * TK_ERROR tokens, reported when the parser reaches them, so the first
 * error in the text is the one reported.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "policy/policy_internal.h"

#define STRING_MAX 4096

static const char *const punct2[] = { "==", "!=", "<=", ">=", "&&", "||",
				      ".." };
static const char punct1[] = ";,{}()[]=<>!&|-*";

void weir__lex_init(struct weir__lexer *lx, struct weir__src *src,
		    struct weir__arena *arena)
{
	memset(lx, 0, sizeof(*lx));
	lx->src = src;
	lx->arena = arena;
	lx->line = 1;
	if (src->len >= 3 && !memcmp(src->text, "\xef\xbb\xbf", 3))
		lx->pos = lx->line_off = 3; /* a UTF-8 byte order mark */
}

static int peekc(const struct weir__lexer *lx, size_t k)
{
	size_t at = lx->pos + k;

	return at < lx->src->len ? (unsigned char)lx->src->text[at] : -1;
}

static bool word_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':' ||
	       c == '/' || c == '-';
}

static void skip_space(struct weir__lexer *lx)
{
	for (;;) {
		int c = peekc(lx, 0);

		if (c == '#') {
			while (peekc(lx, 0) >= 0 && peekc(lx, 0) != '\n')
				lx->pos++;
		} else if (c == '\n') {
			lx->pos++;
			lx->line++;
			lx->line_off = (uint32_t)lx->pos;
		} else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' ||
			   c == '\v') {
			lx->pos++;
		} else {
			return;
		}
	}
}

static struct weir__tok tok_at(const struct weir__lexer *lx, enum weir__tk k,
			       size_t start, size_t len)
{
	struct weir__tok t = { .kind = k };

	t.loc.off = (uint32_t)start;
	t.loc.len = (uint32_t)len;
	t.loc.line = lx->line;
	t.loc.col = (uint32_t)(start - lx->line_off + 1);
	t.p = lx->src->text + start;
	return t;
}

static struct weir__tok tok_error(struct weir__lexer *lx, size_t start,
				  size_t len, const char *msg)
{
	struct weir__tok t = tok_at(lx, TK_ERROR, start, len ? len : 1);

	t.msg = msg;
	return t;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes one escape after the backslash at pos; returns its length or
 * 0 when it is not one. */
static size_t escape(const struct weir__lexer *lx, uint8_t *out)
{
	int c = peekc(lx, 1);
	const char *map = "n\nt\tr\r0\0\\\\\"\"";

	if (c == 'x') {
		int h = hexval(peekc(lx, 2)), l = hexval(peekc(lx, 3));

		if (h < 0 || l < 0)
			return 0;
		*out = (uint8_t)(h << 4 | l);
		return 4;
	}
	for (size_t i = 0; c > 0 && i < 12; i += 2)
		if (map[i] == c) {
			*out = (uint8_t)map[i + 1];
			return 2;
		}
	return 0;
}

static struct weir__tok lex_string(struct weir__lexer *lx)
{
	size_t start = lx->pos, n = 0, el;
	uint8_t buf[STRING_MAX];
	struct weir__tok t;
	int c;

	lx->pos++;
	while ((c = peekc(lx, 0)) != '"') {
		if (c < 0 || c == '\n')
			return tok_error(lx, start, lx->pos - start,
					 "unterminated string");
		if (c == 0)
			return tok_error(lx, lx->pos, 1,
					 "NUL byte in a string");
		if (n == STRING_MAX)
			return tok_error(lx, start, lx->pos - start,
					 "string longer than 4096 bytes");
		el = 1;
		buf[n] = (uint8_t)c;
		if (c == '\\' && !(el = escape(lx, &buf[n])))
			return tok_error(lx, lx->pos, 2, "unknown escape in "
					 "a string (use \\\" \\\\ \\n \\t \\r "
					 "\\0 or \\xHH)");
		lx->pos += el;
		n++;
	}
	lx->pos++;
	t = tok_at(lx, TK_STRING, start, lx->pos - start);
	t.str = (const uint8_t *)weir__strndup(lx->arena, (const char *)buf, n);
	t.slen = n;
	if (!t.str)
		return tok_error(lx, start, 1, "out of memory");
	return t;
}

static struct weir__tok lex_other(struct weir__lexer *lx)
{
	size_t start = lx->pos;
	int c = peekc(lx, 0);
	char *msg;

	for (size_t i = 0; i < sizeof(punct2) / sizeof(punct2[0]); i++)
		if (c == punct2[i][0] && peekc(lx, 1) == punct2[i][1]) {
			lx->pos += 2;
			return tok_at(lx, TK_PUNCT, start, 2);
		}
	if (c > 0 && strchr(punct1, c)) {
		lx->pos++;
		return tok_at(lx, TK_PUNCT, start, 1);
	}
	if (word_char(c)) {
		while (word_char(peekc(lx, 0)))
			lx->pos++;
		return tok_at(lx, TK_WORD, start, lx->pos - start);
	}
	lx->pos++;
	if (c == 0)
		return tok_error(lx, start, 1, "NUL byte in the policy");
	msg = weir__alloc(lx->arena, 32);
	if (!msg)
		return tok_error(lx, start, 1, "out of memory");
	if (c > 0x20 && c < 0x7f)
		snprintf(msg, 32, "unexpected character '%c'", c);
	else
		snprintf(msg, 32, "unexpected byte 0x%02x", c);
	return tok_error(lx, start, 1, msg);
}

static struct weir__tok lex(struct weir__lexer *lx)
{
	skip_space(lx);
	if (lx->pos >= lx->src->len)
		return tok_at(lx, TK_EOF, lx->src->len, 1);
	if (peekc(lx, 0) == '"')
		return lex_string(lx);
	return lex_other(lx);
}

const struct weir__tok *weir__peek(struct weir__lexer *lx, int k)
{
	while (lx->nla <= k)
		lx->la[lx->nla++] = lex(lx);
	return &lx->la[k];
}

struct weir__tok weir__next(struct weir__lexer *lx)
{
	struct weir__tok t = *weir__peek(lx, 0);

	lx->la[0] = lx->la[1];
	lx->nla--;
	if (t.kind != TK_EOF)
		lx->prev = t.loc;
	return t;
}

bool weir__tok_is(const struct weir__tok *t, const char *s)
{
	size_t n = strlen(s);

	return (t->kind == TK_WORD || t->kind == TK_PUNCT) &&
	       t->loc.len == n && memcmp(t->p, s, n) == 0;
}

bool weir__accept(struct weir__lexer *lx, const char *s)
{
	if (!weir__tok_is(weir__peek(lx, 0), s))
		return false;
	weir__next(lx);
	return true;
}

/* Just after the last token taken (or t when there is none). */
static struct weir__loc after_prev(const struct weir__lexer *lx,
				   const struct weir__tok *t)
{
	struct weir__loc at = lx->prev;

	if (!at.len)
		return t->loc;
	at.off += at.len;
	at.col += at.len;
	at.len = 1;
	return at;
}

int weir__expected(struct weir__lexer *lx, const struct weir__tok *t,
		   const char *what)
{
	if (t->kind == TK_ERROR)
		return weir__error(lx->src, t->loc, "%s", t->msg);
	if (t->kind == TK_EOF)
		return weir__error(lx->src, after_prev(lx, t),
				   "expected %s at the end of the file", what);
	return weir__error(lx->src, t->loc, "expected %s, found '%.*s'", what,
			   t->loc.len > 40 ? 40 : (int)t->loc.len, t->p);
}

int weir__expect(struct weir__lexer *lx, const char *s)
{
	const struct weir__tok *t = weir__peek(lx, 0);
	char what[16];

	if (weir__accept(lx, s))
		return 0;
	snprintf(what, sizeof(what), "'%s'", s);
	if (strcmp(s, ";") || t->kind == TK_ERROR || t->kind == TK_EOF ||
	    !lx->prev.len)
		return weir__expected(lx, t, what);
	return weir__error(lx->src, after_prev(lx, t), "expected ';' before "
			   "'%.*s'", t->loc.len > 40 ? 40 : (int)t->loc.len,
			   t->p);
}
