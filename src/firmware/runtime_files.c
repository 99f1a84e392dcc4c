/* Which runtime/src files a firmware build compiles: a file-level closure
 * over the names C sources use and define, read without preprocessing
 * (runtime_files.h says what counts and why the result is safe). */
#include "firmware/runtime_files.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/io.h"

/* ---- a set of names, kept in insertion order too ---- */
typedef struct name_set {
    char **slot;  /* open addressing, cap slots (a power of two) */
    char **items; /* the same names in the order they were added */
    size_t cap, n;
} name_set;

static uint64_t hash_name(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static char **set_find(const name_set *s, const char *name, size_t len)
{
    size_t i = (size_t)hash_name(name, len) & (s->cap - 1);
    while (s->slot[i] && !(strlen(s->slot[i]) == len && !memcmp(s->slot[i], name, len))) i = (i + 1) & (s->cap - 1);
    return &s->slot[i];
}

static int set_has(const name_set *s, const char *name, size_t len) { return s->cap && *set_find(s, name, len); }

static int set_grow(name_set *s)
{
    size_t cap = s->cap ? s->cap * 2 : 64;
    char **slot = calloc(cap, sizeof *slot), **items = realloc(s->items, cap * sizeof *items);
    if (!slot || !items) {
        free(slot);
        if (items) s->items = items;
        return -1;
    }
    free(s->slot);
    s->slot = slot;
    s->items = items;
    s->cap = cap;
    for (size_t k = 0; k < s->n; k++) *set_find(s, s->items[k], strlen(s->items[k])) = s->items[k];
    return 0;
}

/* 0 when added or already there, -1 when out of memory. */
static int set_add(name_set *s, const char *name, size_t len)
{
    if (set_has(s, name, len)) return 0;
    if ((s->n + 1) * 2 > s->cap && set_grow(s)) return -1;
    char *copy = malloc(len + 1);
    if (!copy) return -1;
    memcpy(copy, name, len);
    copy[len] = 0;
    *set_find(s, name, len) = copy;
    s->items[s->n++] = copy;
    return 0;
}

static void set_free(name_set *s)
{
    for (size_t k = 0; k < s->n; k++) free(s->items[k]);
    free(s->slot);
    free(s->items);
    memset(s, 0, sizeof *s);
}

/* ---- one scanned C file ---- */
typedef struct c_file {
    char *path;
    name_set uses;     /* names its code, initializers and #define bodies use */
    name_set defs;     /* names it defines at file scope without static */
    name_set includes; /* the paths of the files it includes that were found */
} c_file;

typedef struct scan_ctx {
    const char *const *include_dirs;
    int include_count;
    c_file **headers; /* every header read so far (each is read once) */
    int header_count;
    int oom;
} scan_ctx;

static int is_ident_start(int c) { return isalpha(c) || c == '_'; }
static int is_ident_char(int c) { return isalnum(c) || c == '_'; }

/* The index past a comment starting at i (text[i] == '/'), or i when none. */
static size_t skip_comment(const char *t, size_t size, size_t i)
{
    if (i + 1 >= size || t[i] != '/') return i;
    if (t[i + 1] == '/') {
        for (i += 2; i < size && t[i] != '\n'; i++)
            if (t[i] == '\\' && i + 1 < size) i++; /* a continued line comment */
        return i;
    }
    if (t[i + 1] != '*') return i;
    for (i += 2; i + 1 < size && !(t[i] == '*' && t[i + 1] == '/'); i++) {}
    return i + 2 <= size ? i + 2 : size;
}

/* The index past a string or character literal starting at i. */
static size_t skip_literal(const char *t, size_t size, size_t i)
{
    char quote = t[i];
    for (i++; i < size && t[i] != quote && t[i] != '\n'; i++)
        if (t[i] == '\\' && i + 1 < size) i++;
    return i < size ? i + 1 : size;
}

/* The index past a number (a C preprocessing number: 0x1fu, 1.5e-3f). */
static size_t skip_number(const char *t, size_t size, size_t i)
{
    for (i++; i < size; i++) {
        if ((t[i] == '+' || t[i] == '-') && strchr("eEpP", t[i - 1])) continue;
        if (!is_ident_char((unsigned char)t[i]) && t[i] != '.') break;
    }
    return i;
}

/* The end of the logical line from i: continuations and comments followed. */
static size_t line_end(const char *t, size_t size, size_t i)
{
    while (i < size && t[i] != '\n') {
        size_t past = skip_comment(t, size, i);
        if (past != i) i = past;
        else if (t[i] == '"' || t[i] == '\'') i = skip_literal(t, size, i);
        else if (t[i] == '\\' && i + 1 < size && t[i + 1] == '\n') i += 2;
        else i++;
    }
    return i;
}

/* Every name in t[i, end) (outside comments and literals) is a use. */
static void add_names(const char *t, size_t i, size_t end, name_set *uses, scan_ctx *ctx)
{
    while (i < end) {
        size_t past = skip_comment(t, end, i);
        if (past != i) {
            i = past;
        } else if (t[i] == '"' || t[i] == '\'') {
            i = skip_literal(t, end, i);
        } else if (isdigit((unsigned char)t[i])) {
            i = skip_number(t, end, i);
        } else if (is_ident_start((unsigned char)t[i])) {
            size_t start = i;
            while (i < end && is_ident_char((unsigned char)t[i])) i++;
            if (set_add(uses, t + start, i - start)) ctx->oom = 1;
        } else {
            i++;
        }
    }
}

static int regular_file(const char *path)
{
    struct stat st;
    return !stat(path, &st) && S_ISREG(st.st_mode);
}

/* Resolves an #include: "name" beside the including file first, then (and
 * for <name> only) in the include folders. System headers are not found
 * and define nothing of the runtime's. */
static void add_include(const char *from, const char *name, size_t len, int quoted, c_file *f, scan_ctx *ctx)
{
    char path[4096];
    if (quoted) {
        const char *slash = strrchr(from, '/');
        int dir_len = slash ? (int)(slash - from) : 1;
        snprintf(path, sizeof path, "%.*s/%.*s", dir_len, slash ? from : ".", (int)len, name);
        if (regular_file(path)) {
            if (set_add(&f->includes, path, strlen(path))) ctx->oom = 1;
            return;
        }
    }
    for (int k = 0; k < ctx->include_count; k++) {
        snprintf(path, sizeof path, "%s/%.*s", ctx->include_dirs[k], (int)len, name);
        if (regular_file(path)) {
            if (set_add(&f->includes, path, strlen(path))) ctx->oom = 1;
            return;
        }
    }
}

/* A preprocessor line from i (just past the '#'); returns its end. */
static size_t scan_directive(const char *t, size_t size, size_t i, c_file *f, scan_ctx *ctx)
{
    size_t end = line_end(t, size, i);
    while (i < end && (t[i] == ' ' || t[i] == '\t')) i++;
    size_t word = i;
    while (i < end && is_ident_char((unsigned char)t[i])) i++;
    size_t word_len = i - word;
    while (i < end && (t[i] == ' ' || t[i] == '\t')) i++;
    if (word_len == 7 && !memcmp(t + word, "include", 7) && i < end && (t[i] == '"' || t[i] == '<')) {
        char close = t[i] == '"' ? '"' : '>';
        size_t name = ++i;
        while (i < end && t[i] != close) i++;
        if (i < end) add_include(f->path, t + name, i - name, close == '"', f, ctx);
    } else if (word_len == 6 && !memcmp(t + word, "define", 6)) {
        while (i < end && is_ident_char((unsigned char)t[i])) i++; /* the macro's own name */
        if (i < end && t[i] == '(')
            while (i < end && t[i] != ')') i++; /* its parameters */
        add_names(t, i, end, &f->uses, ctx);
    }
    return end;
}

/* The file-scope state of the scan: what the declaration being read has
 * shown so far. */
typedef struct decl_state {
    int depth, paren;   /* braces open; parentheses open at file scope */
    int counting;       /* the open top-level braces are a function body or an initializer */
    int function_body;  /* they are a function body */
    int is_static;      /* the declaration said static */
    int after_eq;       /* past its '=': an initializer */
    int candidate;      /* a name followed by '(' at file scope: a function if '{' follows its ')' */
    size_t cand_at, cand_len;
    char prev;          /* the previous token: 'i' a name, 'l' a literal or number, else the character */
    size_t prev_at, prev_len;
} decl_state;

static void def_add(c_file *f, const char *t, size_t at, size_t len, scan_ctx *ctx)
{
    if (set_add(&f->defs, t + at, len)) ctx->oom = 1;
}

static void scan_punct(const char *t, char c, decl_state *s, c_file *f, scan_ctx *ctx)
{
    int file_scope = s->depth == 0 && s->paren == 0;
    /* a name followed by =, [, ; or , at file scope is an object defined */
    int object = file_scope && s->prev == 'i' && !s->after_eq && !s->is_static;
    switch (c) {
    case '(':
        if (s->depth == 0) {
            if (file_scope && s->prev == 'i') s->candidate = 1, s->cand_at = s->prev_at, s->cand_len = s->prev_len;
            s->paren++;
        }
        break;
    case ')':
        if (s->depth == 0 && s->paren > 0) s->paren--;
        break;
    case '{':
        if (s->depth == 0) {
            s->function_body = file_scope && s->prev == ')' && s->candidate;
            s->counting = s->function_body || s->after_eq;
            if (s->function_body && !s->is_static) def_add(f, t, s->cand_at, s->cand_len, ctx);
        }
        s->depth++;
        break;
    case '}':
        if (s->depth > 0 && --s->depth == 0) {
            if (s->function_body) s->is_static = s->after_eq = s->candidate = 0;
            s->counting = s->function_body = 0;
        }
        break;
    case '=':
    case '[':
        if (object) def_add(f, t, s->prev_at, s->prev_len, ctx);
        if (c == '=' && file_scope) s->after_eq = 1;
        break;
    case ';':
    case ',':
        if (object) def_add(f, t, s->prev_at, s->prev_len, ctx);
        if (file_scope) {
            s->after_eq = 0;
            if (c == ';') s->is_static = s->candidate = 0;
        }
        break;
    default:
        break;
    }
    s->prev = c;
}

static void scan_text(const char *t, size_t size, c_file *f, scan_ctx *ctx)
{
    decl_state s = {0};
    int line_start = 1;
    size_t i = 0;
    while (i < size) {
        unsigned char c = (unsigned char)t[i];
        size_t past;
        if (c == '\n') {
            line_start = 1;
            i++;
        } else if (isspace(c)) {
            i++;
        } else if (c == '#' && line_start) {
            i = scan_directive(t, size, i + 1, f, ctx);
        } else if ((past = skip_comment(t, size, i)) != i) {
            i = past;
        } else {
            line_start = 0;
            if (c == '"' || c == '\'') {
                i = skip_literal(t, size, i);
                s.prev = 'l';
            } else if (isdigit(c)) {
                i = skip_number(t, size, i);
                s.prev = 'l';
            } else if (is_ident_start(c)) {
                size_t start = i;
                while (i < size && is_ident_char((unsigned char)t[i])) i++;
                size_t len = i - start;
                if (s.depth == 0 && s.paren == 0 && len == 6 && !memcmp(t + start, "static", 6)) s.is_static = 1;
                if ((s.depth > 0 && s.counting) || (s.depth == 0 && s.after_eq))
                    if (set_add(&f->uses, t + start, len)) ctx->oom = 1;
                s.prev = 'i', s.prev_at = start, s.prev_len = len;
            } else {
                scan_punct(t, (char)c, &s, f, ctx);
                i++;
            }
        }
    }
}

static void c_file_free(c_file *f)
{
    if (!f) return;
    free(f->path);
    set_free(&f->uses);
    set_free(&f->defs);
    set_free(&f->includes);
    free(f);
}

static c_file *c_file_scan(const char *path, scan_ctx *ctx, reef_error *err)
{
    uint8_t *data = NULL;
    size_t size = 0;
    if (reef_read_file(path, &data, &size, err)) return NULL;
    c_file *f = calloc(1, sizeof *f);
    if (f && !(f->path = strdup(path))) ctx->oom = 1;
    if (f && !ctx->oom) scan_text((const char *)data, size, f, ctx);
    free(data);
    if (!f || ctx->oom) {
        c_file_free(f);
        reef_fail(err, "out of memory");
        return NULL;
    }
    return f;
}

/* A header, read the first time it is asked for. */
static c_file *header_get(const char *path, scan_ctx *ctx, reef_error *err)
{
    for (int k = 0; k < ctx->header_count; k++)
        if (!strcmp(ctx->headers[k]->path, path)) return ctx->headers[k];
    c_file **grown = realloc(ctx->headers, (size_t)(ctx->header_count + 1) * sizeof *grown);
    if (!grown) return reef_fail(err, "out of memory"), NULL;
    ctx->headers = grown;
    c_file *h = c_file_scan(path, ctx, err);
    if (h) ctx->headers[ctx->header_count++] = h;
    return h;
}

/* Adds f's uses and those of every header it includes, at any depth. */
static int collect_uses(const c_file *f, name_set *into, name_set *seen, scan_ctx *ctx, reef_error *err)
{
    for (size_t k = 0; k < f->uses.n; k++)
        if (set_add(into, f->uses.items[k], strlen(f->uses.items[k]))) return reef_fail(err, "out of memory");
    for (size_t k = 0; k < f->includes.n; k++) {
        const char *path = f->includes.items[k];
        if (set_has(seen, path, strlen(path))) continue;
        if (set_add(seen, path, strlen(path))) return reef_fail(err, "out of memory");
        c_file *h = header_get(path, ctx, err);
        if (!h || collect_uses(h, into, seen, ctx, err)) return -1;
    }
    return 0;
}

static int file_uses(const c_file *f, name_set *into, scan_ctx *ctx, reef_error *err)
{
    name_set seen = {0};
    int rc = collect_uses(f, into, &seen, ctx, err);
    set_free(&seen);
    return rc;
}

static int compare_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* runtime_dir's *.c files, in name order. */
static int list_c_files(const char *dir, char ***files, int *count, reef_error *err)
{
    DIR *d = opendir(dir);
    if (!d) return reef_fail(err, "%s: cannot list the runtime sources: %s (set REEF_SOURCE to reef's source tree)", dir, strerror(errno));
    char **v = NULL;
    int n = 0, oom = 0;
    for (struct dirent *e; (e = readdir(d)) && !oom;) {
        size_t len = strlen(e->d_name);
        if (len <= 2 || strcmp(e->d_name + len - 2, ".c")) continue;
        char **grown = realloc(v, (size_t)(n + 1) * sizeof *v);
        char *path = malloc(strlen(dir) + len + 2);
        if (!grown || !path) {
            free(path);
            if (grown) v = grown;
            oom = 1;
            break;
        }
        v = grown;
        sprintf(path, "%s/%s", dir, e->d_name);
        v[n++] = path;
    }
    closedir(d);
    if (oom) {
        reef_runtime_files_free(v, n);
        return reef_fail(err, "out of memory");
    }
    if (n) qsort(v, (size_t)n, sizeof *v, compare_names);
    *files = v;
    *count = n;
    return 0;
}

void reef_runtime_files_free(char **files, int count)
{
    for (int k = 0; k < count; k++) free(files[k]);
    free(files);
}

/* Marks the runtime files that define wanted names, adding their own uses
 * to wanted as it goes, until no new file is needed. */
static int close_over(c_file **rt, int rt_count, int *needed, name_set *wanted, scan_ctx *ctx, reef_error *err)
{
    for (size_t k = 0; k < wanted->n; k++) {
        const char *name = wanted->items[k];
        size_t len = strlen(name);
        for (int j = 0; j < rt_count; j++) {
            if (needed[j] || !set_has(&rt[j]->defs, name, len)) continue;
            needed[j] = 1;
            if (file_uses(rt[j], wanted, ctx, err)) return -1; /* may grow wanted->items */
        }
    }
    return 0;
}

int reef_runtime_files(const char *runtime_dir, const char *const *include_dirs, int include_count,
                       const char *const *roots, int root_count, char ***files, int *file_count, reef_error *err)
{
    scan_ctx ctx = {include_dirs, include_count, NULL, 0, 0};
    char **paths = NULL;
    int n = 0;
    if (list_c_files(runtime_dir, &paths, &n, err)) return -1;
    if (!roots) { /* every file */
        *files = paths;
        *file_count = n;
        return 0;
    }
    c_file **rt = calloc((size_t)n + 1, sizeof *rt);
    int *needed = calloc((size_t)n + 1, sizeof *needed);
    name_set wanted = {0};
    int rc = rt && needed ? 0 : reef_fail(err, "out of memory");
    for (int j = 0; j < n && !rc; j++)
        if (!(rt[j] = c_file_scan(paths[j], &ctx, err))) rc = -1;
    for (int r = 0; r < root_count && !rc; r++) {
        c_file *root = c_file_scan(roots[r], &ctx, err);
        rc = root ? file_uses(root, &wanted, &ctx, err) : -1;
        c_file_free(root);
    }
    if (!rc) rc = close_over(rt, n, needed, &wanted, &ctx, err);
    int kept = 0;
    for (int j = 0; j < n; j++) {
        if (!rc && needed[j]) paths[kept++] = paths[j];
        else free(paths[j]);
    }
    for (int j = 0; j < n && rt; j++) c_file_free(rt[j]);
    for (int k = 0; k < ctx.header_count; k++) c_file_free(ctx.headers[k]);
    free(ctx.headers);
    free(rt);
    free(needed);
    set_free(&wanted);
    if (rc) {
        free(paths);
        return -1;
    }
    *files = paths;
    *file_count = kept;
    return 0;
}

int reef_runtime_file_defines(const char *path, char ***names, int *count, reef_error *err)
{
    scan_ctx ctx = {NULL, 0, NULL, 0, 0};
    c_file *f = c_file_scan(path, &ctx, err);
    if (!f) return -1;
    char **v = malloc((f->defs.n + 1) * sizeof *v);
    int rc = v ? 0 : reef_fail(err, "out of memory");
    for (size_t k = 0; k < f->defs.n && !rc; k++) v[k] = f->defs.items[k]; /* taken over from the set */
    if (!rc) {
        *names = v;
        *count = (int)f->defs.n;
        f->defs.n = 0; /* the names now belong to v */
    }
    c_file_free(f);
    for (int k = 0; k < ctx.header_count; k++) c_file_free(ctx.headers[k]);
    free(ctx.headers);
    return rc;
}
