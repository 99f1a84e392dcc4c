/* QEMU TCG plugin: exact executed-instruction counts for reef's Cortex-M4
 * firmware, in total, per class (for the cycle model) and at every marker
 * call, so the host can cut them into regions (inferences, steps).
 *
 *   qemu-system-arm ... -plugin libreef_qemu_insn.so,out=FILE,begin=ADDR,end=ADDR,step=ADDR
 *
 * ADDR are the entry addresses of reef_mark_inference_begin/_end and
 * reef_mark_step (from the ELF symbol table, Thumb bit cleared).
 *
 * Counting: each translated block (TB) is classified once at translation
 * (src/firmware/thumb.c); at execution, inline adds bump the class counters
 * (no helper call). Every TB also gets one cheap callback that (1) tells
 * whether the conditional branch ending the previous TB was taken (the next
 * TB does not start at its fall-through address) and (2) on marker entry
 * records a snapshot of all counters. Marker TBs are counted inside that
 * callback, after the snapshot, so a marker's own instructions belong to
 * the region it opens whatever order QEMU runs inline ops and callbacks.
 *
 * Output (text; written when QEMU exits):
 *   reef-qemu-insn 1
 *   classes total alu load ...
 *   mark b|e|s COUNT COUNT ...     one line per marker entry, in order
 *   final COUNT COUNT ...
 * Single vCPU (mps2-an386), so the non-atomic inline adds are exact.
 *
 * Data reads from flash (flash=START:END, default the STM32L4R5's 2 MB at
 * 0, where qemu-m4 links it) are counted by a memory callback on load
 * instructions, and run through a small LRU cache model (8 lines of 32
 * bytes, the ART data cache's shape) to count misses.
 *
 * Power failure (fail_at=N, issue 13): every instruction also gets a
 * callback that counts it before it runs; the one that would be number
 * N + 1 ends the process at once (_exit, status REEF_PLUGIN_POWER_FAIL):
 * exactly N instructions ran, the last store among them included, and
 * nothing after. Whatever the guest wrote to a file-backed memory
 * (-object memory-backend-file,share=on) is what survived; the counts file
 * is not written. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <qemu-plugin.h>

#include "firmware/insn_class.h"
#include "firmware/thumb.h"

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

enum { MARK_NONE = 0, MARK_BEGIN = 'b', MARK_END = 'e', MARK_STEP = 's' };

typedef struct tb_info {
    uint64_t vaddr;
    uint64_t cond_fallthrough; /* fall-through address if the TB ends in a conditional branch, else 0 */
    int mark;                  /* MARK_* when the TB starts at a marker */
    uint64_t counts[REEF_INSN_CLASS_COUNT]; /* marker TBs: counted by the callback */
} tb_info;

typedef struct snapshot {
    int mark;
    uint64_t counts[REEF_INSN_CLASS_COUNT];
} snapshot;

static uint64_t counters[REEF_INSN_CLASS_COUNT];
static uint64_t pending_fallthrough; /* 0: the previous TB ended unconditionally */
static uint64_t mark_addr[3];
static const int mark_kind[3] = {MARK_BEGIN, MARK_END, MARK_STEP};
static char *out_path;
static uint64_t flash_start = 0, flash_end = 2u * 1024u * 1024u;
static uint64_t fail_at, executed; /* fail_at 0: no failure */
enum { REEF_PLUGIN_POWER_FAIL = 75 };

/* The modeled flash data cache: 8 lines of 32 bytes, least recently used
 * out. lines[0] is the most recent; UINT64_MAX marks an empty line. */
enum { DCACHE_LINES = 8, DCACHE_LINE_SHIFT = 5 };
static uint64_t dcache[DCACHE_LINES] = {UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX,
                                        UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX};

static void on_load(unsigned int vcpu, qemu_plugin_meminfo_t info, uint64_t vaddr, void *udata)
{
    (void)vcpu;
    (void)udata;
    if (qemu_plugin_mem_is_store(info) || vaddr < flash_start || vaddr >= flash_end) return;
    counters[REEF_INSN_FLASH_READS]++;
    uint64_t line = vaddr >> DCACHE_LINE_SHIFT;
    int hit = 0;
    while (hit < DCACHE_LINES && dcache[hit] != line) hit++;
    if (hit == DCACHE_LINES) {
        counters[REEF_INSN_FLASH_MISSES]++;
        hit = DCACHE_LINES - 1;
    }
    for (int i = hit; i > 0; i--) dcache[i] = dcache[i - 1];
    dcache[0] = line;
}

static int reads_memory(int cls)
{
    return cls == REEF_INSN_LOAD || cls == REEF_INSN_LOAD_PIPELINED || cls == REEF_INSN_LDM ||
           cls == REEF_INSN_TABLE_BRANCH;
}
static snapshot *snapshots;
static size_t snapshot_count, snapshot_cap;

static void record_snapshot(int mark)
{
    if (snapshot_count == snapshot_cap) {
        size_t cap = snapshot_cap ? snapshot_cap * 2 : 1024;
        snapshot *grown = realloc(snapshots, cap * sizeof *grown);
        if (!grown) {
            fprintf(stderr, "reef-qemu-insn: out of memory for marker snapshots\n");
            exit(97);
        }
        snapshots = grown;
        snapshot_cap = cap;
    }
    snapshots[snapshot_count].mark = mark;
    memcpy(snapshots[snapshot_count].counts, counters, sizeof counters);
    snapshot_count++;
}

static void on_insn_exec(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    (void)udata;
    if (++executed > fail_at) _exit(REEF_PLUGIN_POWER_FAIL);
}

static void on_tb_exec(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    const tb_info *tb = udata;
    if (pending_fallthrough && tb->vaddr != pending_fallthrough) counters[REEF_INSN_BRANCH_TAKEN]++;
    pending_fallthrough = tb->cond_fallthrough;
    if (tb->mark) {
        record_snapshot(tb->mark);
        for (int c = 0; c < REEF_INSN_CLASS_COUNT; c++) counters[c] += tb->counts[c];
    }
}

/* Classifies every instruction of the TB into counts (per class). */
static void classify_tb(struct qemu_plugin_tb *tb, tb_info *info)
{
    size_t n = qemu_plugin_tb_n_insns(tb);
    int it_left = 0, prev_single_load = 0;
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        reef_thumb_insn t;
        if (reef_thumb_classify(qemu_plugin_insn_data(insn), qemu_plugin_insn_size(insn), &t)) {
            t.cls = REEF_INSN_ALU; /* cannot happen for Thumb; count it anyway */
            t.regs = t.single_load = t.single_access = t.pc_load = t.it_count = t.writes_pc = 0;
        }
        int in_it = it_left > 0;
        if (in_it) it_left--;
        int cls = t.cls;
        if (cls == REEF_INSN_BRANCH && in_it) cls = REEF_INSN_BRANCH_COND;
        if (cls == REEF_INSN_LOAD && prev_single_load) cls = REEF_INSN_LOAD_PIPELINED;
        info->counts[cls]++;
        info->counts[REEF_INSN_TOTAL]++;
        if (cls == REEF_INSN_LDM) info->counts[REEF_INSN_LDM_REGS] += (uint64_t)t.regs;
        if (cls == REEF_INSN_STM) info->counts[REEF_INSN_STM_REGS] += (uint64_t)t.regs;
        if (t.pc_load) info->counts[REEF_INSN_PC_LOAD]++;
        if (t.it_count) it_left = t.it_count;
        prev_single_load = t.single_load;
        if (reads_memory(cls) || t.pc_load)
            /* QEMU 7.2 never calls callbacks registered for QEMU_PLUGIN_MEM_R
             * alone (checked here), so take reads and writes and filter */
            qemu_plugin_register_vcpu_mem_cb(insn, on_load, QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_MEM_RW, NULL);
        if (fail_at) qemu_plugin_register_vcpu_insn_exec_cb(insn, on_insn_exec, QEMU_PLUGIN_CB_NO_REGS, NULL);
        if (i == n - 1 && cls == REEF_INSN_BRANCH_COND)
            info->cond_fallthrough = qemu_plugin_insn_vaddr(insn) + (uint64_t)t.size;
    }
}

static void on_tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    /* One record per translation; TBs are few (thousands), never freed. */
    tb_info *info = calloc(1, sizeof *info);
    if (!info) {
        fprintf(stderr, "reef-qemu-insn: out of memory\n");
        exit(97);
    }
    info->vaddr = qemu_plugin_tb_vaddr(tb);
    for (int m = 0; m < 3; m++)
        if (mark_addr[m] && info->vaddr == mark_addr[m]) info->mark = mark_kind[m];
    classify_tb(tb, info);
    qemu_plugin_register_vcpu_tb_exec_cb(tb, on_tb_exec, QEMU_PLUGIN_CB_NO_REGS, info);
    if (info->mark) return;
    for (int c = 0; c < REEF_INSN_CLASS_COUNT; c++)
        if (info->counts[c])
            qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &counters[c], info->counts[c]);
}

static void write_counts(FILE *fp, const uint64_t *counts)
{
    for (int c = 0; c < REEF_INSN_CLASS_COUNT; c++) fprintf(fp, " %" PRIu64, counts[c]);
    fputc('\n', fp);
}

/* Writes to a temporary and renames, so a killed QEMU leaves no file. */
static void on_exit_write(qemu_plugin_id_t id, void *udata)
{
    (void)id;
    (void)udata;
    if (!out_path) return;
    size_t len = strlen(out_path) + 8;
    char *tmp = malloc(len);
    if (!tmp) return;
    snprintf(tmp, len, "%s.part", out_path);
    FILE *fp = fopen(tmp, "w");
    if (!fp) {
        fprintf(stderr, "reef-qemu-insn: cannot write %s\n", tmp);
        free(tmp);
        return;
    }
    fprintf(fp, "reef-qemu-insn 1\nclasses");
    for (int c = 0; c < REEF_INSN_CLASS_COUNT; c++) fprintf(fp, " %s", reef_insn_class_name(c));
    fputc('\n', fp);
    for (size_t i = 0; i < snapshot_count; i++) {
        fprintf(fp, "mark %c", snapshots[i].mark);
        write_counts(fp, snapshots[i].counts);
    }
    fprintf(fp, "final");
    write_counts(fp, counters);
    if (fclose(fp) == 0) rename(tmp, out_path);
    free(tmp);
}

static int parse_arg(const char *arg)
{
    static const char *const keys[3] = {"begin=", "end=", "step="};
    if (!strncmp(arg, "flash=", 6)) {
        char *end;
        flash_start = strtoull(arg + 6, &end, 0);
        if (*end != ':') return -1;
        flash_end = strtoull(end + 1, &end, 0);
        return *end || flash_end <= flash_start ? -1 : 0;
    }
    if (!strncmp(arg, "fail_at=", 8)) {
        char *end;
        fail_at = strtoull(arg + 8, &end, 0);
        return *end || !fail_at ? -1 : 0;
    }
    if (!strncmp(arg, "out=", 4)) {
        out_path = strdup(arg + 4);
        return out_path ? 0 : -1;
    }
    for (int m = 0; m < 3; m++) {
        size_t k = strlen(keys[m]);
        if (!strncmp(arg, keys[m], k)) {
            char *end;
            mark_addr[m] = strtoull(arg + k, &end, 0) & ~1ull; /* clear the Thumb bit */
            return *end ? -1 : 0;
        }
    }
    return -1;
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    if (strcmp(info->target_name, "arm") != 0) {
        fprintf(stderr, "reef-qemu-insn: wants qemu-system-arm, not %s\n", info->target_name);
        return -1;
    }
    for (int i = 0; i < argc; i++) {
        if (parse_arg(argv[i])) {
            fprintf(stderr, "reef-qemu-insn: bad argument '%s' (out=FILE, begin=, end=, step=ADDR, flash=START:END, fail_at=N)\n", argv[i]);
            return -1;
        }
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb_trans);
    qemu_plugin_register_atexit_cb(id, on_exit_write, NULL);
    return 0;
}
