/* The AVX2 scanner: 32 bytes per step; same classification as scan_sse42.c on 256-bit vectors.
 * Compiled with a target attribute, so the package needs no -m flags; chosen at run time (simd.c). */
#include "parse_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define SW_ISA avx2
#define SW_ISA_ATTR __attribute__((target("avx2")))

#include "ctype_simd.h" /* TCHAR_LO/HI, TARGET_LO/HI: nibble tables generated with ctype.c */

/* Bit i set when byte i cannot be in a request target (CT_TARGET): a control, SP, '"', '#', '<', '>', DEL or
 * non-ASCII. A nibble lookup, as for tokens, so the set is the generated one. */
SW_ISA_ATTR static inline unsigned target_mask(__m256i v) {
    const __m256i lo_tbl = _mm256_setr_epi8(TARGET_LO, TARGET_LO), hi_tbl = _mm256_setr_epi8(TARGET_HI, TARGET_HI);
    const __m256i nib = _mm256_set1_epi8(0x0F);
    __m256i lo = _mm256_shuffle_epi8(lo_tbl, _mm256_and_si256(v, nib));
    __m256i hi = _mm256_shuffle_epi8(hi_tbl, _mm256_and_si256(_mm256_srli_epi16(v, 4), nib));
    __m256i none = _mm256_cmpeq_epi8(_mm256_and_si256(lo, hi), _mm256_setzero_si256());
    return (unsigned)_mm256_movemask_epi8(none);
}

/* Bit i set when byte i is not HTAB, SP, VCHAR or obs-text: a control other than HTAB, or DEL. */
SW_ISA_ATTR static inline unsigned value_mask(__m256i v) {
    __m256i ctl = _mm256_cmpeq_epi8(_mm256_min_epu8(v, _mm256_set1_epi8(0x1F)), v);
    __m256i bad = _mm256_andnot_si256(_mm256_cmpeq_epi8(v, _mm256_set1_epi8(0x09)), ctl);
    bad = _mm256_or_si256(bad, _mm256_cmpeq_epi8(v, _mm256_set1_epi8(0x7F)));
    return (unsigned)_mm256_movemask_epi8(bad);
}

/* Bit i set when byte i is not a tchar. */
SW_ISA_ATTR static inline unsigned name_mask(__m256i v) {
    const __m256i lo_tbl = _mm256_setr_epi8(TCHAR_LO, TCHAR_LO), hi_tbl = _mm256_setr_epi8(TCHAR_HI, TCHAR_HI);
    const __m256i nib = _mm256_set1_epi8(0x0F);
    __m256i lo = _mm256_shuffle_epi8(lo_tbl, _mm256_and_si256(v, nib));
    __m256i hi = _mm256_shuffle_epi8(hi_tbl, _mm256_and_si256(_mm256_srli_epi16(v, 4), nib));
    __m256i none = _mm256_cmpeq_epi8(_mm256_and_si256(lo, hi), _mm256_setzero_si256());
    return (unsigned)_mm256_movemask_epi8(none);
}

/* The tail trick: when fewer than 32 bytes remain but the buffer holds 32 before `end`, load [end-32, end)
 * and drop the bits before p, so nothing is read outside the buffer and no scalar loop is needed. */
#define TAIL_SHIFT(p, end) ((unsigned)(32 - ((end) - (p))))

SW_ISA_ATTR static inline const char *find_target_end(const char *p, const char *end, const char *lo,
                                                      const char **q) {
    for (; end - p >= 32; p += 32) {
        __m256i v = _mm256_loadu_si256((const __m256i *)p);
        unsigned m = target_mask(v);
        if (*q == NULL) {
            unsigned qm = (unsigned)_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, _mm256_set1_epi8('?')));
            qm &= m ? (m & -m) - 1 : 0xFFFFFFFFu; /* only a '?' before the end counts */
            if (qm)
                *q = p + __builtin_ctz(qm);
        }
        if (m)
            return p + __builtin_ctz(m);
    }
    if (p == end)
        return end;
    if (end - lo >= 32) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(end - 32));
        unsigned s = TAIL_SHIFT(p, end);
        unsigned m = target_mask(v) >> s;
        if (*q == NULL) {
            unsigned qm = (unsigned)_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, _mm256_set1_epi8('?'))) >> s;
            qm &= m ? (m & -m) - 1 : 0xFFFFFFFFu;
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

/* T and V masks for the 64 bytes at p, two vectors of 32. */
SW_ISA_ATTR static inline void classify64(const char *p, uint64_t *t, uint64_t *v) {
    __m256i a = _mm256_loadu_si256((const __m256i *)p), b = _mm256_loadu_si256((const __m256i *)(p + 32));
    *t = (uint64_t)name_mask(a) | (uint64_t)name_mask(b) << 32;
    *v = (uint64_t)value_mask(a) | (uint64_t)value_mask(b) << 32;
}

#include "scan_window.h"
#include "parse_impl.h"

#endif
