#include "util/io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int reef_read_file(const char *path, uint8_t **data, size_t *size, reef_error *err)
{
    *data = NULL;
    *size = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) return reef_fail(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(fp), &st) == 0 && !S_ISREG(st.st_mode)) { /* a folder "opens" and reads as 2^63 bytes */
        fclose(fp);
        return reef_fail(err, "%s: %s, not a file", path, S_ISDIR(st.st_mode) ? "is a folder" : "is a device or pipe");
    }
    if (fseek(fp, 0, SEEK_END) != 0) {
        fclose(fp);
        return reef_fail(err, "%s: cannot seek: %s", path, strerror(errno));
    }
    long len = ftell(fp);
    if (len < 0) {
        fclose(fp);
        return reef_fail(err, "%s: cannot tell size: %s", path, strerror(errno));
    }
    rewind(fp);
    uint8_t *buf = malloc(len > 0 ? (size_t)len : 1);
    if (!buf) {
        fclose(fp);
        return reef_fail(err, "%s: out of memory reading %ld bytes", path, len);
    }
    if (len > 0 && fread(buf, 1, (size_t)len, fp) != (size_t)len) {
        free(buf);
        fclose(fp);
        return reef_fail(err, "%s: short read", path);
    }
    fclose(fp);
    *data = buf;
    *size = (size_t)len;
    return 0;
}

int reef_map_file(const char *path, reef_mapping *map, reef_error *err)
{
    map->data = NULL;
    map->size = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return reef_fail(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return reef_fail(err, "%s: cannot stat: %s", path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) { /* mmap of a folder fails with "No such device" */
        close(fd);
        return reef_fail(err, "%s: %s, not a file", path, S_ISDIR(st.st_mode) ? "is a folder" : "is a device or pipe");
    }
    if (st.st_size == 0) { /* mmap refuses length 0; an empty map is valid */
        close(fd);
        return 0;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) return reef_fail(err, "%s: cannot map: %s", path, strerror(errno));
    map->data = p;
    map->size = (size_t)st.st_size;
    return 0;
}

void reef_unmap_file(reef_mapping *map)
{
    if (map->data) munmap((void *)map->data, map->size);
    map->data = NULL;
    map->size = 0;
}

int reef_same_file(const char *a, const char *b)
{
    if (!a || !b) return 0;
    if (!strcmp(a, b)) return 1;
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int reef_check_output_path(const char *path, reef_error *err)
{
    struct stat st;
    if (!*path) return reef_fail(err, "an empty output path");
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return reef_fail(err, "%s: is a folder, not a file (name the file to write)", path);
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    if (stat(dir, &st) != 0) return reef_fail(err, "%s: cannot write there: folder %s: %s", path, dir, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return reef_fail(err, "%s: cannot write there: %s is not a folder", path, dir);
    if (access(dir, W_OK | X_OK) != 0)
        return reef_fail(err, "%s: cannot write there: folder %s: %s", path, dir, strerror(errno));
    return 0;
}

int reef_atomic_open(reef_atomic_file *af, const char *path, reef_error *err)
{
    memset(af, 0, sizeof *af);
    if (snprintf(af->path, sizeof af->path, "%s", path) >= (int)sizeof af->path ||
        snprintf(af->tmp_path, sizeof af->tmp_path, "%s.tmp.XXXXXX", path) >= (int)sizeof af->tmp_path)
        return reef_fail(err, "%s: path too long", path);
    int fd = mkstemp(af->tmp_path);
    if (fd < 0) return reef_fail(err, "%s: cannot create: %s", path, strerror(errno));
    fchmod(fd, 0644);
    af->fp = fdopen(fd, "wb");
    if (!af->fp) {
        close(fd);
        unlink(af->tmp_path);
        return reef_fail(err, "%s: cannot open: %s", path, strerror(errno));
    }
    return 0;
}

int reef_atomic_finish(reef_atomic_file *af, reef_error *err)
{
    int failed = ferror(af->fp);
    if (fflush(af->fp) != 0) failed = 1;
    if (fclose(af->fp) != 0) failed = 1;
    af->fp = NULL;
    if (failed) {
        unlink(af->tmp_path);
        af->tmp_path[0] = 0;
        return reef_fail(err, "%s: write failed: %s", af->path, strerror(errno));
    }
    return 0;
}

int reef_atomic_commit(reef_atomic_file *af, reef_error *err)
{
    if (af->fp && reef_atomic_finish(af, err)) return -1;
    if (rename(af->tmp_path, af->path) != 0) {
        int e = errno;
        unlink(af->tmp_path);
        af->tmp_path[0] = 0;
        return reef_fail(err, "%s: cannot rename into place: %s", af->path, strerror(e));
    }
    af->tmp_path[0] = 0; /* renamed: nothing left for abort to remove */
    return 0;
}

void reef_atomic_abort(reef_atomic_file *af)
{
    if (af->fp) fclose(af->fp);
    af->fp = NULL;
    if (af->tmp_path[0]) unlink(af->tmp_path);
}

int reef_fwrite_all(FILE *fp, const void *data, size_t size, const char *path, reef_error *err)
{
    if (size && fwrite(data, 1, size, fp) != size)
        return reef_fail(err, "%s: write failed: %s", path, strerror(errno));
    return 0;
}

int reef_write_file(const char *path, const void *data, size_t size, reef_error *err)
{
    reef_atomic_file af;
    if (reef_atomic_open(&af, path, err)) return -1;
    if (reef_fwrite_all(af.fp, data, size, path, err)) {
        reef_atomic_abort(&af);
        return -1;
    }
    return reef_atomic_commit(&af, err);
}

double reef_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int reef_make_dirs(const char *path, reef_error *err)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return reef_fail(err, "path too long: %s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0777) && errno != EEXIST) return reef_fail(err, "cannot create %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0777) && errno != EEXIST) return reef_fail(err, "cannot create %s: %s", buf, strerror(errno));
    return 0;
}
