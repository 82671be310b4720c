// deflateInit2/inflateInit2 are macros in zlib.h, which Swift cannot call: wrap them. No logic here.
#pragma once
#include <zlib.h>

static inline int herald_zlib_deflate_init2(z_streamp strm, int level, int window_bits, int mem_level) {
    return deflateInit2(strm, level, Z_DEFLATED, window_bits, mem_level, Z_DEFAULT_STRATEGY);
}
static inline int herald_zlib_inflate_init2(z_streamp strm, int window_bits) {
    return inflateInit2(strm, window_bits);
}
