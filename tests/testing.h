/* Helpers shared by reef's tests (include after cmocka's prerequisites). */
#ifndef REEF_TESTS_TESTING_H
#define REEF_TESTS_TESTING_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The shared data folder (REEF_SHARED, set by CTest), or NULL. */
static inline const char *testing_shared_dir(void)
{
    const char *d = getenv("REEF_SHARED");
    return d && *d ? d : NULL;
}

/* Writes into buf the path of shared/<rel>, returning 1 if it exists. When
 * it does not, prints why and the caller should skip(). */
static inline int testing_shared_path(char *buf, size_t size, const char *rel)
{
    const char *dir = testing_shared_dir();
    struct stat st;
    snprintf(buf, size, "%s/%s", dir ? dir : "../shared", rel);
    if (stat(buf, &st) == 0) return 1;
    printf("[  SKIPPED ] %s is not there (put the data in ../shared or set REEF_SHARED)\n", buf);
    return 0;
}

/* A fresh empty temporary folder for one test; path written to buf. */
static inline void testing_tmpdir(char *buf, size_t size, const char *tag)
{
    snprintf(buf, size, "/tmp/reef-test-%s-XXXXXX", tag);
    assert_non_null(mkdtemp(buf));
}

/* 1 when running the sanitizer build (tests may shrink heavy work). */
static inline int testing_sanitizer_run(void) { return getenv("REEF_SANITIZE_RUN") != NULL; }

/* Counts the entries of a folder (to check that no stray file was left). */
static inline int testing_count_files(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

#endif
