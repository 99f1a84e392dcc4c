#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sets err->msg to text (len bytes). A message that does not fit keeps its
 * start (what failed, where) and its end (the reason), with " ... " for
 * the middle: a long path must not push the reason out. */
static void set_elided(reef_error *err, const char *text, size_t len)
{
    const size_t cap = sizeof err->msg - 1;
    if (len <= cap) {
        memcpy(err->msg, text, len);
        err->msg[len] = '\0';
        return;
    }
    const size_t head = cap / 4, tail = cap - head - 5;
    memcpy(err->msg, text, head);
    memcpy(err->msg + head, " ... ", 5);
    memcpy(err->msg + head + 5, text + len - tail, tail);
    err->msg[cap] = '\0';
}

/* Formats into a malloc'd string (NULL when out of memory). */
static char *format(size_t *len, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    char *text = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (text) vsnprintf(text, (size_t)n + 1, fmt, again);
    va_end(again);
    *len = text ? (size_t)n : 0;
    return text;
}

int reef_fail(reef_error *err, const char *fmt, ...)
{
    if (!err) return -1;
    va_list ap;
    va_start(ap, fmt);
    size_t len;
    char *text = format(&len, fmt, ap);
    va_end(ap);
    if (text) {
        set_elided(err, text, len);
        free(text);
    } else {  // out of memory: the start of it
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int reef_fail_wrap(reef_error *err, const char *fmt, ...)
{
    if (!err) return -1;
    va_list ap;
    va_start(ap, fmt);
    size_t plen;
    char *prefix = format(&plen, fmt, ap);
    va_end(ap);
    /* "prefix: old" */
    size_t olen = strnlen(err->msg, sizeof err->msg - 1);
    char *text = prefix ? malloc(plen + 2 + olen + 1) : NULL;
    if (text) {
        memcpy(text, prefix, plen);
        memcpy(text + plen, ": ", 2);
        memcpy(text + plen + 2, err->msg, olen);
        set_elided(err, text, plen + 2 + olen);
    }
    free(text);
    free(prefix);
    return -1;
}
