/* A small streaming JSON writer for --json output: it tracks nesting so
 * that commas and quoting are always right.
 *
 *   reef_json j; reef_json_begin(&j, stdout);
 *   reef_json_object(&j);
 *     reef_json_key(&j, "count"); reef_json_int(&j, 3492);
 *     reef_json_key(&j, "classes"); reef_json_array(&j); ... reef_json_end(&j);
 *   reef_json_end(&j);
 *   reef_json_finish(&j);   // newline
 */
#ifndef REEF_UTIL_JSON_H
#define REEF_UTIL_JSON_H

#include <stdint.h>
#include <stdio.h>

#define REEF_JSON_MAX_DEPTH 32

typedef struct reef_json {
    FILE *fp;
    int depth;
    int count[REEF_JSON_MAX_DEPTH]; /* values written at each level */
    char closer[REEF_JSON_MAX_DEPTH]; /* '}' or ']' for each open level */
    int after_key;                  /* a key was written, its value is next */
} reef_json;

void reef_json_begin(reef_json *j, FILE *fp);
void reef_json_object(reef_json *j);
void reef_json_array(reef_json *j);
void reef_json_end(reef_json *j);
void reef_json_key(reef_json *j, const char *key);
void reef_json_string(reef_json *j, const char *s);
void reef_json_int(reef_json *j, int64_t v);
void reef_json_number(reef_json *j, double v); /* NaN/inf become null */
void reef_json_bool(reef_json *j, int v);
void reef_json_null(reef_json *j);
void reef_json_finish(reef_json *j);

/* key + value in one call */
void reef_json_kv_string(reef_json *j, const char *key, const char *s);
void reef_json_kv_int(reef_json *j, const char *key, int64_t v);
void reef_json_kv_number(reef_json *j, const char *key, double v);
void reef_json_kv_bool(reef_json *j, const char *key, int v);

#endif
