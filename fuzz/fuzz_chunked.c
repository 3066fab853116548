/* libFuzzer target for the chunked decoder (Sources/CShockwave/chunked.c). Build and run from the repo root:
 *
 *   mkdir -p fuzz/build && /opt/swift/usr/bin/clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined \
 *       -ISources/CShockwave/include fuzz/fuzz_chunked.c Sources/CShockwave/chunked.c -o fuzz/build/fuzz_chunked
 *   fuzz/build/fuzz_chunked -max_total_time=600 fuzz/build/corpus fuzz/corpus/chunked
 *
 * Input: byte 0 picks the split point and the limits, the rest is the chunked stream. The stream is decoded
 * three ways, each piece in its own exactly-sized heap block so ASan sees any access outside it: in one call,
 * in two calls split where byte 0 says, and (for short inputs) one byte per call. The three must agree on the
 * result (error code, SW_INCOMPLETE, or the leftover count), the decoded bytes and the decoder's outputs; the
 * decoder's own invariants are checked too. Any disagreement aborts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sw_chunked.h"
#include "sw_parse.h"

typedef struct outcome {
    ptrdiff_t ret; /* SW_INCOMPLETE, an error, or the leftover count relative to the whole input */
    uint8_t *out;  /* decoded bytes, concatenated over the calls */
    size_t out_len;
    uint64_t body_len;
    uint32_t num_trailers;
    int done;
} outcome_t;

static void fail(const char *what) {
    fprintf(stderr, "fuzz_chunked: %s\n", what);
    abort();
}

static void setup(sw_chunked_decoder_t *d, uint8_t ctl) {
    /* Small limits on odd control bytes so the limit paths are reached with short inputs. */
    sw_chunked_init(d, ctl & 1 ? 300 : 0);
    if (ctl & 1) {
        d->max_ext = 16;
        d->max_trailers = 64;
        d->max_trailer_fields = 3;
    }
}

/* Feeds [in, in + n) in pieces ending at cuts[0], cuts[1], ... (ascending), then the rest. */
static void decode(const uint8_t *in, size_t n, const size_t *cuts, size_t ncuts, uint8_t ctl, outcome_t *o) {
    sw_chunked_decoder_t d;
    setup(&d, ctl);
    o->out = malloc(n ? n : 1);
    o->out_len = 0;
    o->ret = SW_INCOMPLETE;
    size_t start = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t stop = i < ncuts ? cuts[i] : n;
        size_t len = stop - start;
        uint8_t *piece = malloc(len ? len : 1);
        memcpy(piece, in + start, len);
        size_t piece_len = len;
        ptrdiff_t ret = sw_chunked_decode(&d, piece, &piece_len);
        if (piece_len > len)
            fail("decoded more bytes than given");
        if (ret >= 0 && (size_t)ret > len - piece_len)
            fail("leftover overlaps the decoded bytes");
        if (ret >= 0 && memcmp(piece + len - (size_t)ret, in + stop - (size_t)ret, (size_t)ret) != 0)
            fail("leftover bytes were modified");
        if (ret < SW_E_BODY_TOO_LARGE ||
            (ret < SW_INCOMPLETE && ret > SW_E_BAD_CHUNK_SIZE && ret != SW_E_BARE_CR && ret != SW_E_BARE_LF))
            fail("unexpected return code");
        if (sw_chunked_done(&d) != (ret >= 0))
            fail("sw_chunked_done disagrees with the return value");
        memcpy(o->out + o->out_len, piece, piece_len);
        o->out_len += piece_len;
        free(piece);
        if (ret != SW_INCOMPLETE) {
            /* A dead or finished decoder must say so again and decode nothing. */
            uint8_t again[1] = {'0'};
            size_t again_len = 1;
            ptrdiff_t ret2 = sw_chunked_decode(&d, again, &again_len);
            if (again_len != 0 || ret2 != (ret >= 0 ? 1 : ret))
                fail("decoder not sticky after the end or an error");
            o->ret = ret >= 0 ? ret + (ptrdiff_t)(n - stop) : ret;
            break;
        }
        start = stop;
    }
    o->body_len = d.body_len;
    o->num_trailers = d.num_trailers;
    o->done = sw_chunked_done(&d);
    if (o->body_len != o->out_len)
        fail("body_len is not the number of decoded bytes");
    if ((ctl & 1) && o->body_len > 300)
        fail("max_body exceeded");
}

static void compare(const outcome_t *a, const outcome_t *b, const char *what) {
    if (a->ret != b->ret || a->out_len != b->out_len || memcmp(a->out, b->out, a->out_len) != 0 ||
        a->body_len != b->body_len || a->num_trailers != b->num_trailers || a->done != b->done) {
        fprintf(stderr, "one call: ret %td, %zu bytes; %s: ret %td, %zu bytes\n", a->ret, a->out_len, what, b->ret,
                b->out_len);
        fail("split decode disagrees with the one-call decode");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0)
        return 0;
    uint8_t ctl = data[0];
    const uint8_t *in = data + 1;
    size_t n = size - 1;

    outcome_t whole, split;
    decode(in, n, NULL, 0, ctl, &whole);

    size_t cut = (size_t)(ctl >> 1) * (n + 1) / 128; /* 0 .. n */
    decode(in, n, &cut, 1, ctl, &split);
    compare(&whole, &split, "two calls");
    free(split.out);

    if (n <= 4096) {
        size_t *cuts = malloc((n ? n : 1) * sizeof *cuts);
        for (size_t i = 0; i + 1 < n; i++)
            cuts[i] = i + 1;
        decode(in, n, cuts, n ? n - 1 : 0, ctl, &split);
        compare(&whole, &split, "one byte per call");
        free(split.out);
        free(cuts);
    }
    free(whole.out);
    return 0;
}
