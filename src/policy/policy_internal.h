/* Internals of the policy language shared by its files: arenas, source
 * locations and errors, tokens, language fields, value sets, the
 * expression tree, its disjunctive normal form and the policy object.
 *
 *   lexer ─▶ parser ─▶ expr (tree) ─▶ dnf ─▶ compile ─▶ filter specs
 *                                     │ values: vset (intervals, strings)
 */
#ifndef WEIR_POLICY_INTERNAL_H
#define WEIR_POLICY_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <weir/filter.h>
#include <weir/policy.h>

/* ---- arena: everything a parse or a policy allocates ------------------- */

struct weir__chunk;

struct weir__arena {
	struct weir__chunk *head;
};

/* Zeroed, 16-byte aligned; NULL on ENOMEM (also for absurd sizes). */
void *weir__alloc(struct weir__arena *a, size_t size);
/* n * elem bytes, zeroed, overflow-checked. */
void *weir__calloc(struct weir__arena *a, size_t n, size_t elem);
/* A larger copy of an array (the old one stays in the arena). */
void *weir__grow(struct weir__arena *a, const void *old, size_t n_old,
		 size_t n_new, size_t elem);
char *weir__strndup(struct weir__arena *a, const char *s, size_t n);
void weir__arena_free(struct weir__arena *a);

/* ---- sources, locations, errors ---------------------------------------- */

/* A span of the source: byte offset and length, 1-based line/column. */
struct weir__loc {
	uint32_t off, len, line, col;
};

struct weir__src {
	const char *name;
	const char *text;
	size_t len;
	struct weir_policy_error *err;  /* may be NULL */
	int status;                     /* 0, or the first error's code */
};

/* Records the first error (later ones are ignored) and returns -EINVAL. */
int weir__error(struct weir__src *s, struct weir__loc loc, const char *fmt,
		...) __attribute__((format(printf, 3, 4)));
/* Records ENOMEM (at loc) and returns -ENOMEM. */
int weir__oom(struct weir__src *s, struct weir__loc loc);
/* An error without a position (file errors, engine errors). */
void weir__error_plain(struct weir_policy_error *err, const char *file,
		       const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- lexer ------------------------------------------------------------- */

enum weir__tk {
	TK_EOF = 0,
	TK_WORD,    /* [A-Za-z0-9_.:/-]+ not starting with '-' or ".." */
	TK_STRING,  /* "..." with \" \\ \n \t \r \0 \xHH escapes */
	TK_PUNCT,   /* ; , { } ( ) [ ] = == != < <= > >= ! && || & | - .. * */
	TK_ERROR,   /* msg says why; reported when the parser reaches it */
};

struct weir__tok {
	enum weir__tk kind;
	struct weir__loc loc;
	const char *p;          /* the source text, loc.len bytes */
	const uint8_t *str;     /* TK_STRING: decoded bytes */
	size_t slen;
	const char *msg;        /* TK_ERROR */
};

struct weir__lexer {
	struct weir__src *src;
	struct weir__arena *arena;      /* decoded strings */
	size_t pos;
	uint32_t line, line_off;
	struct weir__tok la[2];         /* lookahead */
	int nla;
	struct weir__loc prev;          /* the last token taken */
};

void weir__lex_init(struct weir__lexer *lx, struct weir__src *src,
		    struct weir__arena *arena);
/* The k-th token ahead (k = 0 or 1), not taken. */
const struct weir__tok *weir__peek(struct weir__lexer *lx, int k);
/* Takes the next token. */
struct weir__tok weir__next(struct weir__lexer *lx);
/* A word or punctuation spelled exactly s. */
bool weir__tok_is(const struct weir__tok *t, const char *s);
/* Takes the next token when it is s. */
bool weir__accept(struct weir__lexer *lx, const char *s);
/* Reports "expected WHAT" at the token (or the lexer's own error). */
int weir__expected(struct weir__lexer *lx, const struct weir__tok *t,
		   const char *what);
/* Takes s or reports "expected 's'"; a missing ';' is reported right
 * after the previous token. */
int weir__expect(struct weir__lexer *lx, const char *s);

/* ---- suggestions ------------------------------------------------------- */

struct weir__suggest {
	const char *word;
	size_t len;
	const char *best;
	size_t dist;
};

void weir__suggest_init(struct weir__suggest *sg, const char *word,
			size_t len);
void weir__suggest_try(struct weir__suggest *sg, const char *cand);
/* The closest candidate seen, if close enough to be a typo; else NULL. */
const char *weir__suggest_best(const struct weir__suggest *sg);

/* ---- language fields --------------------------------------------------- */

enum weir__vk {
	VK_NUM,     /* numbers with optional named values */
	VK_ADDR,    /* IPv4/IPv6 addresses and prefixes */
	VK_FLAGS,   /* bit sets: has/any/none, masks */
	VK_STR,     /* interface names */
	VK_BYTES,   /* packet/payload: numbers of `width` bytes, or strings */
};

struct weir__const {
	const char *name;
	uint64_t val;
};

struct weir__fdesc {
	const char *name;
	uint16_t field;                 /* enum weir_field */
	uint8_t kind;                   /* enum weir__vk */
	uint8_t family;                 /* 0 or the family it needs */
	uint8_t proto;                  /* implied ip.proto, 0 = none */
	uint8_t width;                  /* VK_BYTES: 1, 2 or 4 */
	uint64_t max;                   /* largest number */
	const struct weir__const *consts;  /* NULL-name terminated */
};

/* The field of that name, or NULL. */
const struct weir__fdesc *weir__field_find(const char *name, size_t len);
/* The descriptor of an engine field (for formatting), family-aware. */
const struct weir__fdesc *weir__field_of(uint16_t field, int family,
					 uint8_t width);
void weir__field_suggest(struct weir__suggest *sg);
/* A named value of the field (or of ip.proto for proto fields). */
bool weir__const_find(const struct weir__fdesc *fd, const char *name,
		      size_t len, uint64_t *ret);

/* Bare words of expressions: "tcp", "inbound", "tcp.syn", "ip6", ... */
enum weir__shk { SH_EQ, SH_HAS, SH_FAMILY, SH_TRUE, SH_FALSE };

struct weir__shorthand {
	const char *name;
	uint8_t kind;                   /* enum weir__shk */
	const char *field;              /* SH_EQ/SH_HAS */
	uint64_t val;
	uint8_t family;                 /* SH_FAMILY, or the one it needs */
};

const struct weir__shorthand *weir__shorthand_find(const char *name,
						   size_t len);
void weir__shorthand_suggest(struct weir__suggest *sg);

/* ---- value sets -------------------------------------------------------- */

struct weir__u128 {
	uint64_t hi, lo;
};

struct weir__ival {
	struct weir__u128 lo, hi;       /* inclusive */
};

/* Sorted, disjoint, non-adjacent intervals. */
struct weir__iset {
	uint32_t n;
	struct weir__ival *v;
};

/* A name or byte string; `prefix`: matches everything it starts. */
struct weir__sitem {
	uint8_t len;
	bool prefix;
	uint8_t b[WEIR_VAL_BYTES];
};

/* A finite set of items, or (neg) everything but them. */
struct weir__sset {
	bool neg;
	uint32_t n;
	struct weir__sitem *v;
};

/* The values a field may take: numbers and addresses as intervals in
 * [0, max], names and byte strings as string sets. */
struct weir__vset {
	bool str;
	struct weir__u128 max;
	struct weir__iset i;
	struct weir__sset s;
};

int weir__u128_cmp(struct weir__u128 a, struct weir__u128 b);
struct weir__u128 weir__u128_num(uint64_t v);
struct weir__u128 weir__u128_add1(struct weir__u128 a);
struct weir__u128 weir__u128_sub1(struct weir__u128 a);
/* All-ones in the low `bits` bits (0..128). */
struct weir__u128 weir__u128_ones(unsigned bits);
struct weir__u128 weir__u128_or(struct weir__u128 a, struct weir__u128 b);
struct weir__u128 weir__u128_andnot(struct weir__u128 a,
				    struct weir__u128 b);
/* Addresses (network order, 4 or 16 bytes) <-> numbers. */
struct weir__u128 weir__u128_from_addr(const uint8_t *addr, int family);
void weir__u128_to_addr(struct weir__u128 v, int family, uint8_t *addr);

/* Set algebra; results live in the arena. 0, -ENOMEM, or -EDOM when the
 * result of string sets cannot be written as a set (a pattern minus a
 * name it covers). */
int weir__vset_and(struct weir__arena *a, const struct weir__vset *x,
		   const struct weir__vset *y, struct weir__vset *ret);
int weir__vset_or(struct weir__arena *a, const struct weir__vset *x,
		  const struct weir__vset *y, struct weir__vset *ret);
int weir__vset_not(struct weir__arena *a, const struct weir__vset *x,
		   struct weir__vset *ret);
bool weir__vset_empty(const struct weir__vset *x);
bool weir__vset_full(const struct weir__vset *x);
bool weir__vset_subset(const struct weir__vset *x, const struct weir__vset *y);
bool weir__vset_equal(const struct weir__vset *x, const struct weir__vset *y);
/* One interval [lo, hi] in [0, max]. */
int weir__vset_range(struct weir__arena *a, struct weir__u128 lo,
		     struct weir__u128 hi, struct weir__u128 max,
		     struct weir__vset *ret);
/* The union of the intervals iv[0..n) (sorted in place) in [0, max]. */
int weir__vset_ivals(struct weir__arena *a, struct weir__ival *iv,
		     uint32_t n, struct weir__u128 max, struct weir__vset *ret);
/* The set of the items it[0..n) (sorted in place). */
int weir__vset_items(struct weir__arena *a, struct weir__sitem *it,
		     uint32_t n, struct weir__vset *ret);
/* Whether the number v is in an interval set. */
bool weir__iset_has(const struct weir__iset *s, struct weir__u128 v);
/* The set of x in [0, max] with pred(x): max must be below 2^16. */
int weir__vset_where(struct weir__arena *a, uint64_t max,
		     bool (*pred)(uint64_t x, uint64_t m, uint64_t v),
		     uint64_t m, uint64_t v, struct weir__vset *ret);

/* ---- expressions ------------------------------------------------------- */

/* What a condition tests: the engine field and, for packet/payload, the
 * offset and width (0: a byte string). */
struct weir__key {
	uint16_t field;
	uint8_t width;
	uint32_t offset;
};

struct weir__atom {
	struct weir__key key;
	uint8_t family;                 /* 0 or the family it needs */
	const struct weir__fdesc *fd;
	struct weir__vset set;
	struct weir__loc loc;           /* the field's name */
};

enum weir__nk { NK_TRUE, NK_FALSE, NK_FAMILY, NK_ATOM, NK_AND, NK_OR,
		NK_NOT };

struct weir__node {
	uint8_t kind;                   /* enum weir__nk */
	uint8_t family;                 /* NK_FAMILY */
	uint32_t n;                     /* NK_AND/OR/NOT children */
	struct weir__node **kids;
	struct weir__atom atom;         /* NK_ATOM */
	struct weir__loc loc;
};

/* An expression being parsed. family: the layer's, or 0 for a layer
 * name without family (both). */
struct weir__ectx {
	struct weir__lexer *lx;
	struct weir__arena *tmp;
	int family;
	int depth;
};

/* Parses an expression up to a token it does not understand. */
int weir__expr_parse(struct weir__ectx *cx, struct weir__node **ret);
/* The same tree with `not` pushed down to the atoms (negated if neg). */
int weir__expr_nnf(struct weir__ectx *cx, const struct weir__node *n,
		   bool neg, struct weir__node **ret);
/* A decimal or 0x hex number: 0, -1 (not a number), -2 (too large). */
int weir__parse_u64(const char *p, size_t n, uint64_t *ret);
/* Parses one value operand for a field (after the operator). */
int weir__value_parse(struct weir__ectx *cx, struct weir__atom *at,
		      const char *op);

/* ---- disjunctive normal form ------------------------------------------- */

/* More alternatives than this while expanding is an error. */
#define WEIR__DNF_MAX 1024
/* More filters than this from one statement is an error. */
#define WEIR__SPECS_MAX 64

struct weir__term {
	struct weir__key key;
	uint8_t family;
	struct weir__vset set;
	const struct weir__atom *atom;  /* the last atom that narrowed it */
};

/* A conjunction: terms sorted by key, one per key. */
struct weir__conj {
	uint8_t family;
	uint32_t n;
	struct weir__term *t;
};

struct weir__dnf {
	uint32_t n;
	struct weir__conj *c;
};

int weir__dnf_build(struct weir__ectx *cx, const struct weir__node *nnf,
		    struct weir__dnf *ret);

/* ---- compiling to conditions ------------------------------------------- */

struct weir__clist {
	uint32_t n;
	struct weir_cond *c;
};

/* Compiles every conjunction that applies to `layer` into a condition
 * list allocated in `out`, appended at lists[*nlists] (room for d->n
 * more). */
int weir__compile(struct weir__ectx *cx, const struct weir__dnf *d,
		  int layer, struct weir__arena *out,
		  struct weir__clist *lists, uint32_t *nlists);
/* Compiles an expression whole: parses up to a token it does not take,
 * then nnf, dnf, and compiles for each of layers[0..nlayers): *lists and
 * *list_layers (the layer of each list) are allocated in out. An
 * expression that never matches, or needs more than WEIR__SPECS_MAX
 * lists, is an error. */
int weir__expr_compile(struct weir__ectx *cx, const int *layers,
		       int nlayers, struct weir__arena *out,
		       struct weir__clist **lists, int **list_layers,
		       uint32_t *nlists);

/* ---- the policy object ------------------------------------------------- */

struct weir_policy {
	_Atomic unsigned refs;          /* weir_policy_ref(); 1 when parsed */
	struct weir__arena arena;       /* owns everything below */
	const char *file;
	struct weir_policy_sublayer *subs;
	uint32_t nsub, capsub;
	struct weir_policy_filter *flts;
	uint32_t nflt, capflt;
	struct weir_policy_plugin *plgs;
	uint32_t nplg, capplg;
	const char *plugin_dir;
	struct weir_policy_compartment comps[WEIR_POLICY_COMPARTMENTS_MAX];
	uint32_t ncomp;
	uint8_t defaults[WEIR_LAYER__COUNT];
	struct weir_policy_protocol *protos;    /* app.c */
	uint32_t nproto, capproto;
	struct weir_policy_listener *lsns;
	uint32_t nlsn, caplsn;
	struct weir_policy_datafilter *dfs;
	uint32_t ndf, capdf;
	struct weir_policy_datafilter *sfs;    /* session filters */
	uint32_t nsf, capsf;
	uint32_t *icpt;                 /* intercepted protocols: indexes
	                                 * into protos (which may move) */
	uint32_t nicpt, capicpt;
};

/* Parses src into a new policy. */
int weir__policy_parse(struct weir__src *src, struct weir_policy **ret);

/* ---- statements -------------------------------------------------------- */

/* Filter names seen so far (open addressing). */
struct weir__names {
	struct weir__name_ent *v;
	uint32_t n, cap;
};

struct weir__parser {
	struct weir__src *src;
	struct weir__lexer lx;
	struct weir__arena lexa;        /* decoded strings, names */
	struct weir__arena tmp;         /* freed after each statement */
	struct weir_policy *pol;
	struct weir__names names;
	uint32_t default_line[WEIR_LAYER__COUNT];
};

/* LAYER: one layer, or a name without -v4/-v6 for both. */
int weir__parse_layer(struct weir__parser *p, int layers[2], int *ret_n);
/* A name (word or string) of 1..max bytes without control characters
 * or '#' (when no_hash); copied into the lexer arena. */
int weir__parse_name(struct weir__parser *p, const char *what, size_t max,
		     bool no_hash, const char **ret, struct weir__loc *ret_loc);
/* { key = value; ... } as "key=value\n" text in the policy arena. */
int weir__parse_params(struct weir__parser *p, const char **ret);
/* The application tier's statements (app.c), after their keyword. */
int weir__parse_protocol(struct weir__parser *p);
int weir__parse_listen(struct weir__parser *p);
int weir__parse_datafilter(struct weir__parser *p);
int weir__parse_sessionfilter(struct weir__parser *p);
int weir__parse_intercept(struct weir__parser *p);
/* filter NAME ... { ... } and the one-line permit/block/callout forms. */
int weir__parse_filter_block(struct weir__parser *p);
int weir__parse_rule(struct weir__parser *p);
/* Adds `name` (at line) to the names seen; 1 and the earlier line if it
 * is there already. */
int weir__names_add(struct weir__parser *p, const char *name, uint32_t line,
		    uint32_t *ret_prev);

#endif /* WEIR_POLICY_INTERNAL_H */
