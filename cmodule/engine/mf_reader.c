/* Bounds-checked FlatBuffers reader; see mf_reader.h. */
#include "mf_reader.h"

static uint32_t rd_u32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint16_t rd_u16(const uint8_t *p) {
    return (uint16_t)(p[0] | (p[1] << 8));
}

/* Validates the table at `pos` and fills *t. */
static mf_fb_status_t table_at(const uint8_t *buf, uint32_t len, uint32_t pos, mf_fbt_t *t) {
    t->present = 0;
    t->buf = buf;
    t->len = len;
    if ((uint64_t)pos + 4 > len) {
        return MF_FB_BAD;
    }
    int64_t vt = (int64_t)pos - (int64_t)(int32_t)rd_u32(buf + pos);
    if (vt < 0 || vt + 4 > (int64_t)len) {
        return MF_FB_BAD;
    }
    uint16_t vt_size = rd_u16(buf + vt);
    uint16_t tbl_size = rd_u16(buf + vt + 2);
    if (vt_size < 4 || (vt_size & 1) || vt + vt_size > (int64_t)len ||
        tbl_size < 4 || (uint64_t)pos + tbl_size > len) {
        return MF_FB_BAD;
    }
    t->pos = pos;
    t->vt = (uint32_t)vt;
    t->vt_size = vt_size;
    t->tbl_size = tbl_size;
    t->present = 1;
    return MF_FB_OK;
}

mf_fb_status_t mf_fb_root(const uint8_t *buf, size_t len, mf_fbt_t *root) {
    root->present = 0;
    root->buf = buf;
    root->len = 0;
    /* Offsets are 32-bit; larger buffers cannot be addressed by this schema anyway. */
    if (len < 8 || len > 0x7fffffffu) {
        return MF_FB_BAD;
    }
    return table_at(buf, (uint32_t)len, rd_u32(buf), root);
}

/* Byte offset of field `field` within the buffer if it is set and `size` bytes fit in
 * the table, else 0 (a field can never start at buffer offset 0: the root offset is there). */
static uint32_t field_pos(const mf_fbt_t *t, int field, uint32_t size) {
    if (!t->present || field < 0) {
        return 0;
    }
    uint32_t slot = 4u + 2u * (uint32_t)field;
    if (slot + 2 > t->vt_size) {
        return 0;
    }
    uint16_t off = rd_u16(t->buf + t->vt + slot);
    if (off == 0 || (uint32_t)off + size > t->tbl_size) {
        return 0;
    }
    return t->pos + off;
}

int mf_fbt_has(const mf_fbt_t *t, int field) {
    return field_pos(t, field, 1) != 0;
}

uint8_t mf_fbt_u8(const mf_fbt_t *t, int field, uint8_t def) {
    uint32_t p = field_pos(t, field, 1);
    return p ? t->buf[p] : def;
}

int8_t mf_fbt_i8(const mf_fbt_t *t, int field, int8_t def) {
    uint32_t p = field_pos(t, field, 1);
    return p ? (int8_t)t->buf[p] : def;
}

uint32_t mf_fbt_u32(const mf_fbt_t *t, int field, uint32_t def) {
    uint32_t p = field_pos(t, field, 4);
    return p ? rd_u32(t->buf + p) : def;
}

int32_t mf_fbt_i32(const mf_fbt_t *t, int field, int32_t def) {
    uint32_t p = field_pos(t, field, 4);
    return p ? (int32_t)rd_u32(t->buf + p) : def;
}

uint64_t mf_fbt_u64(const mf_fbt_t *t, int field, uint64_t def) {
    uint32_t p = field_pos(t, field, 8);
    return p ? ((uint64_t)rd_u32(t->buf + p) | ((uint64_t)rd_u32(t->buf + p + 4) << 32)) : def;
}

float mf_fbt_f32(const mf_fbt_t *t, int field, float def) {
    uint32_t p = field_pos(t, field, 4);
    if (!p) {
        return def;
    }
    uint32_t u = rd_u32(t->buf + p);
    float f;
    uint8_t *d = (uint8_t *)&f;
    const uint8_t *s = (const uint8_t *)&u;
    for (int i = 0; i < 4; i++) {
        d[i] = s[i];
    }
    return f;
}

/* Follows the offset stored in field `field`; *target is the referenced position. */
static mf_fb_status_t follow(const mf_fbt_t *t, int field, uint32_t *target) {
    uint32_t p = field_pos(t, field, 4);
    if (!p) {
        return MF_FB_ABSENT;
    }
    uint64_t tgt = (uint64_t)p + rd_u32(t->buf + p);
    if (tgt + 4 > t->len) {
        return MF_FB_BAD;
    }
    *target = (uint32_t)tgt;
    return MF_FB_OK;
}

mf_fb_status_t mf_fbt_table(const mf_fbt_t *t, int field, mf_fbt_t *out) {
    uint32_t tgt;
    mf_fb_status_t st = follow(t, field, &tgt);
    if (st != MF_FB_OK) {
        out->present = 0;
        out->buf = t->buf;
        out->len = t->len;
        return st;
    }
    return table_at(t->buf, t->len, tgt, out);
}

mf_fb_status_t mf_fbt_vec(const mf_fbt_t *t, int field, uint32_t elem_size, mf_fbv_t *out) {
    out->data = 0;
    out->count = 0;
    out->pos = 0;
    uint32_t tgt;
    mf_fb_status_t st = follow(t, field, &tgt);
    if (st != MF_FB_OK) {
        return st;
    }
    uint32_t count = rd_u32(t->buf + tgt);
    if ((uint64_t)tgt + 4 + (uint64_t)count * elem_size > t->len) {
        return MF_FB_BAD;
    }
    out->data = t->buf + tgt + 4;
    out->count = count;
    out->pos = tgt + 4;
    return MF_FB_OK;
}

mf_fb_status_t mf_fbv_table(const mf_fbt_t *parent, const mf_fbv_t *v, uint32_t i, mf_fbt_t *out) {
    out->present = 0;
    out->buf = parent->buf;
    out->len = parent->len;
    if (i >= v->count) {
        return MF_FB_BAD;
    }
    uint32_t at = v->pos + 4u * i;
    uint64_t tgt = (uint64_t)at + rd_u32(parent->buf + at);
    if (tgt > parent->len) {
        return MF_FB_BAD;
    }
    return table_at(parent->buf, parent->len, (uint32_t)tgt, out);
}

int32_t mf_fbv_i32(const mf_fbv_t *v, uint32_t i) {
    return (int32_t)rd_u32(v->data + 4u * i);
}
