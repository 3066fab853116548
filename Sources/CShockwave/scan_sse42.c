/* The SSE4.2-level scanner: 16 bytes per step with SSE2 compares and an SSSE3 nibble lookup for tokens.
 * Compiled with a target attribute, so the package needs no -m flags; chosen at run time (simd.c). */
#include "parse_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define SW_ISA sse42
#define SW_ISA_ATTR __attribute__((target("sse4.2")))

#include "ctype_simd.h" /* TCHAR_LO/HI, TARGET_LO/HI: nibble tables generated with ctype.c */

/* Bit i set when byte i cannot be in a request target (CT_TARGET): a control, SP, '"', '#', '<', '>', DEL or
 * non-ASCII. A nibble lookup, as for tokens, so the set is the generated one. */
SW_ISA_ATTR static inline unsigned target_mask(__m128i v) {
    const __m128i lo_tbl = _mm_setr_epi8(TARGET_LO), hi_tbl = _mm_setr_epi8(TARGET_HI), nib = _mm_set1_epi8(0x0F);
    __m128i lo = _mm_shuffle_epi8(lo_tbl, _mm_and_si128(v, nib));
    __m128i hi = _mm_shuffle_epi8(hi_tbl, _mm_and_si128(_mm_srli_epi16(v, 4), nib));
    __m128i none = _mm_cmpeq_epi8(_mm_and_si128(lo, hi), _mm_setzero_si128());
    return (unsigned)_mm_movemask_epi8(none);
}

/* Bit i set when byte i is not HTAB, SP, VCHAR or obs-text: a control other than HTAB, or DEL. */
SW_ISA_ATTR static inline unsigned value_mask(__m128i v) {
    __m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1F)), v);
    __m128i bad = _mm_andnot_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(0x09)), ctl);
    bad = _mm_or_si128(bad, _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7F)));
    return (unsigned)_mm_movemask_epi8(bad);
}

/* Bit i set when byte i is not a tchar. */
SW_ISA_ATTR static inline unsigned name_mask(__m128i v) {
    const __m128i lo_tbl = _mm_setr_epi8(TCHAR_LO), hi_tbl = _mm_setr_epi8(TCHAR_HI), nib = _mm_set1_epi8(0x0F);
    __m128i lo = _mm_shuffle_epi8(lo_tbl, _mm_and_si128(v, nib));
    __m128i hi = _mm_shuffle_epi8(hi_tbl, _mm_and_si128(_mm_srli_epi16(v, 4), nib));
    __m128i none = _mm_cmpeq_epi8(_mm_and_si128(lo, hi), _mm_setzero_si128());
    return (unsigned)_mm_movemask_epi8(none);
}

/* The tail trick: when fewer than 16 bytes remain but the buffer holds 16 before `end`, load [end-16, end)
 * and drop the bits before p, so nothing is read outside the buffer and no scalar loop is needed. */
#define TAIL_SHIFT(p, end) ((unsigned)(16 - ((end) - (p))))

SW_ISA_ATTR static inline const char *find_target_end(const char *p, const char *end, const char *lo,
                                                      const char **q) {
    for (; end - p >= 16; p += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)p);
        unsigned m = target_mask(v);
        if (*q == NULL) {
            unsigned qm = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('?')));
            qm &= m ? (m & -m) - 1 : 0xFFFFu; /* only a '?' before the end counts */
            if (qm)
                *q = p + __builtin_ctz(qm);
        }
        if (m)
            return p + __builtin_ctz(m);
    }
    if (p == end)
        return end;
    if (end - lo >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(end - 16));
        unsigned s = TAIL_SHIFT(p, end);
        unsigned m = target_mask(v) >> s;
        if (*q == NULL) {
            unsigned qm = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('?'))) >> s;
            qm &= m ? (m & -m) - 1 : 0xFFFFu;
            if (qm)
                *q = p + __builtin_ctz(qm);
        }
        return m ? p + __builtin_ctz(m) : end;
    }
    for (; p < end; p++) {
        if (!(sw__ctype[(uint8_t)*p] & CT_TARGET))
            return p;
        if (*p == '?' && *q == NULL)
            *q = p;
    }
    return end;
}

/* T and V masks for the 64 bytes at p, four vectors of 16. */
SW_ISA_ATTR static inline void classify64(const char *p, uint64_t *t, uint64_t *v) {
    uint64_t tm = 0, vm = 0;
    for (int i = 0; i < 4; i++) {
        __m128i x = _mm_loadu_si128((const __m128i *)(p + 16 * i));
        tm |= (uint64_t)name_mask(x) << (16 * i);
        vm |= (uint64_t)value_mask(x) << (16 * i);
    }
    *t = tm;
    *v = vm;
}

#include "scan_window.h"
#include "parse_impl.h"

#endif
