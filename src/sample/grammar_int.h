/* grammar_int.h — the compiled grammar shared by grammar_compile.c (schema -> nodes) and
 * grammar.c (the matcher). Not a public interface.
 *
 * A grammar is a graph of nodes over "symbols": bytes 0..255 plus three special tokens
 * that are single symbols (so `<|"|>` typed out of ordinary tokens never counts as a
 * delimiter). The matcher keeps a set of configurations; each is a stack of frames
 * (node + local state) linked through parent indices (see grammar.c). */
#ifndef G4_SAMPLE_GRAMMAR_INT_H
#define G4_SAMPLE_GRAMMAR_INT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sample/grammar.h"

#define GSYM_STR 256      /* <|"|>         */
#define GSYM_TC_OPEN 257  /* <|tool_call>  */
#define GSYM_TC_CLOSE 258 /* <tool_call|>  */
#define GSYM_FIRST 256
#define GSYM_COUNT 3

#define G_NONE UINT32_MAX       /* no node / empty stack */
#define G_INF (UINT32_MAX / 4u) /* unproductive (no finite completion) */
#define G_UNBOUNDED UINT32_MAX  /* REP max, string maxLength */

#define G_MAX_STACK 128   /* frames per configuration (JSON) */
#define G_MAX_STACK_GEMMA 96 /* tool calls: ~48 nesting levels, below the parser's 64 */
#define G_MAX_CONFIGS 64  /* configurations per state */
#define G_MAX_BAREKEY 64  /* bytes in a free Gemma object key */

typedef enum {
    GK_LIT,    /* a:syms offset b:length */
    GK_TRIE,   /* a:root trie node (alternative literals, each with a continuation) */
    GK_SEQ,    /* a:kids offset b:count */
    GK_ALT,    /* a:kids offset b:count (0 kids: the empty language) */
    GK_REF,    /* a:target (cycles: $ref) */
    GK_REP,    /* a:child b:separator (G_NONE) min..max items (max G_UNBOUNDED) */
    GK_STR,    /* a:string parameters */
    GK_NUM,    /* a:number parameters */
    GK_WS,     /* JSON whitespace: "" | " " | "\n" [ \t]{0,a} */
    GK_KEYSEL  /* a:first property b:count (<= 64): one of several keys, then its continuation */
} gkind;

typedef struct {
    uint8_t kind;
    uint32_t a, b;
    uint32_t min, max;
    uint32_t minlen;   /* symbols of the shortest completion (G_INF: none) */
    uint32_t mindepth; /* frames the shortest-depth completion needs */
} gnode;

/* Literal tries (enums, const, tool names, excluded keys). Children are a sibling list. */
typedef struct {
    uint32_t child, sibling;
    uint32_t cont;    /* after a terminal: continue with this node (G_NONE: pop) */
    uint32_t minrest; /* symbols to finish from here, continuation included */
    uint32_t mindep;  /* frames the shallowest completion from here needs */
    uint16_t sym;
    uint8_t term;
} gtrie;

typedef enum { GSTR_JSON, GSTR_GEMMA, GSTR_BAREKEY } gstr_mode;
#define GSTR_NO_BSLASH 1 /* JSON key of an additional property: no escapes */

typedef struct {
    uint8_t mode, flags;
    uint32_t min_len, max_len; /* code points; max G_UNBOUNDED */
    uint32_t excl;             /* trie of names the string must not equal, or G_NONE */
} gstrp;

#define GNUM_FRAC 1        /* a fraction may follow the integer part */
#define GNUM_EXP 2         /* an exponent may follow */
#define GNUM_NEED_FRAC 4   /* the fraction is required and its last digit is not 0 */
#define GNUM_RANGED 8      /* magnitudes are checked against the ranges below */

typedef struct {
    uint8_t flags;
    uint8_t max_int, max_frac, max_exp; /* digits */
    bool pos_ok, neg_ok;
    uint64_t plo, phi; /* allowed magnitudes of the integer part, non-negative numbers */
    uint64_t nlo, nhi; /* ... of negative numbers */
} gnump;

typedef struct {
    uint32_t key, key_len; /* symbols: the key literal including its terminator */
    uint32_t cont;         /* the value and what follows */
    uint32_t total;        /* key_len + minlen(cont) */
} gprop;

struct g4_grammar {
    gnode *nodes;
    uint32_t n_nodes;
    uint32_t *kids;
    uint32_t *kidsuf; /* SEQ: sum of minlen of kids[i..] */
    uint32_t n_kids;
    uint16_t *syms;
    uint32_t n_syms;
    gtrie *trie;
    uint32_t n_trie;
    gstrp *strp;
    uint32_t n_strp;
    gnump *nump;
    uint32_t n_nump;
    gprop *props;
    uint32_t n_props;
    uint32_t root;
    uint32_t max_stack; /* frames per configuration */
    bool uses_sym[GSYM_COUNT];
};

/* Whether s[0..n) contains a marker the output parser reacts to (`<|"|>`, `<turn|>` ...). */
bool g4_gram_has_marker(const char *s, size_t n);
/* The schema a local `#/...` JSON pointer names within root, or NULL. */
const g4_json *g4_gram_resolve_ref(const g4_json *root, const char *ref, size_t len);
/* Shortest text of a number node (symbols). */
uint32_t g4_gram_num_minlen(const gnump *p);

#endif
