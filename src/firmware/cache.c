/* reef's cache folder and content hashes (cache.h). */
#include "firmware/cache.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/io.h"

uint64_t reef_hash_bytes(uint64_t h, const void *data, size_t n)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

uint64_t reef_hash_file(uint64_t h, const char *path)
{
    uint8_t *data = NULL;
    size_t size = 0;
    reef_error ignored;
    if (reef_read_file(path, &data, &size, &ignored)) return reef_hash_bytes(h, "-", 1);
    h = reef_hash_bytes(h, &size, sizeof size);
    h = reef_hash_bytes(h, data, size);
    free(data);
    return h;
}

static int name_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static uint64_t hash_tree(uint64_t h, const char *dir, int depth)
{
    DIR *d = strlen(dir) > 4000 || depth > 8 ? NULL : opendir(dir);
    char *names[512];
    int n = 0;
    if (!d) return reef_hash_bytes(h, "-", 1);
    for (struct dirent *e; (e = readdir(d)) && n < 512;)
        if (e->d_name[0] != '.' && (names[n] = strdup(e->d_name))) n++;
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, name_cmp);
    for (int i = 0; i < n; i++) {
        char path[8192];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        h = reef_hash_bytes(h, names[i], strlen(names[i]) + 1);
        if (!stat(path, &st) && S_ISREG(st.st_mode)) h = reef_hash_file(h, path);
        else if (!stat(path, &st) && S_ISDIR(st.st_mode)) h = hash_tree(h, path, depth + 1);
        free(names[i]);
    }
    return h;
}

uint64_t reef_hash_dir(uint64_t h, const char *dir) { return hash_tree(h, dir, 0); }

int reef_cache_dir(char *dir, size_t size)
{
    const char *env = getenv("REEF_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (env && *env) snprintf(dir, size, "%s", env);
    else if (xdg && *xdg) snprintf(dir, size, "%s/reef", xdg);
    else if (home && *home) snprintf(dir, size, "%s/.cache/reef", home);
    else return -1;
    return 0;
}
