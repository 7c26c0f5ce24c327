/*
 * A bounds-checked reader for the FlatBuffers that hold .tflite models (schema 3).
 * No flatbuffers runtime: every offset, vtable and vector read here is checked against
 * the buffer before use, so a hostile model yields "not present" or an error, never an
 * out-of-bounds read. All multi-byte reads are little-endian and alignment-free.
 */
#ifndef MF_READER_H
#define MF_READER_H

#include <stddef.h>
#include <stdint.h>

/* A validated table: its vtable and inline area lie inside the buffer. */
typedef struct {
    const uint8_t *buf;
    uint32_t len;
    uint32_t pos;        /* table start */
    uint32_t vt;         /* vtable start */
    uint16_t vt_size;    /* bytes of vtable (>= 4) */
    uint16_t tbl_size;   /* bytes of the table's inline area */
    uint8_t present;     /* 0: absent table (every field reads as its default) */
} mf_fbt_t;

/* A validated vector: count elements of elem_size bytes, all inside the buffer. */
typedef struct {
    const uint8_t *data; /* first element (unaligned) */
    uint32_t count;
    uint32_t pos;        /* offset of the first element within the buffer */
} mf_fbv_t;

typedef enum {
    MF_FB_OK = 0,
    MF_FB_ABSENT,        /* field not set: use the default */
    MF_FB_BAD,           /* offset/length out of range or otherwise malformed */
} mf_fb_status_t;

/* The root table (checks size, root offset and optional "TFL3" identifier). */
mf_fb_status_t mf_fb_root(const uint8_t *buf, size_t len, mf_fbt_t *root);

/* Scalars; a field that is absent, or whose bytes would lie outside the table, reads
 * as `def`. mf_fbt_field_ok tells the two apart when it matters. */
int mf_fbt_has(const mf_fbt_t *t, int field);
uint8_t mf_fbt_u8(const mf_fbt_t *t, int field, uint8_t def);
int8_t mf_fbt_i8(const mf_fbt_t *t, int field, int8_t def);
int32_t mf_fbt_i32(const mf_fbt_t *t, int field, int32_t def);
uint32_t mf_fbt_u32(const mf_fbt_t *t, int field, uint32_t def);
uint64_t mf_fbt_u64(const mf_fbt_t *t, int field, uint64_t def);
float mf_fbt_f32(const mf_fbt_t *t, int field, float def);

/* Sub-table; absent gives present = 0 and MF_FB_ABSENT. */
mf_fb_status_t mf_fbt_table(const mf_fbt_t *t, int field, mf_fbt_t *out);
/* Vector of scalars/structs of elem_size bytes; absent gives count 0 and MF_FB_ABSENT. */
mf_fb_status_t mf_fbt_vec(const mf_fbt_t *t, int field, uint32_t elem_size, mf_fbv_t *out);
/* Element i of a vector of tables. */
mf_fb_status_t mf_fbv_table(const mf_fbt_t *parent, const mf_fbv_t *v, uint32_t i, mf_fbt_t *out);

int32_t mf_fbv_i32(const mf_fbv_t *v, uint32_t i);

#endif /* MF_READER_H */
