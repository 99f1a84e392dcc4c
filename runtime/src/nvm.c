/* NVM: the torn-write-safe double-buffered record and the memory-mapped
 * backend. The protocol and why it is safe: reef/nvm.h. */
#include "reef/nvm.h"

/* Header fields after the commit unit: seq, length, crc (little endian). */
enum { FIELDS_BYTES = 12, CHUNK = 64 };

static uint32_t round_up(uint32_t value, uint32_t unit) { return (value + unit - 1u) / unit * unit; }

/* The commit word gets a write unit of its own, at least 4 bytes. */
static uint32_t commit_unit(const reef_nvm *nvm) { return nvm->write_unit < 4u ? 4u : nvm->write_unit; }

uint32_t reef_nvm_record_header_size(const reef_nvm *nvm)
{
    return commit_unit(nvm) + round_up(FIELDS_BYTES, nvm->write_unit);
}

uint32_t reef_nvm_record_slot_size(const reef_nvm *nvm, uint32_t capacity)
{
    uint32_t bytes = reef_nvm_record_header_size(nvm) + round_up(capacity, nvm->write_unit);
    return nvm->erase_size ? round_up(bytes, nvm->erase_size) : round_up(bytes, 4u);
}

uint32_t reef_nvm_record_commit_bytes(const reef_nvm *nvm, uint32_t length)
{
    uint32_t bytes = reef_nvm_record_header_size(nvm) + round_up(length, nvm->write_unit);
    if (!nvm->erase_size) bytes += commit_unit(nvm); /* the invalidating write */
    return bytes;
}

/* CRC-32, 4 bits at a time: 64 bytes of table instead of 1 KB. */
uint32_t reef_crc32(uint32_t crc, const void *data, uint32_t bytes)
{
    static const uint32_t nibble[16] = {
        0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
        0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
        0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};
    const uint8_t *p = (const uint8_t *)data;
    crc = ~crc;
    while (bytes--) {
        crc ^= *p++;
        crc = (crc >> 4) ^ nibble[crc & 15u];
        crc = (crc >> 4) ^ nibble[crc & 15u];
    }
    return ~crc;
}

static void put_u32(uint8_t *dst, uint32_t value)
{
    dst[0] = (uint8_t)value;
    dst[1] = (uint8_t)(value >> 8);
    dst[2] = (uint8_t)(value >> 16);
    dst[3] = (uint8_t)(value >> 24);
}

static uint32_t get_u32(const uint8_t *src)
{
    return (uint32_t)src[0] | (uint32_t)src[1] << 8 | (uint32_t)src[2] << 16 | (uint32_t)src[3] << 24;
}

/* Is a newer than b, modulo 2^32? */
static int seq_newer(uint32_t a, uint32_t b) { return (int32_t)(a - b) > 0; }

static uint32_t slot_at(const reef_nvm_record *rec, int32_t slot)
{
    return rec->at + (uint32_t)slot * rec->slot_size;
}

/* CRC of (seq, length, payload) for the header fields and a payload still
 * in NVM at payload_at (read in chunks: no buffer of the payload's size). */
static reef_nvm_status crc_in_nvm(const reef_nvm *nvm, const uint8_t fields[8], uint32_t payload_at,
                                  uint32_t length, uint32_t *crc)
{
    uint8_t chunk[CHUNK];
    uint32_t c = reef_crc32(0, fields, 8);
    while (length) {
        uint32_t n = length < CHUNK ? length : CHUNK;
        if (nvm->read(nvm->ctx, payload_at, chunk, n)) return REEF_NVM_IO_ERROR;
        c = reef_crc32(c, chunk, n);
        payload_at += n;
        length -= n;
    }
    *crc = c;
    return REEF_NVM_OK;
}

/* *valid = 1 when the slot holds a complete record; then *seq, *length. */
static reef_nvm_status check_slot(const reef_nvm_record *rec, int32_t slot, int *valid, uint32_t *seq,
                                  uint32_t *length)
{
    const reef_nvm *nvm = rec->nvm;
    uint32_t at = slot_at(rec, slot), unit = commit_unit(nvm);
    uint32_t header = reef_nvm_record_header_size(nvm), crc;
    uint8_t word[4], fields[FIELDS_BYTES];
    reef_nvm_status status;
    *valid = 0;
    if (nvm->read(nvm->ctx, at, word, 4) || nvm->read(nvm->ctx, at + unit, fields, FIELDS_BYTES))
        return REEF_NVM_IO_ERROR;
    if (get_u32(word) != REEF_NVM_RECORD_MAGIC) return REEF_NVM_OK;
    *seq = get_u32(fields);
    *length = get_u32(fields + 4);
    if (*length > rec->slot_size - header) return REEF_NVM_OK;
    status = crc_in_nvm(nvm, fields, at + header, *length, &crc);
    if (status != REEF_NVM_OK) return status;
    *valid = crc == get_u32(fields + 8);
    return REEF_NVM_OK;
}

static int geometry_ok(const reef_nvm *nvm)
{
    uint32_t u = nvm->write_unit;
    if (!nvm->read || !nvm->write || (u != 1 && u != 2 && u != 4 && u != 8 && u != 16)) return 0;
    if (nvm->erase_size && (!nvm->erase || (nvm->erase_size & (nvm->erase_size - 1u)) ||
                            nvm->erase_size % u))
        return 0;
    return 1;
}

reef_nvm_status reef_nvm_record_init(reef_nvm_record *rec, const reef_nvm *nvm, uint32_t at,
                                     uint32_t slot_size)
{
    uint32_t align = nvm && nvm->erase_size ? nvm->erase_size : 4u;
    int32_t slot;
    if (!rec || !nvm || !geometry_ok(nvm)) return REEF_NVM_ARG_ERROR;
    if (at % align || slot_size % align || slot_size < reef_nvm_record_header_size(nvm) ||
        slot_size > nvm->size / 2u || at > nvm->size - 2u * slot_size)
        return REEF_NVM_ARG_ERROR;
    rec->nvm = nvm;
    rec->at = at;
    rec->slot_size = slot_size;
    rec->newest = -1;
    rec->newest_seq = 0;
    rec->newest_length = 0;
    for (slot = 0; slot < 2; slot++) {
        uint32_t seq = 0, length = 0;
        int valid;
        reef_nvm_status status = check_slot(rec, slot, &valid, &seq, &length);
        if (status != REEF_NVM_OK) return status;
        if (valid && (rec->newest < 0 || seq_newer(seq, rec->newest_seq))) {
            rec->newest = slot;
            rec->newest_seq = seq;
            rec->newest_length = length;
        }
    }
    return REEF_NVM_OK;
}

reef_nvm_status reef_nvm_record_load(const reef_nvm_record *rec, void *payload, uint32_t capacity,
                                     uint32_t *length, uint32_t *seq)
{
    const reef_nvm *nvm;
    if (!rec || !rec->nvm || !length) return REEF_NVM_ARG_ERROR;
    if (rec->newest < 0) return REEF_NVM_EMPTY;
    nvm = rec->nvm;
    if (rec->newest_length > capacity) return REEF_NVM_ARG_ERROR;
    if (rec->newest_length &&
        nvm->read(nvm->ctx, slot_at(rec, rec->newest) + reef_nvm_record_header_size(nvm), payload,
                  rec->newest_length))
        return REEF_NVM_IO_ERROR;
    *length = rec->newest_length;
    if (seq) *seq = rec->newest_seq;
    return REEF_NVM_OK;
}

/* Step 1: the target slot stops being valid before anything else moves. */
static int invalidate(const reef_nvm *nvm, uint32_t at, uint32_t slot_size)
{
    uint8_t zero[16] = {0};
    if (nvm->erase_size) return nvm->erase(nvm->ctx, at, slot_size);
    return nvm->write(nvm->ctx, at, zero, commit_unit(nvm));
}

/* Step 2: header fields and payload, whole write units, zero-padded. */
static int write_body(const reef_nvm *nvm, uint32_t at, uint32_t seq, const uint8_t *payload,
                      uint32_t length)
{
    uint32_t unit = nvm->write_unit, whole = length / unit * unit;
    uint32_t payload_at = at + reef_nvm_record_header_size(nvm);
    uint8_t fields[16] = {0}, tail[16] = {0};
    uint32_t i;
    put_u32(fields, seq);
    put_u32(fields + 4, length);
    put_u32(fields + 8, reef_crc32(reef_crc32(0, fields, 8), payload, length));
    if (nvm->write(nvm->ctx, at + commit_unit(nvm), fields, round_up(FIELDS_BYTES, unit))) return -1;
    if (whole && nvm->write(nvm->ctx, payload_at, payload, whole)) return -1;
    if (whole == length) return 0;
    for (i = whole; i < length; i++) tail[i - whole] = payload[i];
    return nvm->write(nvm->ctx, payload_at + whole, tail, unit);
}

reef_nvm_status reef_nvm_record_commit(reef_nvm_record *rec, const void *payload, uint32_t length)
{
    const reef_nvm *nvm;
    uint8_t word[16] = {0};
    int32_t target;
    uint32_t at, seq;
    if (!rec || !rec->nvm || (length && !payload)) return REEF_NVM_ARG_ERROR;
    nvm = rec->nvm;
    if (length > rec->slot_size - reef_nvm_record_header_size(nvm)) return REEF_NVM_ARG_ERROR;
    target = rec->newest == 0 ? 1 : 0;
    at = slot_at(rec, target);
    seq = rec->newest < 0 ? 1u : rec->newest_seq + 1u;
    if (invalidate(nvm, at, rec->slot_size)) return REEF_NVM_IO_ERROR;
    if (write_body(nvm, at, seq, (const uint8_t *)payload, length)) return REEF_NVM_IO_ERROR;
    put_u32(word, REEF_NVM_RECORD_MAGIC); /* step 3: the commit word, last */
    if (nvm->write(nvm->ctx, at, word, commit_unit(nvm))) return REEF_NVM_IO_ERROR;
    rec->newest = target;
    rec->newest_seq = seq;
    rec->newest_length = length;
    return REEF_NVM_OK;
}

/* ---- memory-mapped backend ------------------------------------------- */

static int mem_read(void *ctx, uint32_t at, void *dst, uint32_t bytes)
{
    const uint8_t *src = (const uint8_t *)ctx + at;
    uint8_t *out = (uint8_t *)dst;
    if (!(((uintptr_t)src | (uintptr_t)out | bytes) & 3u)) {
        const uint32_t *s = (const uint32_t *)(const void *)src;
        uint32_t *d = (uint32_t *)(void *)out, n = bytes / 4u;
        while (n--) *d++ = *s++;
        return 0;
    }
    while (bytes--) *out++ = *src++;
    return 0;
}

/* Volatile stores in address order: the order a failure can interrupt. */
static int mem_write(void *ctx, uint32_t at, const void *src, uint32_t bytes)
{
    volatile uint8_t *dst = (volatile uint8_t *)ctx + at;
    const uint8_t *in = (const uint8_t *)src;
    if (!(((uintptr_t)dst | (uintptr_t)in | bytes) & 3u)) {
        volatile uint32_t *d = (volatile uint32_t *)(volatile void *)dst;
        const uint32_t *s = (const uint32_t *)(const void *)in;
        uint32_t n = bytes / 4u;
        while (n--) *d++ = *s++;
    } else {
        while (bytes--) *dst++ = *in++;
    }
#if defined(__GNUC__)
    __asm__ volatile("" ::: "memory");
#endif
    return 0;
}

void reef_nvm_mem_init(reef_nvm *nvm, uint8_t *base, uint32_t size)
{
    nvm->ctx = base;
    nvm->size = size;
    nvm->write_unit = 1;
    nvm->erase_size = 0;
    nvm->read = mem_read;
    nvm->write = mem_write;
    nvm->erase = 0;
}
