/* Error codes to statuses, sentences and names. */
#include "parse_internal.h"

typedef struct {
    int status;
    const char *name;
    const char *message;
} error_info_t;

/* Indexed by -code; 0 and 1 (SW_INCOMPLETE) are not errors. */
static const error_info_t errors[] = {
    [-SW_E_BAD_METHOD] = {400, "BAD_METHOD", "the method is empty or has a character that is not allowed in a token"},
    [-SW_E_BAD_REQUEST_LINE] = {400, "BAD_REQUEST_LINE",
                                "the request line is not `method SP target SP HTTP-version CRLF`"},
    [-SW_E_BAD_TARGET] = {400, "BAD_TARGET",
                          "the request target has a byte outside 0x21..0x7E or a form the method does not allow"},
    [-SW_E_BAD_VERSION] = {400, "BAD_VERSION", "the HTTP version is malformed (expected HTTP/1.1 or HTTP/1.0)"},
    [-SW_E_VERSION_NOT_SUPPORTED] = {505, "VERSION_NOT_SUPPORTED", "only HTTP/1.x is spoken on this connection"},
    [-SW_E_URI_TOO_LONG] = {414, "URI_TOO_LONG", "the request target is longer than the configured limit"},
    [-SW_E_BAD_HEADER_NAME] = {400, "BAD_HEADER_NAME",
                               "a field name is empty, lacks its colon, or has a character not allowed in a token"},
    [-SW_E_SPACE_BEFORE_COLON] = {400, "SPACE_BEFORE_COLON",
                                  "whitespace between a field name and its colon is not allowed"},
    [-SW_E_OBS_FOLD] = {400, "OBS_FOLD", "a field line starts with whitespace (obsolete line folding is rejected)"},
    [-SW_E_BAD_HEADER_VALUE] = {400, "BAD_HEADER_VALUE", "a field value contains NUL, DEL or a control character"},
    [-SW_E_BARE_CR] = {400, "BARE_CR", "a CR is not followed by LF"},
    [-SW_E_BARE_LF] = {400, "BARE_LF", "a line ends in LF without CR"},
    [-SW_E_HEADERS_TOO_LARGE] = {431, "HEADERS_TOO_LARGE", "the header section is larger than the configured limit"},
    [-SW_E_TOO_MANY_HEADERS] = {431, "TOO_MANY_HEADERS", "there are more header fields than the configured limit"},
    [-SW_E_BAD_CONTENT_LENGTH] = {400, "BAD_CONTENT_LENGTH", "Content-Length is not a decimal number below 2^62"},
    [-SW_E_CONFLICTING_CONTENT_LENGTH] = {400, "CONFLICTING_CONTENT_LENGTH",
                                          "Content-Length is given more than once with different values"},
    [-SW_E_CONTENT_LENGTH_AND_TE] = {400, "CONTENT_LENGTH_AND_TE",
                                     "Content-Length and Transfer-Encoding are both present"},
    [-SW_E_TE_CHUNKED_NOT_LAST] = {400, "TE_CHUNKED_NOT_LAST",
                                   "chunked must be the last transfer coding, and appear only once"},
    [-SW_E_TE_NOT_IMPLEMENTED] = {501, "TE_NOT_IMPLEMENTED", "only the chunked transfer coding is supported"},
    [-SW_E_TE_IN_HTTP10] = {400, "TE_IN_HTTP10", "Transfer-Encoding is not allowed in an HTTP/1.0 message"},
    [-SW_E_BAD_TE] = {400, "BAD_TE", "Transfer-Encoding is empty or malformed"},
    [-SW_E_MISSING_HOST] = {400, "MISSING_HOST", "an HTTP/1.1 request must have a Host header"},
    [-SW_E_DUPLICATE_HOST] = {400, "DUPLICATE_HOST", "the Host header appears more than once"},
    [-SW_E_BAD_HOST] = {400, "BAD_HOST", "the Host header has characters that no host name or address can hold"},
    [-SW_E_EXPECTATION_FAILED] = {417, "EXPECTATION_FAILED", "the only expectation supported is 100-continue"},
    [-SW_E_BAD_STATUS] = {502, "BAD_STATUS", "the status line is malformed"},
    [-SW_E_BAD_CHUNK_SIZE] = {400, "BAD_CHUNK_SIZE", "a chunk size is not a hexadecimal number"},
    [-SW_E_CHUNK_SIZE_OVERFLOW] = {400, "CHUNK_SIZE_OVERFLOW", "a chunk size is too large"},
    [-SW_E_BAD_CHUNK_EXT] = {400, "BAD_CHUNK_EXT", "a chunk extension is malformed"},
    [-SW_E_CHUNK_EXT_TOO_LONG] = {400, "CHUNK_EXT_TOO_LONG", "chunk extensions are longer than the limit"},
    [-SW_E_BAD_CHUNK_END] = {400, "BAD_CHUNK_END", "chunk data is not followed by CRLF"},
    [-SW_E_BAD_TRAILER] = {400, "BAD_TRAILER", "a trailer field line is malformed"},
    [-SW_E_FORBIDDEN_TRAILER] = {400, "FORBIDDEN_TRAILER",
                                 "a trailer carries a field that must not be sent as a trailer (framing, routing)"},
    [-SW_E_TRAILERS_TOO_LARGE] = {431, "TRAILERS_TOO_LARGE", "the trailer section is larger than the limit"},
    [-SW_E_BODY_TOO_LARGE] = {413, "BODY_TOO_LARGE", "the body is larger than the configured limit"},
};

static const error_info_t *info(int code) {
    if (code >= -1 || (size_t)-code >= sizeof errors / sizeof errors[0] || errors[-code].name == NULL)
        return NULL;
    return &errors[-code];
}

int sw_error_status(int code) {
    const error_info_t *e = info(code);
    return e != NULL ? e->status : 500;
}

const char *sw_error_message(int code) {
    const error_info_t *e = info(code);
    if (e != NULL)
        return e->message;
    if (code == SW_INCOMPLETE)
        return "more bytes are needed";
    return code >= 0 ? "no error" : "unknown error";
}

const char *sw_error_name(int code) {
    const error_info_t *e = info(code);
    if (e != NULL)
        return e->name;
    if (code == SW_INCOMPLETE)
        return "INCOMPLETE";
    return code >= 0 ? "OK" : "UNKNOWN";
}
