#include "util/json.h"

#include <inttypes.h>
#include <math.h>

void reef_json_begin(reef_json *j, FILE *fp)
{
    j->fp = fp;
    j->depth = 0;
    j->count[0] = 0;
    j->after_key = 0;
}

/* Writes the separator a new value needs at the current level. */
static void before_value(reef_json *j)
{
    if (j->after_key) {
        j->after_key = 0;
        return;
    }
    if (j->count[j->depth]++ > 0) fputc(',', j->fp);
}

static void open_level(reef_json *j, char c)
{
    before_value(j);
    fputc(c, j->fp);
    if (j->depth + 1 < REEF_JSON_MAX_DEPTH) j->depth++;
    j->count[j->depth] = 0;
    j->closer[j->depth] = c == '{' ? '}' : ']';
}

void reef_json_object(reef_json *j) { open_level(j, '{'); }
void reef_json_array(reef_json *j) { open_level(j, '['); }

void reef_json_end(reef_json *j)
{
    if (j->depth == 0) return;
    fputc(j->closer[j->depth], j->fp);
    j->depth--;
}

/* The length of the valid UTF-8 sequence at p (2 to 4 bytes: no overlong
 * form, no surrogate, at most U+10FFFF), or 0. */
static int utf8_length(const unsigned char *p)
{
    int n = *p >= 0xF0 && *p <= 0xF4 ? 4 : *p >= 0xE0 ? 3 : *p >= 0xC2 && *p <= 0xDF ? 2 : 0;
    if (n == 0 || (*p >= 0xE0 && *p > 0xF4)) return 0;
    for (int i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80) return 0;
    if (n == 3 && ((*p == 0xE0 && p[1] < 0xA0) || (*p == 0xED && p[1] >= 0xA0))) return 0; /* overlong, surrogate */
    if (n == 4 && ((*p == 0xF0 && p[1] < 0x90) || (*p == 0xF4 && p[1] >= 0x90))) return 0; /* overlong, > U+10FFFF */
    return n;
}

/* A JSON string: escapes, and U+FFFD for each byte that is not UTF-8 (a
 * folder name in Latin-1 made the output invalid JSON). */
static void write_escaped(FILE *fp, const char *s)
{
    fputc('"', fp);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p >= 0x80) {
            int n = utf8_length(p);
            if (n) fwrite(p, 1, (size_t)n, fp), p += n - 1;
            else fputs("\\ufffd", fp);
            continue;
        }
        switch (*p) {
        case '"': fputs("\\\"", fp); break;
        case '\\': fputs("\\\\", fp); break;
        case '\n': fputs("\\n", fp); break;
        case '\r': fputs("\\r", fp); break;
        case '\t': fputs("\\t", fp); break;
        default:
            if (*p < 0x20) fprintf(fp, "\\u%04x", *p);
            else fputc(*p, fp);
        }
    }
    fputc('"', fp);
}

void reef_json_key(reef_json *j, const char *key)
{
    before_value(j);
    write_escaped(j->fp, key);
    fputc(':', j->fp);
    j->after_key = 1;
}

void reef_json_string(reef_json *j, const char *s)
{
    before_value(j);
    if (s) write_escaped(j->fp, s);
    else fputs("null", j->fp);
}

void reef_json_int(reef_json *j, int64_t v)
{
    before_value(j);
    fprintf(j->fp, "%" PRId64, v);
}

void reef_json_number(reef_json *j, double v)
{
    before_value(j);
    if (isfinite(v)) fprintf(j->fp, "%.10g", v);
    else fputs("null", j->fp);
}

void reef_json_bool(reef_json *j, int v)
{
    before_value(j);
    fputs(v ? "true" : "false", j->fp);
}

void reef_json_null(reef_json *j)
{
    before_value(j);
    fputs("null", j->fp);
}

void reef_json_finish(reef_json *j) { fputc('\n', j->fp); fflush(j->fp); }

void reef_json_kv_string(reef_json *j, const char *k, const char *s) { reef_json_key(j, k); reef_json_string(j, s); }
void reef_json_kv_int(reef_json *j, const char *k, int64_t v) { reef_json_key(j, k); reef_json_int(j, v); }
void reef_json_kv_number(reef_json *j, const char *k, double v) { reef_json_key(j, k); reef_json_number(j, v); }
void reef_json_kv_bool(reef_json *j, const char *k, int v) { reef_json_key(j, k); reef_json_bool(j, v); }
