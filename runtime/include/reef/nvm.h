/* reef runtime: non-volatile memory (NVM) and a torn-write-safe record.
 *
 * NVM is whatever survives a power failure: an emulated region of the
 * emulated board (or any memory-mapped FRAM, as on the MSP430FR), an SPI
 * FRAM beside the MCU (targets/stm32l4r5/fram.c), or internal flash. A
 * backend is three hooks over byte addresses [0, size):
 *
 *   read(ctx, at, dst, bytes)    copy out
 *   write(ctx, at, src, bytes)   at and bytes are multiples of write_unit;
 *                                returns only when the data is durable
 *   erase(ctx, at, bytes)        only when erase_size > 0 (flash): sets
 *                                whole pages to 0xFF before they can be
 *                                written again; NULL otherwise
 *
 * All return 0, or nonzero when the device failed (the caller gives up).
 *
 * The record. A small value (the progress of an inference, a model
 * version...) that must move from old to new atomically across a power
 * failure that can strike after any byte or word written, even tearing the
 * word being written. Two slots; each holds
 *
 *   [commit word: MAGIC][seq][length][crc32(seq, length, payload)][payload]
 *
 * in write units of their own. A commit goes to the slot that does NOT
 * hold the newest valid record, in this order:
 *   1. invalidate that slot: erase its pages (flash) or zero its commit
 *      word (FRAM);
 *   2. write seq = newest + 1, length, crc and the payload;
 *   3. write the commit word MAGIC, last.
 * A slot counts only if its commit word is MAGIC and its CRC matches. The
 * commit word is written in one unit, after everything it vouches for, so
 * until step 3 completes the slot is invalid and the other slot (the old
 * record) wins; a torn commit word is not MAGIC (each of its bits is old
 * or new, and the old value is 0 or 0xFF..., never MAGIC), so the slot
 * stays invalid; once it is complete the new record wins by its sequence
 * number. The CRC is a second line of defence (bit rot, a backend that
 * reorders writes), not the one the argument rests on. Sequence numbers
 * compare serially, so wrapping around 2^32 is harmless.
 *
 * Wear: each commit writes one slot, so each slot takes half the commits;
 * FRAM (1e14 cycles) does not care; flash does (docs/intermittent.md).
 *
 * C99, freestanding: no malloc, no stdio.
 */
#ifndef REEF_RT_NVM_H
#define REEF_RT_NVM_H

#include <stdint.h>

typedef struct reef_nvm {
    void *ctx;
    uint32_t size;       /* bytes addressable */
    uint32_t write_unit; /* 1, 2, 4, 8 or 16: writes are multiples of it, aligned */
    uint32_t erase_size; /* 0: writes overwrite in place; else the page size (a power of two) */
    int (*read)(void *ctx, uint32_t at, void *dst, uint32_t bytes);
    int (*write)(void *ctx, uint32_t at, const void *src, uint32_t bytes);
    int (*erase)(void *ctx, uint32_t at, uint32_t bytes);
} reef_nvm;

typedef enum reef_nvm_status {
    REEF_NVM_OK = 0,
    REEF_NVM_EMPTY = 1,      /* no valid record yet (first boot): not an error */
    REEF_NVM_ARG_ERROR = -1, /* bad geometry, payload too large, misaligned */
    REEF_NVM_IO_ERROR = -2   /* a backend hook failed */
} reef_nvm_status;

#define REEF_NVM_RECORD_MAGIC 0x52454631u /* "REF1" */

/* Two slots of slot_size bytes each at [at, at + 2 * slot_size). The
 * last three fields cache what init found (and each commit changes), so a
 * commit does not re-read both slots. */
typedef struct reef_nvm_record {
    const reef_nvm *nvm;
    uint32_t at;
    uint32_t slot_size;
    int32_t newest;      /* slot of the newest valid record, or -1 */
    uint32_t newest_seq; /* its sequence number */
    uint32_t newest_length;
} reef_nvm_record;

/* Bytes of header in front of the payload in a slot, for this backend. */
uint32_t reef_nvm_record_header_size(const reef_nvm *nvm);

/* Smallest slot_size holding capacity payload bytes (rounded to the write
 * unit and, on flash, to whole pages). */
uint32_t reef_nvm_record_slot_size(const reef_nvm *nvm, uint32_t capacity);

/* Checks the geometry (alignment, bounds) and finds the newest valid
 * record (reading both slots). Call it after every boot. */
reef_nvm_status reef_nvm_record_init(reef_nvm_record *rec, const reef_nvm *nvm, uint32_t at,
                                     uint32_t slot_size);

/* Reads the newest valid record into payload (capacity bytes); *length
 * gets its length and *seq (may be NULL) its sequence number. Returns
 * REEF_NVM_EMPTY when neither slot is valid. */
reef_nvm_status reef_nvm_record_load(const reef_nvm_record *rec, void *payload, uint32_t capacity,
                                     uint32_t *length, uint32_t *seq);

/* Makes payload (length bytes) the newest record, atomically: after a
 * failure anywhere inside, init + load give either the previous record or
 * this one. */
reef_nvm_status reef_nvm_record_commit(reef_nvm_record *rec, const void *payload,
                                       uint32_t length);

/* Bytes the backend writes for one commit of length bytes (a cost model:
 * header + payload + commit word, each rounded up to the write unit; plus
 * the invalidating word on FRAM). Erased bytes are not counted. */
uint32_t reef_nvm_record_commit_bytes(const reef_nvm *nvm, uint32_t length);

/* CRC-32 (IEEE 802.3, reflected 0xEDB88320), continuing from crc (start
 * with 0). */
uint32_t reef_crc32(uint32_t crc, const void *data, uint32_t bytes);

/* ---- the emulated / memory-mapped backend ---------------------------- */
/* NVM that the CPU addresses directly: a region of the emulated board that
 * survives an injected failure (targets/qemu-m4), a host array (tests), or
 * memory-mapped FRAM. Writes go word by word when aligned, through
 * volatile stores in address order, so a failure between two instructions
 * leaves a prefix of the write done. */
void reef_nvm_mem_init(reef_nvm *nvm, uint8_t *base, uint32_t size);

#endif
