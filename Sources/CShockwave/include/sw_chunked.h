/* Chunked transfer coding decoder (RFC 9112 7.1): streaming, in place, never allocates. */
#ifndef SW_CHUNKED_H
#define SW_CHUNKED_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SW_DEFAULT_MAX_CHUNK_EXT 1024u  /* bytes of chunk extensions allowed on one chunk-size line */
#define SW_DEFAULT_MAX_TRAILERS 8192u   /* bytes of trailer section (field lines + final CRLF) */
#define SW_DEFAULT_MAX_TRAILER_FIELDS 32u

/* Decoder state. Initialise with sw_chunked_init; the public fields may be changed after that and before
 * the first sw_chunked_decode call. Everything after `private_` is the decoder's own. */
typedef struct sw_chunked_decoder {
    uint64_t max_body;           /* in: decoded bytes allowed; beyond it SW_E_BODY_TOO_LARGE. 0 = no limit */
    uint32_t max_ext;            /* in: bytes of extensions per chunk-size line (SW_DEFAULT_MAX_CHUNK_EXT) */
    uint32_t max_trailers;       /* in: bytes of trailer section (SW_DEFAULT_MAX_TRAILERS) */
    uint32_t max_trailer_fields; /* in: trailer field lines (SW_DEFAULT_MAX_TRAILER_FIELDS) */
    uint32_t num_trailers;       /* out: trailer field lines seen (validated, then discarded) */
    uint64_t body_len;           /* out: decoded bytes so far */
    /* private_ */
    uint64_t remaining_;         /* bytes left in the current chunk's data */
    uint32_t state_;
    uint32_t count_;             /* digits, extension bytes or trailer bytes seen in the current state */
    uint32_t trailer_bytes_;
    uint8_t name_len_;
    uint8_t flags_;
    char name_[30];              /* lower-cased prefix of the current trailer field name */
} sw_chunked_decoder_t;

/* Resets `d` for a new body with default limits and the given body limit (0 = none). */
void sw_chunked_init(sw_chunked_decoder_t *d, uint64_t max_body);

/* Decodes the chunked bytes in [buf, buf + *len), in place.
 *
 * On return buf[0, *len) holds the body bytes this call decoded (chunk data, moved to the front; framing
 * removed). Returns:
 *   SW_INCOMPLETE  all input was consumed and the body goes on: call again with the next bytes;
 *   >= 0           the message ended (last chunk, trailers and final CRLF consumed): the number of input bytes
 *                  that follow it, which remain at the end of the input, [buf + input_len - ret, buf + input_len)
 *                  (input_len being *len before the call) — the next message on a pipelined connection;
 *   < 0            an SW_E_* code (see sw_parse.h). The decoder must not be used again without sw_chunked_init.
 * Trailer fields are parsed and checked (syntax, limits, and no framing or routing field such as
 * Content-Length, Transfer-Encoding, Host, Content-Type, Authorization: SW_E_FORBIDDEN_TRAILER), then dropped. */
ptrdiff_t sw_chunked_decode(sw_chunked_decoder_t *d, void *buf, size_t *len);

/* 1 once the decoder has seen the end of the message, else 0. */
int sw_chunked_done(const sw_chunked_decoder_t *d);

#ifdef __cplusplus
}
#endif

#endif
