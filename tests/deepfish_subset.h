/* A smaller DeepFish for the sanitizer runs (shared by tests that train on
 * the real frames: tests/quant/test_quant_model.c, tests/tflite/
 * test_tfjs_reader.c). */
#ifndef REEF_TESTS_DEEPFISH_SUBSET_H
#define REEF_TESTS_DEEPFISH_SUBSET_H

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testing.h"

/* Writes dir/Classification/<split>.csv with every `every`-th row of the
 * shared split and links the habitat folders beside it: a DeepFish root
 * with a smaller split. */
static inline void deepfish_subset(const char *shared, const char *dir, const char *split, int every)
{
    char path[1024], line[512];
    snprintf(path, sizeof path, "%s/Classification", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/Classification/%s.csv", shared, split);
    FILE *in = fopen(path, "r");
    assert_non_null(in);
    snprintf(path, sizeof path, "%s/Classification/%s.csv", dir, split);
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    for (int row = 0; fgets(line, sizeof line, in); row++)
        if (row == 0 || row % every == 0) fputs(line, out);
    fclose(in);
    assert_int_equal(fclose(out), 0);
    snprintf(path, sizeof path, "%s/Classification", shared);
    DIR *d = opendir(path);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        char from[1024], to[1024];
        if (e->d_name[0] == '.' || strstr(e->d_name, ".csv")) continue;
        snprintf(from, sizeof from, "%s/Classification/%s", shared, e->d_name);
        snprintf(to, sizeof to, "%s/Classification/%s", dir, e->d_name);
        if (access(to, F_OK)) assert_int_equal(symlink(from, to), 0);
    }
    closedir(d);
}

#endif
