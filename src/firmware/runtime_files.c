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
    name_set defs;      /* names it defines at file scope without static */
    name_set includes;  /* the paths of the files it includes that were found */
    name_set local;     /* every function, initialized object and macro it defines, static or not */
    name_set *local_uses; /* local_uses[k]: the names local.items[k]'s body, initializer or expansion uses */
    name_set unnamed;   /* the uses of initializers whose object's name the scan did not find */
    size_t local_cap;
} c_file;

typedef struct scan_ctx {
    const char *const *include_dirs;
    int include_count;
    c_file **headers; /* every header read so far (each is read once) */
    int header_count;
    int oom;
} scan_ctx;

/* The uses of local definition `name` (made on first sight), or NULL. */
static name_set *local_entry(c_file *f, const char *name, size_t len, struct scan_ctx *ctx);

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
            if (uses && set_add(uses, t + start, i - start)) ctx->oom = 1;
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
        size_t name = i;
        while (i < end && is_ident_char((unsigned char)t[i])) i++; /* the macro's own name */
        name_set *expansion = i > name ? local_entry(f, t + name, i - name, ctx) : NULL;
        if (i < end && t[i] == '(')
            while (i < end && t[i] != ')') i++; /* its parameters */
        add_names(t, i, end, expansion, ctx);
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
    size_t obj_at, obj_len; /* the object the declaration defines (the name before its '[' or '=') */
    name_set *current;  /* the uses of the definition being read (its body or initializer), or NULL */
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
            if (s->function_body) s->current = local_entry(f, t + s->cand_at, s->cand_len, ctx);
        }
        s->depth++;
        break;
    case '}':
        if (s->depth > 0 && --s->depth == 0) {
            if (s->function_body) s->is_static = s->after_eq = s->candidate = 0, s->current = NULL;
            s->counting = s->function_body = 0;
        }
        break;
    case '=':
    case '[':
        if (object) def_add(f, t, s->prev_at, s->prev_len, ctx);
        /* the object's name: before its '[' also inside parentheses, (*const table[2])(int) */
        if (s->depth == 0 && s->prev == 'i' && !s->after_eq && (file_scope || c == '['))
            s->obj_at = s->prev_at, s->obj_len = s->prev_len;
        if (c == '=' && file_scope) {
            s->after_eq = 1;
            /* no name found ((*fp)(int) = f): the uses count for every definition of the file */
            s->current = s->obj_len ? local_entry(f, t + s->obj_at, s->obj_len, ctx) : &f->unnamed;
        }
        break;
    case ';':
    case ',':
        if (object) def_add(f, t, s->prev_at, s->prev_len, ctx);
        if (file_scope) {
            s->after_eq = 0, s->obj_len = 0, s->current = NULL;
            if (c == ';') s->is_static = s->candidate = 0;
        }
        break;
    default:
        break;
    }
    s->prev = c;
}

/* A macro of the file's own that expands to static (#define INLINE static inline). */
static int macro_says_static(const c_file *f, const char *name, size_t len)
{
    if (!set_has(&f->local, name, len)) return 0;
    size_t k = 0;
    while (!(strlen(f->local.items[k]) == len && !memcmp(f->local.items[k], name, len))) k++;
    return k < f->local_cap && set_has(&f->local_uses[k], "static", 6);
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
                if (s.depth == 0 && s.paren == 0 && macro_says_static(f, t + start, len)) s.is_static = 1;
                if ((s.depth > 0 && s.counting) || (s.depth == 0 && s.after_eq))
                    if (s.current && set_add(s.current, t + start, len)) ctx->oom = 1;
                s.prev = 'i', s.prev_at = start, s.prev_len = len;
            } else {
                scan_punct(t, (char)c, &s, f, ctx);
                i++;
            }
        }
    }
}

static name_set *local_entry(c_file *f, const char *name, size_t len, scan_ctx *ctx)
{
    if (set_add(&f->local, name, len)) return ctx->oom = 1, NULL;
    size_t k = 0;
    while (k < f->local.n && !(strlen(f->local.items[k]) == len && !memcmp(f->local.items[k], name, len))) k++;
    if (k >= f->local_cap) {
        size_t cap = f->local_cap ? f->local_cap * 2 : 64;
        name_set *grown = realloc(f->local_uses, cap * sizeof *grown);
        if (!grown) return ctx->oom = 1, NULL;
        memset(grown + f->local_cap, 0, (cap - f->local_cap) * sizeof *grown);
        f->local_uses = grown;
        f->local_cap = cap;
    }
    return &f->local_uses[k];
}

static void c_file_free(c_file *f)
{
    if (!f) return;
    for (size_t k = 0; k < f->local_cap; k++) set_free(&f->local_uses[k]);
    free(f->local_uses);
    set_free(&f->local);
    set_free(&f->unnamed);
    free(f->path);
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

/* The closure, name by name: a name wanted from outside (a root, or a
 * runtime file's definition) needs every runtime file that exports it,
 * and there its definition's uses; a name a definition uses is looked up
 * first among its file's own definitions (static functions and objects,
 * macros, and those of the headers it includes), then outside. */
typedef struct closure {
    c_file **rt;
    int rt_count;
    int *needed;
    name_set *done;    /* done[j]: the local definitions of rt[j] already followed */
    c_file ***scope;   /* scope[j]: rt[j] and every header it includes, NULL-terminated */
    name_set wanted;   /* the names already looked up outside */
    scan_ctx *ctx;
} closure;

static int want(closure *c, const char *name, reef_error *err);

/* Follows the definitions of name in scope (a file, the headers it
 * includes and the force-included ones; each name once per done). */
static int follow_in(closure *c, c_file **scope, name_set *done, const char *name, reef_error *err)
{
    size_t len = strlen(name);
    if (set_has(done, name, len)) return 0;
    int first = done->n == 0;
    if (set_add(done, name, len)) return reef_fail(err, "out of memory");
    const name_set *unnamed = &scope[0]->unnamed; /* followed with the file's first definition */
    for (size_t u = 0; first && u < unnamed->n; u++)
        if (follow_in(c, scope, done, unnamed->items[u], err) || want(c, unnamed->items[u], err)) return -1;
    for (c_file **f = scope; *f; f++) {
        if (!set_has(&(*f)->local, name, len)) continue;
        size_t k = 0;
        while (strcmp((*f)->local.items[k], name)) k++;
        const name_set *uses = &(*f)->local_uses[k];
        for (size_t u = 0; u < uses->n; u++)
            if (follow_in(c, scope, done, uses->items[u], err) || want(c, uses->items[u], err)) return -1;
    }
    return 0;
}

static int follow_local(closure *c, int j, const char *name, reef_error *err)
{
    return follow_in(c, c->scope[j], &c->done[j], name, err);
}

static int want(closure *c, const char *name, reef_error *err)
{
    size_t len = strlen(name);
    if (set_has(&c->wanted, name, len)) return 0;
    if (set_add(&c->wanted, name, len)) return reef_fail(err, "out of memory");
    for (int j = 0; j < c->rt_count; j++) {
        if (!set_has(&c->rt[j]->defs, name, len)) continue;
        c->needed[j] = 1;
        if (follow_local(c, j, name, err)) return -1;
    }
    return 0;
}

/* f, the forced headers and every header they include, at any depth,
 * NULL-terminated. */
static c_file **scope_of(c_file *f, const name_set *forced, scan_ctx *ctx, reef_error *err)
{
    name_set seen = {0};
    size_t n = 1, cap = 16;
    c_file **v = malloc(cap * sizeof *v);
    if (!v) return reef_fail(err, "out of memory"), NULL;
    v[0] = f;
    for (size_t i = 0; i < n; i++) {
        const name_set *includes = i == 0 ? &f->includes : &v[i]->includes;
        for (size_t k = 0; k < includes->n + (i == 0 ? forced->n : 0); k++) {
            const char *path = k < includes->n ? includes->items[k] : forced->items[k - includes->n];
            if (set_has(&seen, path, strlen(path))) continue;
            c_file *h = set_add(&seen, path, strlen(path)) ? NULL : header_get(path, ctx, err);
            c_file **grown = h && n + 2 > cap ? realloc(v, (cap *= 2) * sizeof *v) : v;
            if (!h || !grown) {
                free(grown ? grown : v);
                set_free(&seen);
                return reef_fail(err, "out of memory"), NULL;
            }
            v = grown;
            v[n++] = h;
        }
    }
    v[n] = NULL;
    set_free(&seen);
    return v;
}

/* A root is compiled whole: every definition in it is followed (its
 * headers' only when used). */
static int follow_root(closure *c, c_file *root, const name_set *forced, reef_error *err)
{
    c_file **scope = scope_of(root, forced, c->ctx, err);
    name_set done = {0};
    int rc = scope ? 0 : -1;
    for (size_t k = 0; k < root->local.n && !rc; k++) rc = follow_in(c, scope, &done, root->local.items[k], err);
    for (size_t k = 0; k < root->defs.n && !rc; k++) rc = follow_in(c, scope, &done, root->defs.items[k], err);
    set_free(&done);
    free(scope);
    return rc;
}

int reef_runtime_files(const char *runtime_dir, const char *const *include_dirs, int include_count,
                       const char *const *roots, int root_count, const char *const *forced, int forced_count,
                       char ***files, int *file_count, reef_error *err)
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
    name_set *done = calloc((size_t)n + 1, sizeof *done), forced_set = {0};
    c_file ***scope = calloc((size_t)n + 1, sizeof *scope);
    int rc = rt && needed && done && scope ? 0 : reef_fail(err, "out of memory");
    for (int j = 0; j < n && !rc; j++)
        if (!(rt[j] = c_file_scan(paths[j], &ctx, err))) rc = -1;
    for (int h = 0; h < forced_count && !rc; h++)
        if (set_add(&forced_set, forced[h], strlen(forced[h]))) rc = reef_fail(err, "out of memory");
    for (int j = 0; j < n && !rc; j++)
        if (!(scope[j] = scope_of(rt[j], &forced_set, &ctx, err))) rc = -1;
    closure c = {rt, n, needed, done, scope, {0}, &ctx};
    for (int r = 0; r < root_count && !rc; r++) {
        c_file *root = c_file_scan(roots[r], &ctx, err);
        rc = root ? follow_root(&c, root, &forced_set, err) : -1;
        c_file_free(root);
    }
    int kept = 0;
    for (int j = 0; j < n; j++) {
        if (!rc && needed[j]) paths[kept++] = paths[j];
        else free(paths[j]);
    }
    for (int j = 0; j < n && rt; j++) c_file_free(rt[j]);
    for (int j = 0; j < n && done; j++) set_free(&done[j]);
    for (int j = 0; j < n && scope; j++) free(scope[j]);
    for (int k = 0; k < ctx.header_count; k++) c_file_free(ctx.headers[k]);
    free(ctx.headers);
    free(rt);
    free(needed);
    free(done);
    free(scope);
    set_free(&forced_set);
    set_free(&c.wanted);
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
