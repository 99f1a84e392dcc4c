/* Architecture spec parser and the shipped specs: see arch.h and
 * docs/formats/arch-spec.md. */
#include "nn/arch.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nn/train.h"
#include "util/io.h"

/* fish-s: ~24k parameters, ~0.8 M MACs per 32x32x1 frame. A stride-2 stem
 * keeps the largest activation at 16x16x32 floats. */
static const char fish_s_text[] =
    "name fish-s\n"
    "input 32x32x1\n"
    "stem k3 s2 c16 relu6\n"
    "mbconv k3 e1 c8 s1\n"
    "mbconv k3 e4 c16 s2\n"
    "mbconv k3 e4 c16 s1 skip\n"
    "mbconv k5 e4 c24 s2\n"
    "mbconv k3 e4 c24 s1 skip\n"
    "mbconv k3 e4 c32 s1\n"
    "head c80 relu6\n"
    "gap\n"
    "dropout 0.1\n"
    "fc\n";

/* fish-m: a wider, deeper member of the same family. */
static const char fish_m_text[] =
    "name fish-m\n"
    "input 32x32x1\n"
    "stem k3 s2 c24 relu6\n"
    "mbconv k3 e1 c16 s1\n"
    "mbconv k3 e6 c24 s2\n"
    "mbconv k3 e6 c24 s1 skip\n"
    "mbconv k5 e6 c40 s2\n"
    "mbconv k5 e6 c40 s1 skip\n"
    "mbconv k3 e6 c64 s1\n"
    "mbconv k3 e6 c64 s1 skip\n"
    "head c192 relu6\n"
    "gap\n"
    "dropout 0.2\n"
    "fc\n";

/* fish-nas: what `reef search` derived on DeepFish under 64 KB flash, 32 KB
 * RAM and 15 ms at 120 MHz (archs/fish-nas.arch has the command and the
 * measured figures). A 2x2 average pool first: it works at 16x16. */
static const char fish_nas_text[] =
    "name fish-nas\n"
    "input 32x32x1\n"
    "avgpool k2 s2\n"
    "stem k3 s2 c12 relu6\n"
    "mbconv k7 e6 c20 s2 noskip\n"
    "mbconv k3 e3 c20 s1 skip\n"
    "mbconv k7 e3 c24 s2 noskip\n"
    "mbconv k3 e3 c24 s1 skip\n"
    "head k1 c72 relu6\n"
    "gap\n"
    "dropout 0.1\n"
    "fc\n"
    "recipe epochs 60\n";

const char *reef_arch_builtin_text(const char *name)
{
    if (!strcmp(name, "fish-s")) return fish_s_text;
    if (!strcmp(name, "fish-m")) return fish_m_text;
    if (!strcmp(name, "fish-nas")) return fish_nas_text;
    return NULL;
}

static const char *kind_names[] = {"stem", "conv", "dwconv", "mbconv", "head",
                                   "avgpool", "maxpool", "gap", "dropout", "fc"};

const char *reef_block_kind_name(reef_block_kind k) { return kind_names[k]; }

/* ---- tokens ----------------------------------------------------------------- */

typedef struct token {
    const char *s;   /* start in the text */
    int len;
    int line, col;   /* 1-based */
    const char *line_start;
} token;

typedef struct parser {
    const char *source;
    reef_error *err;
} parser;

/* "SOURCE:LINE:COL: message" + the line + a caret under the token. */
static int token_error(parser *p, const token *t, const char *fmt, const char *arg)
{
    char what[256];
    snprintf(what, sizeof what, fmt, arg);
    int line_len = (int)strcspn(t->line_start, "\n");
    if (line_len > 200) line_len = 200;
    char caret[256];
    int at = t->col - 1 < 200 ? t->col - 1 : 200;
    memset(caret, ' ', at);
    int marks = t->len > 0 && t->len < 40 ? t->len : 1;
    memset(caret + at, '^', marks);
    caret[at + marks] = 0;
    return reef_fail(p->err, "%s:%d:%d: %s\n  %.*s\n  %s", p->source, t->line, t->col, what,
                     line_len, t->line_start, caret);
}

static int token_is(const token *t, const char *word)
{
    return (int)strlen(word) == t->len && !strncmp(t->s, word, t->len);
}

/* Parses a whole-token integer starting at offset `from` of t. */
static int token_int(const token *t, int from, int *out)
{
    if (t->len <= from) return -1;
    int v = 0;
    for (int i = from; i < t->len; i++) {
        if (!isdigit((unsigned char)t->s[i]) || v > 100000) return -1;
        v = v * 10 + (t->s[i] - '0');
    }
    *out = v;
    return 0;
}

/* ---- statements ------------------------------------------------------------- */

static int kind_of(const token *t, reef_block_kind *k)
{
    for (int i = 0; i < (int)(sizeof kind_names / sizeof *kind_names); i++)
        if (token_is(t, kind_names[i])) {
            *k = (reef_block_kind)i;
            return 0;
        }
    return -1;
}

/* Fills defaults for a block of kind k. */
static void block_defaults(reef_block_spec *b, reef_block_kind k, int line)
{
    memset(b, 0, sizeof *b);
    b->kind = k;
    b->line = line;
    b->kernel = k == REEF_BLOCK_HEAD || k == REEF_BLOCK_FC ? 1 : (k == REEF_BLOCK_AVGPOOL || k == REEF_BLOCK_MAXPOOL) ? 2 : 3;
    b->stride = k == REEF_BLOCK_STEM ? 2 : 0; /* 0: pools default to k, others to 1 */
    b->expand = 6;
    b->skip = -1;
    b->act = k == REEF_BLOCK_FC ? REEF_NN_ACT_NONE : REEF_NN_ACT_RELU6;
}

/* Which attributes each kind takes. */
static int takes(reef_block_kind k, char attr)
{
    switch (attr) {
    case 'k': return k != REEF_BLOCK_GAP && k != REEF_BLOCK_DROPOUT && k != REEF_BLOCK_FC;
    case 's': return k != REEF_BLOCK_GAP && k != REEF_BLOCK_DROPOUT && k != REEF_BLOCK_FC && k != REEF_BLOCK_HEAD;
    case 'c': return k == REEF_BLOCK_STEM || k == REEF_BLOCK_CONV || k == REEF_BLOCK_MBCONV ||
                     k == REEF_BLOCK_HEAD || k == REEF_BLOCK_FC;
    case 'e': return k == REEF_BLOCK_MBCONV;
    case 'a': return k != REEF_BLOCK_GAP && k != REEF_BLOCK_DROPOUT && k != REEF_BLOCK_AVGPOOL &&
                     k != REEF_BLOCK_MAXPOOL;
    }
    return 0;
}

/* Which attribute a (valid) token sets: 'k', 's', 'c', 'e', 'a' for an
 * activation, 'x' for skip/noskip, 'p' for dropout's probability. */
static char attr_class(const token *t)
{
    if (token_is(t, "skip") || token_is(t, "noskip")) return 'x';
    if (token_is(t, "relu6") || token_is(t, "relu") || token_is(t, "linear") || token_is(t, "none")) return 'a';
    return strchr("ksce", t->s[0]) ? t->s[0] : 'p';
}

static int parse_attr(parser *p, reef_block_spec *b, const token *t)
{
    const char *kn = kind_names[b->kind];
    if (b->kind == REEF_BLOCK_DROPOUT) {
        char buf[32], *end;
        snprintf(buf, sizeof buf, "%.*s", t->len, t->s);
        double v = strtod(buf, &end);
        if (*end || end == buf || !(v >= 0 && v < 1))
            return token_error(p, t, "dropout wants a probability in [0, 1), not '%s'", buf);
        b->dropout = (float)v;
        return 0;
    }
    if (token_is(t, "skip") || token_is(t, "noskip")) {
        if (b->kind != REEF_BLOCK_MBCONV) return token_error(p, t, "'skip'/'noskip' only apply to mbconv, not %s", kn);
        b->skip = token_is(t, "skip");
        b->skip_given = 1;
        return 0;
    }
    reef_nn_act act;
    int is_act = 1;
    if (token_is(t, "relu6")) act = REEF_NN_ACT_RELU6;
    else if (token_is(t, "relu")) act = REEF_NN_ACT_RELU;
    else if (token_is(t, "linear") || token_is(t, "none")) act = REEF_NN_ACT_NONE;
    else is_act = 0;
    if (is_act) {
        if (!takes(b->kind, 'a')) return token_error(p, t, "%s takes no activation", kn);
        b->act = act;
        return 0;
    }
    char a = t->s[0];
    int v;
    if (!strchr("ksce", a) || !takes(b->kind, a)) {
        char word[64];
        snprintf(word, sizeof word, "%.*s", t->len < 40 ? t->len : 40, t->s);
        char msg[160];
        snprintf(msg, sizeof msg, "unknown attribute '%s' for %s", word, kn);
        return token_error(p, t, "%s", msg);
    }
    const char attr_name[2] = {a, 0};
    if (token_int(t, 1, &v)) return token_error(p, t, "expected a whole number after '%s'", attr_name);
    static const int lo[] = {['k' - 'a'] = 1, ['s' - 'a'] = 1, ['c' - 'a'] = 1, ['e' - 'a'] = 1};
    static const int hi[] = {['k' - 'a'] = 15, ['s' - 'a'] = 4, ['c' - 'a'] = 4096, ['e' - 'a'] = 16};
    /* a pool's stride defaults to its kernel, so it may be as large */
    const int pool = b->kind == REEF_BLOCK_AVGPOOL || b->kind == REEF_BLOCK_MAXPOOL;
    const int top = a == 's' && pool ? hi['k' - 'a'] : hi[a - 'a'];
    if (v < lo[a - 'a'] || v > top) {
        char msg[96];
        snprintf(msg, sizeof msg, "'%c' must be from %d to %d", a, lo[a - 'a'], top);
        return token_error(p, t, "%s", msg);
    }
    if (a == 'k') b->kernel = v;
    else if (a == 's') b->stride = v;
    else if (a == 'c') b->out_c = v;
    else b->expand = v;
    return 0;
}

static int parse_input(parser *p, reef_arch *a, const token *t)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%.*s", t->len < 60 ? t->len : 60, t->s);
    int h, w, c, used = 0;
    if (sscanf(buf, "%dx%dx%d%n", &h, &w, &c, &used) != 3 || used != t->len || h < 1 || w < 1 ||
        c < 1 || h > 4096 || w > 4096 || c > 16)
        return token_error(p, t, "input wants HxWxC (e.g. 32x32x1), not '%s'", buf);
    a->in_h = h, a->in_w = w, a->in_c = c;
    return 0;
}

/* recipe KEY VALUE: checked now against the training settings. */
static int parse_recipe(parser *p, reef_arch *a, const token *tok, int ntok)
{
    if (ntok != 3)
        return token_error(p, &tok[ntok > 3 ? 3 : 0], "recipe wants a setting and one value, e.g. '%s'",
                           "recipe epochs 60");
    if (a->nrecipe == REEF_ARCH_MAX_RECIPE) return token_error(p, &tok[0], "too many recipe lines (at most %s)", "16");
    reef_recipe_line *r = &a->recipe[a->nrecipe];
    if (tok[1].len >= (int)sizeof r->key) return token_error(p, &tok[1], "unknown recipe setting%s", "");
    if (tok[2].len >= (int)sizeof r->value) return token_error(p, &tok[2], "recipe value too long%s", "");
    snprintf(r->key, sizeof r->key, "%.*s", tok[1].len, tok[1].s);
    snprintf(r->value, sizeof r->value, "%.*s", tok[2].len, tok[2].s);
    r->line = tok[0].line;
    reef_train_cfg scratch;
    reef_train_cfg_default(&scratch);
    char why[256];
    int rc = reef_train_cfg_set(&scratch, r->key, r->value, why, sizeof why);
    if (rc) return token_error(p, &tok[rc == 1 ? 1 : 2], "%s", why);
    a->nrecipe++;
    return 0;
}

/* One statement: tokens[0] is its keyword. */
static int parse_statement(parser *p, reef_arch *a, token *tok, int ntok)
{
    if (token_is(&tok[0], "recipe")) return parse_recipe(p, a, tok, ntok);
    if (token_is(&tok[0], "name") || token_is(&tok[0], "input")) {
        if (ntok != 2) return token_error(p, &tok[ntok > 2 ? 2 : 0], "%s takes exactly one value", token_is(&tok[0], "name") ? "name" : "input");
        if (token_is(&tok[0], "input")) return parse_input(p, a, &tok[1]);
        snprintf(a->name, sizeof a->name, "%.*s", tok[1].len, tok[1].s);
        return 0;
    }
    reef_block_kind k;
    if (kind_of(&tok[0], &k)) {
        char word[48];
        snprintf(word, sizeof word, "%.*s", tok[0].len < 40 ? tok[0].len : 40, tok[0].s);
        return token_error(p, &tok[0], "unknown statement '%s' (expected name, input, stem, conv, dwconv, mbconv, head, avgpool, maxpool, gap, dropout, fc or recipe)", word);
    }
    if (a->nblocks == REEF_ARCH_MAX_BLOCKS) return token_error(p, &tok[0], "too many blocks (at most %s)", "64");
    reef_block_spec *b = &a->blocks[a->nblocks];
    block_defaults(b, k, tok[0].line);
    if (k == REEF_BLOCK_DROPOUT && ntok != 2) return token_error(p, &tok[0], "%s wants one probability, e.g. 'dropout 0.1'", "dropout");
    const token *given[128] = {0}; /* the token that set each attribute class */
    for (int i = 1; i < ntok; i++) {
        if (parse_attr(p, b, &tok[i])) return -1;
        unsigned char cls = (unsigned char)attr_class(&tok[i]);
        if (given[cls]) {
            char word[48];
            snprintf(word, sizeof word, "%.*s", given[cls]->len < 40 ? given[cls]->len : 40, given[cls]->s);
            return token_error(p, &tok[i], "given twice (already '%s' in this statement)", word);
        }
        given[cls] = &tok[i];
    }
    int needs_c = k == REEF_BLOCK_STEM || k == REEF_BLOCK_CONV || k == REEF_BLOCK_MBCONV || k == REEF_BLOCK_HEAD;
    if (needs_c && b->out_c == 0) return token_error(p, &tok[0], "%s needs an output channel count (e.g. c16)", kind_names[k]);
    if (b->stride == 0) b->stride = (k == REEF_BLOCK_AVGPOOL || k == REEF_BLOCK_MAXPOOL) ? b->kernel : 1;
    a->nblocks++;
    return 0;
}

int reef_arch_parse(const char *text, const char *source, reef_arch *a, reef_error *err)
{
    memset(a, 0, sizeof *a);
    parser p = {source, err};
    enum { MAX_TOK = 32 };
    token tok[MAX_TOK];
    int ntok = 0, line = 1;
    const char *line_start = text;
    for (const char *s = text;; s++) {
        char ch = *s;
        if (ch == 0 || ch == '\n' || ch == ';') {
            if (ntok && parse_statement(&p, a, tok, ntok)) return -1;
            ntok = 0;
            if (ch == 0) break;
            if (ch == '\n') line++, line_start = s + 1;
            continue;
        }
        if (ch == '#') {
            while (s[1] && s[1] != '\n') s++;
            continue;
        }
        if (isspace((unsigned char)ch)) continue;
        token t = {s, 0, line, (int)(s - line_start) + 1, line_start};
        while (s[t.len] && !isspace((unsigned char)s[t.len]) && s[t.len] != ';' && s[t.len] != '#') t.len++;
        if (ntok == MAX_TOK) return token_error(&p, &t, "too many words in one statement%s", "");
        tok[ntok++] = t;
        s += t.len - 1;
    }
    if (a->nblocks == 0) return reef_fail(err, "%s: the spec has no layers", source);
    if (a->blocks[a->nblocks - 1].kind != REEF_BLOCK_FC)
        return reef_fail(err, "%s:%d: the last layer must be the fc classifier", source, a->blocks[a->nblocks - 1].line);
    if (!a->name[0]) snprintf(a->name, sizeof a->name, "custom");
    return 0;
}

int reef_arch_resolve(const char *arg, reef_arch *a, reef_error *err)
{
    const char *builtin = reef_arch_builtin_text(arg);
    if (builtin) return reef_arch_parse(builtin, arg, a, err);
    struct stat st;
    if (!strchr(arg, '\n') && !strchr(arg, ';') && stat(arg, &st) == 0) {
        uint8_t *data;
        size_t size;
        if (reef_read_file(arg, &data, &size, err)) return -1;
        char *text = malloc(size + 1);
        if (!text) {
            free(data);
            return reef_fail(err, "%s: out of memory", arg);
        }
        memcpy(text, data, size);
        text[size] = 0;
        free(data);
        if (strlen(text) != size) {
            free(text);
            return reef_fail(err, "%s: not a text file (contains a NUL byte)", arg);
        }
        int rc = reef_arch_parse(text, arg, a, err);
        free(text);
        return rc;
    }
    if (!strchr(arg, ' ') && !strchr(arg, ';'))
        return reef_fail(err, "--arch '%s' is neither a built-in architecture (fish-s, fish-m, fish-nas), a file, nor a spec", arg);
    return reef_arch_parse(arg, "--arch", a, err);
}

static const char *act_name(reef_nn_act act)
{
    return act == REEF_NN_ACT_RELU6 ? "relu6" : act == REEF_NN_ACT_RELU ? "relu" : "linear";
}

int reef_arch_format(const reef_arch *a, char *buf, size_t size)
{
    size_t n = 0;
#define OUT(...) n += (size_t)snprintf(buf + (n < size ? n : size), n < size ? size - n : 0, __VA_ARGS__)
    if (size) buf[0] = 0;
    OUT("name %s\n", a->name);
    if (a->in_h) OUT("input %dx%dx%d\n", a->in_h, a->in_w, a->in_c);
    for (int i = 0; i < a->nblocks; i++) {
        const reef_block_spec *b = &a->blocks[i];
        OUT("%s", kind_names[b->kind]);
        switch (b->kind) {
        case REEF_BLOCK_STEM:
        case REEF_BLOCK_CONV: OUT(" k%d s%d c%d %s", b->kernel, b->stride, b->out_c, act_name(b->act)); break;
        case REEF_BLOCK_DWCONV: OUT(" k%d s%d %s", b->kernel, b->stride, act_name(b->act)); break;
        case REEF_BLOCK_MBCONV:
            OUT(" k%d e%d c%d s%d", b->kernel, b->expand, b->out_c, b->stride);
            if (b->skip >= 0) OUT(" %s", b->skip ? "skip" : "noskip");
            if (b->act != REEF_NN_ACT_RELU6) OUT(" %s", act_name(b->act));
            break;
        case REEF_BLOCK_HEAD: OUT(" k%d c%d %s", b->kernel, b->out_c, act_name(b->act)); break;
        case REEF_BLOCK_AVGPOOL:
        case REEF_BLOCK_MAXPOOL: OUT(" k%d s%d", b->kernel, b->stride); break;
        case REEF_BLOCK_GAP: break;
        case REEF_BLOCK_DROPOUT: OUT(" %g", (double)b->dropout); break;
        case REEF_BLOCK_FC:
            if (b->out_c) OUT(" c%d", b->out_c);
            if (b->act != REEF_NN_ACT_NONE) OUT(" %s", act_name(b->act));
            break;
        }
        OUT("\n");
    }
#undef OUT
    return (int)n;
}
