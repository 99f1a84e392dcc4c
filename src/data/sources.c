#include "data/sources.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "util/io.h"

/* ---- the list ---------------------------------------------------------------- */

void prep_list_free(prep_list *l)
{
    for (uint32_t i = 0; i < l->count; i++) {
        if (l->paths) free(l->paths[i]);
        if (l->ids) free(l->ids[i]);
    }
    for (uint32_t i = 0; i < l->num_classes; i++) free(l->class_names[i]);
    for (uint32_t i = 0; i < l->num_groups; i++) free(l->group_names[i]);
    free(l->paths);
    free(l->ids);
    free(l->labels);
    free(l->groups);
    free(l->class_names);
    free(l->group_names);
    free(l->raw);
    memset(l, 0, sizeof *l);
}

static int list_grow(prep_list *l, int with_paths)
{
    if (l->count < l->cap) return 0;
    uint32_t cap = l->cap ? 2 * l->cap : 1024;
    char **ids = realloc(l->ids, cap * sizeof *ids);
    if (ids) l->ids = ids;
    uint16_t *labels = realloc(l->labels, cap * sizeof *labels);
    if (labels) l->labels = labels;
    uint16_t *groups = realloc(l->groups, cap * sizeof *groups);
    if (groups) l->groups = groups;
    char **paths = with_paths ? realloc(l->paths, cap * sizeof *paths) : NULL;
    if (paths) l->paths = paths;
    if (!ids || !labels || !groups || (with_paths && !paths)) return -1;
    l->cap = cap;
    return 0;
}

/* Appends one image sample (takes ownership of path and id). */
static int list_add(prep_list *l, char *path, char *id, uint16_t label, uint16_t group, reef_error *err)
{
    if (!path || !id || list_grow(l, 1)) {
        free(path);
        free(id);
        return reef_fail(err, "out of memory listing samples");
    }
    l->paths[l->count] = path;
    l->ids[l->count] = id;
    l->labels[l->count] = label;
    l->groups[l->count] = group;
    l->count++;
    return 0;
}

static char *str_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *str_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!s) return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

static int set_names(char ***names, uint32_t *n, const char *const *src, uint32_t count)
{
    *names = calloc(count, sizeof **names);
    if (!*names) return -1;
    *n = count;
    for (uint32_t i = 0; i < count; i++)
        if (!((*names)[i] = strdup(src[i]))) return -1;
    return 0;
}

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- DeepFish CSV ------------------------------------------------------------ */

#define CSV_MAX_FIELDS 64

/* Splits one line (modified in place) on commas, RFC 4180 style: a field
 * in double quotes may hold commas and "" for a quote (not a line break);
 * trailing \r removed. Returns the number of fields, CSV_MAX_FIELDS + 1
 * when there are more, -1 for a quote that is not closed or text after a
 * closing quote. */
static int csv_split(char *line, char **fields)
{
    size_t len = strlen(line);
    if (len && line[len - 1] == '\r') line[len - 1] = 0;
    int n = 0;
    for (char *p = line;; p++) {
        if (n == CSV_MAX_FIELDS) return n + 1; /* too many: reported by the caller */
        fields[n++] = p;
        if (*p == '"') { /* quoted: unquote in place */
            char *w = p;
            for (p++;; p++) {
                if (!*p) return -1;
                if (*p == '"' && p[1] == '"') *w++ = '"', p++;
                else if (*p == '"') break;
                else *w++ = *p;
            }
            p++;
            if (*p && *p != ',') return -1;
            *w = 0;
            if (!*p) break;
            continue;
        }
        p = strchr(p, ',');
        if (!p) break;
        *p = 0;
    }
    return n;
}

typedef struct csv_columns {
    int id, label, total;
} csv_columns;

static int csv_header(char *line, const char *csv, csv_columns *col, reef_error *err)
{
    char *f[CSV_MAX_FIELDS + 1];
    col->total = csv_split(line, f);
    if (col->total < 0) return reef_fail(err, "%s:1: malformed header: a quoted field is not closed", csv);
    col->id = col->label = -1;
    for (int i = 0; i < col->total && i < CSV_MAX_FIELDS; i++) {
        if (!strcmp(f[i], "ID")) col->id = i;
        if (!strcmp(f[i], "labels")) col->label = i;
    }
    if (col->id < 0 || col->label < 0)
        return reef_fail(err, "%s:1: header needs columns 'ID' and 'labels'", csv);
    return 0;
}

/* Habitat = the ID's first path component ("all" when it has none). */
static char *habitat_of(const char *id)
{
    const char *slash = strchr(id, '/');
    return slash ? strndup(id, (size_t)(slash - id)) : strdup("all");
}

static int parse_label(const char *text, long *label)
{
    char *end;
    errno = 0;
    *label = strtol(text, &end, 10);
    return errno || end == text || *end || *label < 0 ? -1 : 0;
}

/* One data line: fills id and fish (0/1). */
static int csv_row(char *line, const char *csv, int lineno, const csv_columns *col,
                   char **id, int *fish, reef_error *err)
{
    char *f[CSV_MAX_FIELDS + 1];
    int n = csv_split(line, f);
    if (n < 0)
        return reef_fail(err, "%s:%d: malformed line: a quoted field is not closed (or text follows its quote)", csv,
                         lineno);
    if (n != col->total)
        return reef_fail(err, "%s:%d: malformed line: %d fields, the header has %d", csv, lineno, n,
                         col->total);
    if (!*f[col->id] || f[col->id][0] == '/' || strstr(f[col->id], ".."))
        return reef_fail(err, "%s:%d: malformed line: bad ID '%s'", csv, lineno, f[col->id]);
    long label;
    if (parse_label(f[col->label], &label))
        return reef_fail(err, "%s:%d: unknown label '%s' (want a whole number >= 0; > 0 means fish)",
                         csv, lineno, f[col->label]);
    *id = f[col->id];
    *fish = label > 0;
    return 0;
}

/* Habitat names sorted, and each sample's index into them. */
static int assign_groups(prep_list *l, char **habitats, reef_error *err)
{
    char **sorted = malloc((l->count ? l->count : 1) * sizeof *sorted);
    if (!sorted) return reef_fail(err, "out of memory");
    memcpy(sorted, habitats, l->count * sizeof *sorted);
    qsort(sorted, l->count, sizeof *sorted, cmp_str);
    uint32_t n = 0;
    for (uint32_t i = 0; i < l->count; i++)
        if (!n || strcmp(sorted[n - 1], sorted[i])) sorted[n++] = sorted[i];
    if (n > 65535) {
        free(sorted);
        return reef_fail(err, "more than 65535 habitats");
    }
    for (uint32_t i = 0; i < l->count; i++) {
        char **hit = bsearch(&habitats[i], sorted, n, sizeof *sorted, cmp_str);
        l->groups[i] = (uint16_t)(hit - sorted);
    }
    int rc = set_names(&l->group_names, &l->num_groups, (const char *const *)sorted, n);
    free(sorted);
    return rc ? reef_fail(err, "out of memory") : 0;
}

/* The folder holding <split>.csv: root/Classification, or root itself
 * (malloc'd). */
static char *deepfish_base(const char *root, const char *split, reef_error *err)
{
    char *base = str_printf("%s/Classification", root);
    char *csv = base ? str_printf("%s/%s.csv", base, split) : NULL;
    int found = csv && is_file(csv);
    free(csv);
    if (found) return base;
    free(base);
    csv = str_printf("%s/%s.csv", root, split);
    found = csv && is_file(csv);
    free(csv);
    if (found) return strdup(root);
    reef_fail(err, "%s/Classification/%s.csv: no such file (is --root the DeepFish folder?)", root, split);
    return NULL;
}

/* Adds the sample of one data line. */
static int deepfish_row(char *line, const char *csv, int lineno, const csv_columns *col,
                        const char *base, prep_list *l, char ***habitats, reef_error *err)
{
    char *id = NULL;
    int fish = 0;
    if (csv_row(line, csv, lineno, col, &id, &fish, err)) return -1;
    if (list_add(l, str_printf("%s/%s.jpg", base, id), strdup(id), (uint16_t)fish, 0, err)) return -1;
    char **h = realloc(*habitats, l->cap * sizeof **habitats);
    if (!h) return reef_fail(err, "out of memory");
    *habitats = h;
    if (!(h[l->count - 1] = habitat_of(id))) {
        l->count--; /* keep habitats[i] valid for every listed i */
        free(l->paths[l->count]);
        free(l->ids[l->count]);
        return reef_fail(err, "out of memory");
    }
    return 0;
}

static int deepfish_rows(char *text, const char *csv, const char *base, prep_list *l,
                         char ***habitats, reef_error *err)
{
    csv_columns col = {0, 0, 0};
    int lineno = 1;
    if (!strncmp(text, "\xEF\xBB\xBF", 3)) text += 3; /* a UTF-8 byte-order mark */
    for (char *line = text; *line; lineno++) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        if (lineno == 1) {
            if (csv_header(line, csv, &col, err)) return -1;
        } else if (*line && strcmp(line, "\r")) { /* blank lines are allowed */
            if (deepfish_row(line, csv, lineno, &col, base, l, habitats, err)) return -1;
        }
        if (!nl) break;
        line = nl + 1;
    }
    if (lineno == 1 && !col.total) return reef_fail(err, "%s: empty file", csv);
    return 0;
}

/* A whole text file, NUL-terminated (malloc'd), or NULL. */
static char *read_text(const char *path, reef_error *err)
{
    uint8_t *text;
    size_t size;
    if (reef_read_file(path, &text, &size, err)) return NULL;
    char *z = realloc(text, size + 1);
    if (!z) {
        free(text);
        reef_fail(err, "out of memory");
        return NULL;
    }
    z[size] = 0;
    if (memchr(z, 0, size)) {
        free(z);
        reef_fail(err, "%s: not a text file (contains NUL bytes)", path);
        return NULL;
    }
    return z;
}

int prep_list_deepfish(const char *root, const char *split, prep_list *l, reef_error *err)
{
    static const char *const classes[] = {"no_fish", "fish"};
    memset(l, 0, sizeof *l);
    char *base = deepfish_base(root, split, err);
    if (!base) return -1;
    char *csv = str_printf("%s/%s.csv", base, split);
    char *z = csv ? read_text(csv, err) : NULL;
    if (!z) {
        free(base);
        free(csv);
        return csv ? -1 : reef_fail(err, "out of memory");
    }
    char **habitats = NULL;
    int rc = deepfish_rows(z, csv, base, l, &habitats, err);
    if (!rc && !l->count) rc = reef_fail(err, "%s: lists no frames", csv);
    if (!rc) rc = assign_groups(l, habitats, err);
    if (!rc && set_names(&l->class_names, &l->num_classes, classes, 2))
        rc = reef_fail(err, "out of memory");
    for (uint32_t i = 0; habitats && i < l->count; i++) free(habitats[i]);
    free(habitats);
    free(z);
    free(csv);
    free(base);
    if (rc) prep_list_free(l);
    return rc;
}

/* ---- a folder per class ------------------------------------------------------ */

static int has_image_ext(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".png"));
}

/* Sorted names of the entries of dir that are folders (want_dirs) or image
 * files; hidden entries skipped. */
static int sorted_entries(const char *dir, int want_dirs, char ***names, uint32_t *n, reef_error *err)
{
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return reef_fail(err, "%s: cannot open folder: %s", dir, strerror(errno));
    uint32_t cap = 0;
    struct dirent *e;
    char path[4096];
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (want_dirs ? !is_dir(path) : !has_image_ext(e->d_name)) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            char **g = realloc(*names, cap * sizeof *g);
            if (!g) rc = reef_fail(err, "out of memory");
            else *names = g;
        }
        if (!rc && !((*names)[(*n)++] = strdup(e->d_name))) rc = reef_fail(err, "out of memory");
    }
    closedir(d);
    if (*names) qsort(*names, *n, sizeof **names, cmp_str);
    return rc;
}

static void free_names(char **names, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

static int folder_class(const char *dir, const char *cls, uint16_t label, prep_list *l, reef_error *err)
{
    char *cdir = str_printf("%s/%s", dir, cls);
    if (!cdir) return reef_fail(err, "out of memory");
    char **files;
    uint32_t n;
    int rc = sorted_entries(cdir, 0, &files, &n, err);
    for (uint32_t i = 0; !rc && i < n; i++)
        rc = list_add(l, str_printf("%s/%s", cdir, files[i]), str_printf("%s/%s", cls, files[i]),
                      label, 0, err);
    free_names(files, n);
    free(cdir);
    return rc;
}

int prep_list_folders(const char *root, const char *split, prep_list *l, reef_error *err)
{
    static const char *const all[] = {"all"};
    memset(l, 0, sizeof *l);
    char *dir = split ? str_printf("%s/%s", root, split) : strdup(root);
    if (!dir) return reef_fail(err, "out of memory");
    char **classes;
    uint32_t n;
    int rc = sorted_entries(dir, 1, &classes, &n, err);
    if (!rc && n == 0) rc = reef_fail(err, "%s: no class folders in it (want DIR/<class>/*.jpg)", dir);
    if (!rc && n > 65535) rc = reef_fail(err, "%s: more than 65535 class folders", dir);
    for (uint32_t c = 0; !rc && c < n; c++) rc = folder_class(dir, classes[c], (uint16_t)c, l, err);
    if (!rc && !l->count) rc = reef_fail(err, "%s: no .jpg/.jpeg/.png files in its class folders", dir);
    if (!rc && (set_names(&l->class_names, &l->num_classes, (const char *const *)classes, n) ||
                set_names(&l->group_names, &l->num_groups, all, 1)))
        rc = reef_fail(err, "out of memory");
    for (uint32_t i = 0; !rc && i < l->count; i++) l->groups[i] = 0;
    free_names(classes, n);
    free(dir);
    if (rc) prep_list_free(l);
    return rc;
}
