/* Shockwave's C parser microbenchmark (see README.md next to this file).
 *
 * Every request head given on the command line is parsed by each Shockwave SIMD path this CPU supports and by
 * the peers (http-parser always; picohttpparser when built with BENCH_WITH_PICO) in the same run. Each parser
 * does comparable work: the request line plus the span of every field name and value. Before timing, the
 * results of all parsers are compared with each other, and every parser runs once on a copy of each request
 * that touches a PROT_NONE page on either side, so a read outside [buf, buf + len) crashes with a message
 * instead of going unnoticed.
 *
 * Timing: per request, each parser is calibrated to a batch of N iterations taking about --batch-ms, then
 * --rounds rounds run every parser's batch once, in an order rotated each round so that machine noise (and
 * frequency drift) hits all parsers alike. The figure reported is the median over rounds of batch time / N, batch
 * time being CLOCK_MONOTONIC unless --clock cpu asks for the thread's CPU time.
 * Markdown goes to stdout, progress to stderr. */
#include <http_parser.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "sw_parse.h"

#ifdef BENCH_WITH_PICO
#include "picohttpparser.h"
#endif

/* Strings the Makefile passes so the output names the flags that produced it. */
#ifndef BENCH_SW_CFLAGS
#define BENCH_SW_CFLAGS "(unknown)"
#endif
#ifndef BENCH_HARNESS_CFLAGS
#define BENCH_HARNESS_CFLAGS "(unknown)"
#endif
#ifndef BENCH_PEER_CFLAGS
#define BENCH_PEER_CFLAGS "(unknown)"
#endif
#ifndef BENCH_SW_REV
#define BENCH_SW_REV "(unknown)"
#endif
#ifndef BENCH_HP_LIBS
#define BENCH_HP_LIBS "(unknown)"
#endif
#ifndef BENCH_PICO_DIR
#define BENCH_PICO_DIR "(unknown)"
#endif

#define MAX_HEADERS 100 /* every parser gets room for 100 field lines, Shockwave's default limit */
#define MAX_PARSERS 8
#define MAX_REQUESTS 64
#define MAX_ROUNDS 999
#define MAX_REQUEST_BYTES (1u << 20)
#define MIN_ROUNDS 5
#define DEFAULT_ROUNDS 7
#define DEFAULT_BATCH_MS 200
#define CALIBRATE_NS 20000000.0 /* grow N until one batch takes at least 20 ms, then scale to --batch-ms */

static volatile uint64_t sink; /* every batch's sum of header counts lands here, so no parse is dead code */

/* ---- Requests ---------------------------------------------------------------------------------------------- */

typedef struct request {
    const char *path;
    const char *name; /* file name without directory and extension */
    char *buf;        /* 64-byte aligned copy, exactly len bytes of content */
    size_t len;
    uint32_t num_headers; /* from the validation pass; every batch must sum to N times this */
} request_t;

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static void read_request(request_t *r, const char *path) {
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        die("cannot open %s", path);
    char *tmp = malloc(MAX_REQUEST_BYTES + 1);
    size_t len = fread(tmp, 1, MAX_REQUEST_BYTES + 1, f);
    fclose(f);
    if (len == 0 || len > MAX_REQUEST_BYTES)
        die("%s: empty or larger than 1 MiB", path);
    /* A recv buffer usually starts aligned; so does ours, so SIMD loads see the same alignment each run. */
    r->buf = aligned_alloc(64, (len + 63) & ~(size_t)63);
    memcpy(r->buf, tmp, len);
    free(tmp);
    r->len = len;
    r->path = path;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char *name = strdup(base);
    char *dot = strrchr(name, '.');
    if (dot != NULL && dot != name)
        *dot = '\0';
    r->name = name;
}

/* ---- Parsers ----------------------------------------------------------------------------------------------- */

/* What every parser reports, as offsets into the buffer, so results from different parsers (and from the guard
 * copies) can be compared. */
typedef struct parsed {
    long ret; /* bytes consumed (> 0) or the parser's error code (<= 0) */
    char method[24];
    sw_span_t target;
    int minor;
    uint32_t num_headers;
    sw_span_t name[MAX_HEADERS];
    sw_span_t value[MAX_HEADERS];
} parsed_t;

typedef struct parser {
    const char *label; /* column heading */
    int simd;          /* sw_simd_t for a Shockwave path, -1 for a peer */
    /* Parses buf n times; returns the sum of header counts, exits on any failure. */
    uint64_t (*batch)(const char *buf, size_t len, uint64_t n);
    void (*parse_once)(const char *buf, size_t len, parsed_t *out);
} parser_t;

__attribute__((noreturn, cold, noinline)) static void batch_failed(const char *parser, long ret) {
    die("%s failed inside a timed batch (returned %ld)", parser, ret);
}

static sw_span_t span_of(const char *buf, const char *at, size_t len) {
    return (sw_span_t){(uint32_t)(at - buf), (uint32_t)len};
}

/* Shockwave: one call per request, header array of 100, default limits. The SIMD path is forced by the caller. */
static uint64_t batch_sw(const char *buf, size_t len, uint64_t n) {
    sw_header_t headers[MAX_HEADERS];
    sw_request_t req;
    uint64_t sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        req.headers = headers;
        int r = sw_parse_request(buf, len, 0, NULL, &req);
        if (__builtin_expect(r != (long)len, 0))
            batch_failed("shockwave", r);
        sum += req.num_headers;
    }
    return sum;
}

static void parse_once_sw(const char *buf, size_t len, parsed_t *out) {
    sw_header_t headers[MAX_HEADERS];
    sw_request_t req;
    memset(&req, 0, sizeof req);
    req.headers = headers;
    out->ret = sw_parse_request(buf, len, 0, NULL, &req);
    if (out->ret <= 0)
        return;
    snprintf(out->method, sizeof out->method, "%.*s", (int)req.method.len, buf + req.method.off);
    out->target = req.target;
    out->minor = req.version_minor;
    out->num_headers = req.num_headers;
    for (uint32_t i = 0; i < req.num_headers && i < MAX_HEADERS; i++) {
        out->name[i] = headers[i].name;
        out->value[i] = headers[i].value;
    }
}

/* http-parser: callbacks record the URL and every field name and value span into a fixed array. A callback may
 * come more than once for one element only when the element crosses buffers; here the head is one buffer, but
 * the callbacks still extend the previous span in that case so the work stays correct. */
typedef struct hp_ctx {
    const char *buf;
    sw_span_t url;
    uint32_t num_headers;
    int last; /* 0: none yet, 1: field name, 2: field value */
    int done; /* on_headers_complete was called */
    sw_span_t name[MAX_HEADERS];
    sw_span_t value[MAX_HEADERS];
} hp_ctx_t;

static int on_hp_url(http_parser *p, const char *at, size_t len) {
    hp_ctx_t *c = p->data;
    if (c->url.len == 0)
        c->url = span_of(c->buf, at, len);
    else
        c->url.len += (uint32_t)len;
    return 0;
}

static int on_hp_header_field(http_parser *p, const char *at, size_t len) {
    hp_ctx_t *c = p->data;
    if (c->last == 1) {
        c->name[c->num_headers - 1].len += (uint32_t)len;
        return 0;
    }
    if (c->num_headers == MAX_HEADERS)
        return 1; /* same limit as the others: an error */
    c->name[c->num_headers] = span_of(c->buf, at, len);
    c->value[c->num_headers] = (sw_span_t){(uint32_t)(at - c->buf), 0};
    c->num_headers++;
    c->last = 1;
    return 0;
}

static int on_hp_header_value(http_parser *p, const char *at, size_t len) {
    hp_ctx_t *c = p->data;
    if (c->last == 2)
        c->value[c->num_headers - 1].len += (uint32_t)len;
    else
        c->value[c->num_headers - 1] = span_of(c->buf, at, len);
    c->last = 2;
    return 0;
}

static int on_hp_headers_complete(http_parser *p) {
    hp_ctx_t *c = p->data;
    c->done = 1;
    return 0; /* a head with Content-Length then waits for a body; execute still returns len */
}

static const http_parser_settings hp_settings = {
    .on_url = on_hp_url,
    .on_header_field = on_hp_header_field,
    .on_header_value = on_hp_header_value,
    .on_headers_complete = on_hp_headers_complete,
};

/* Returns bytes consumed, or minus the http_errno. A fresh http_parser_init per request, as a server would for
 * each new message on a fresh connection. */
static inline long hp_run(http_parser *p, hp_ctx_t *c, const char *buf, size_t len) {
    http_parser_init(p, HTTP_REQUEST);
    p->data = c;
    c->buf = buf;
    c->url = (sw_span_t){0, 0};
    c->num_headers = 0;
    c->last = 0;
    c->done = 0;
    size_t n = http_parser_execute(p, &hp_settings, buf, len);
    if (HTTP_PARSER_ERRNO(p) != HPE_OK)
        return -(long)HTTP_PARSER_ERRNO(p);
    if (!c->done)
        return 0;
    return (long)n;
}

static uint64_t batch_hp(const char *buf, size_t len, uint64_t n) {
    http_parser p;
    hp_ctx_t c;
    uint64_t sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        long r = hp_run(&p, &c, buf, len);
        if (__builtin_expect(r != (long)len, 0))
            batch_failed("http-parser", r);
        sum += c.num_headers;
    }
    return sum;
}

static void parse_once_hp(const char *buf, size_t len, parsed_t *out) {
    http_parser p;
    hp_ctx_t c;
    out->ret = hp_run(&p, &c, buf, len);
    if (out->ret <= 0)
        return;
    snprintf(out->method, sizeof out->method, "%s", http_method_str((enum http_method)p.method));
    out->target = c.url;
    out->minor = p.http_minor;
    out->num_headers = c.num_headers;
    memcpy(out->name, c.name, sizeof c.name);
    memcpy(out->value, c.value, sizeof c.value);
}

#ifdef BENCH_WITH_PICO
/* picohttpparser: phr_parse_request with room for 100 headers, last_len 0. */
static uint64_t batch_pico(const char *buf, size_t len, uint64_t n) {
    struct phr_header headers[MAX_HEADERS];
    const char *method, *path;
    size_t method_len, path_len, num_headers;
    int minor;
    uint64_t sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        num_headers = MAX_HEADERS;
        int r = phr_parse_request(buf, len, &method, &method_len, &path, &path_len, &minor, headers, &num_headers, 0);
        if (__builtin_expect(r != (long)len, 0))
            batch_failed("picohttpparser", r);
        sum += num_headers;
    }
    return sum;
}

static void parse_once_pico(const char *buf, size_t len, parsed_t *out) {
    struct phr_header headers[MAX_HEADERS];
    const char *method, *path;
    size_t method_len, path_len, num_headers = MAX_HEADERS;
    int minor;
    out->ret = phr_parse_request(buf, len, &method, &method_len, &path, &path_len, &minor, headers, &num_headers, 0);
    if (out->ret <= 0)
        return;
    snprintf(out->method, sizeof out->method, "%.*s", (int)method_len, method);
    out->target = span_of(buf, path, path_len);
    out->minor = minor;
    out->num_headers = (uint32_t)num_headers;
    for (size_t i = 0; i < num_headers; i++) {
        out->name[i] = span_of(buf, headers[i].name, headers[i].name_len);
        out->value[i] = span_of(buf, headers[i].value, headers[i].value_len);
    }
}
#endif

/* ---- Validation -------------------------------------------------------------------------------------------- */

/* Message for the SIGSEGV handler, prepared before each guarded parse (a handler may only call write/_exit). */
static char guard_msg[256];
static size_t guard_msg_len;

static void on_segv(int sig) {
    (void)sig;
    if (write(STDERR_FILENO, guard_msg, guard_msg_len) < 0) {
        /* nothing left to do */
    }
    _exit(2);
}

static int same_parse(const parsed_t *a, const parsed_t *b, char *why, size_t why_len) {
    if (a->ret != b->ret)
        return snprintf(why, why_len, "return %ld vs %ld", a->ret, b->ret), 0;
    if (strcmp(a->method, b->method) != 0)
        return snprintf(why, why_len, "method %s vs %s", a->method, b->method), 0;
    if (a->target.off != b->target.off || a->target.len != b->target.len)
        return snprintf(why, why_len, "target span differs"), 0;
    if (a->minor != b->minor)
        return snprintf(why, why_len, "version minor %d vs %d", a->minor, b->minor), 0;
    if (a->num_headers != b->num_headers)
        return snprintf(why, why_len, "%u vs %u headers", a->num_headers, b->num_headers), 0;
    for (uint32_t i = 0; i < a->num_headers; i++) {
        if (memcmp(&a->name[i], &b->name[i], sizeof(sw_span_t)) != 0)
            return snprintf(why, why_len, "name span of header %u differs", i), 0;
        if (memcmp(&a->value[i], &b->value[i], sizeof(sw_span_t)) != 0)
            return snprintf(why, why_len, "value span of header %u differs", i), 0;
    }
    return 1;
}

static void force_simd(const parser_t *p) {
    if (p->simd >= 0 && sw_simd_force((sw_simd_t)p->simd) != 0)
        die("sw_simd_force(%s) failed although sw_simd_supported() said yes", p->label);
}

/* Parses r with every parser: normally, then from the first byte of a page preceded by a PROT_NONE page, then
 * ending on the last byte of a page followed by one. All results must be equal. */
static void validate(request_t *r, const parser_t *parsers, int np) {
    static parsed_t ref, got; /* large; keep them off the stack */
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t body = (r->len + page - 1) / page * page;
    char *map = mmap(NULL, body + 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED)
        die("mmap failed");
    if (mprotect(map, page, PROT_NONE) != 0 || mprotect(map + page + body, page, PROT_NONE) != 0)
        die("mprotect failed");
    char *copies[2] = {map + page, map + page + body - r->len};
    const char *where[2] = {"starting after", "ending before"};

    struct sigaction sa = {.sa_handler = on_segv};
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    for (int i = 0; i < np; i++) {
        char why[128];
        force_simd(&parsers[i]);
        memset(&got, 0, sizeof got);
        parsers[i].parse_once(r->buf, r->len, &got);
        if (got.ret != (long)r->len)
            die("%s: %s returned %ld, expected %zu (the file must hold exactly one head)", r->path, parsers[i].label,
                got.ret, r->len);
        if (i == 0)
            ref = got;
        else if (!same_parse(&ref, &got, why, sizeof why))
            die("%s: %s and %s disagree: %s", r->path, parsers[0].label, parsers[i].label, why);
        for (int c = 0; c < 2; c++) {
            memcpy(copies[c], r->buf, r->len);
            guard_msg_len = (size_t)snprintf(guard_msg, sizeof guard_msg,
                                             "bench: %s read outside the buffer on %s (copy %s a PROT_NONE page)\n",
                                             parsers[i].label, r->path, where[c]);
            parsed_t *g = &got;
            memset(g, 0, sizeof *g);
            parsers[i].parse_once(copies[c], r->len, g);
            if (!same_parse(&ref, g, why, sizeof why))
                die("%s: %s result changed when the buffer moved: %s", r->path, parsers[i].label, why);
        }
    }
    signal(SIGSEGV, SIG_DFL);
    signal(SIGBUS, SIG_DFL);
    munmap(map, body + 2 * page);
    r->num_headers = ref.num_headers;
}

/* ---- Timing ------------------------------------------------------------------------------------------------ */

static uint64_t clock_ns(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The clock batches are timed with: CLOCK_MONOTONIC (wall time, the default) or, with --clock cpu,
 * CLOCK_THREAD_CPUTIME_ID, which leaves out the time other processes held the CPU (but not their effect on caches
 * or on a sibling hyperthread). */
static int use_cpu_clock;
static int print_raw; /* --raw: every batch's ns/req as CSV on stderr */

/* Nanoseconds for n parses of r by p. When `on_cpu` is given, it receives the share of the batch's wall time the
 * thread actually ran (thread CPU time / CLOCK_MONOTONIC, the CPU clock read outside the wall-clock window): below
 * 1 means another process took the CPU during the batch, the main source of noise on a shared machine. */
static double time_batch(const parser_t *p, const request_t *r, uint64_t n, double *on_cpu) {
    force_simd(p);
    uint64_t c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    uint64_t t0 = clock_ns(CLOCK_MONOTONIC);
    uint64_t sum = p->batch(r->buf, r->len, n);
    uint64_t t1 = clock_ns(CLOCK_MONOTONIC);
    uint64_t c1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    if (on_cpu) {
        double share = (double)(c1 - c0) / (double)(t1 - t0 ? t1 - t0 : 1);
        *on_cpu = share > 1 ? 1 : share;
    }
    if (sum != n * r->num_headers)
        die("%s: header count changed during the batch (%s)", r->path, p->label);
    sink += sum;
    return (double)(use_cpu_clock ? c1 - c0 : t1 - t0);
}

static uint64_t calibrate(const parser_t *p, const request_t *r, double batch_ns) {
    uint64_t n = 16;
    for (;;) {
        double t = time_batch(p, r, n, NULL);
        if (t >= CALIBRATE_NS || n >= (1ull << 40)) {
            double m = (double)n * batch_ns / (t > 1 ? t : 1);
            return m < 1 ? 1 : (uint64_t)m;
        }
        n *= t < CALIBRATE_NS / 16 ? 8 : 2;
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct summary {
    double median, min, max; /* ns per request */
    double on_cpu_min;       /* lowest share of a batch the thread ran */
} summary_t;

static summary_t summarize(const double *v, int n) {
    double s[MAX_ROUNDS];
    memcpy(s, v, (size_t)n * sizeof *v);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    double med = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    return (summary_t){med, s[0], s[n - 1], 0};
}

/* ---- Report ------------------------------------------------------------------------------------------------ */

static void cpu_model(char *out, size_t len) {
    snprintf(out, len, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f == NULL)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *v = strchr(line, ':');
            if (v != NULL) {
                v += 1 + (v[1] == ' ');
                v[strcspn(v, "\n")] = '\0';
                snprintf(out, len, "%s", v);
            }
            break;
        }
    }
    fclose(f);
}

static void print_ns(double ns) {
    printf(ns < 100 ? " %.1f |" : " %.0f |", ns);
}

static void usage(void) {
    fprintf(stderr,
            "usage: bench [--rounds N (>= %d, default %d)] [--batch-ms MS (default %d)] [--clock monotonic|cpu] "
            "[--raw] request.http...\n",
            MIN_ROUNDS, DEFAULT_ROUNDS, DEFAULT_BATCH_MS);
    exit(1);
}

int main(int argc, char **argv) {
    int rounds = DEFAULT_ROUNDS;
    double batch_ms = DEFAULT_BATCH_MS;
    static request_t reqs[MAX_REQUESTS];
    int nr = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (strcmp(argv[i], "--batch-ms") == 0 && i + 1 < argc)
            batch_ms = atof(argv[++i]);
        else if (strcmp(argv[i], "--clock") == 0 && i + 1 < argc && strcmp(argv[i + 1], "monotonic") == 0)
            use_cpu_clock = 0, i++;
        else if (strcmp(argv[i], "--clock") == 0 && i + 1 < argc && strcmp(argv[i + 1], "cpu") == 0)
            use_cpu_clock = 1, i++;
        else if (strcmp(argv[i], "--raw") == 0)
            print_raw = 1;
        else if (argv[i][0] == '-')
            usage();
        else if (nr < MAX_REQUESTS)
            read_request(&reqs[nr++], argv[i]);
    }
    if (nr == 0 || rounds < MIN_ROUNDS || rounds > MAX_ROUNDS || !(batch_ms > 0))
        usage();

    /* Read before any sw_simd_force: the path a server would use on this machine. */
    sw_simd_t default_simd = sw_simd_active();

    parser_t parsers[MAX_PARSERS];
    int np = 0, nsw = 0;
    static const sw_simd_t levels[] = {SW_SIMD_SCALAR, SW_SIMD_SSE42, SW_SIMD_AVX2};
    static char labels[3][32];
    for (int i = 0; i < 3; i++) {
        if (!sw_simd_supported(levels[i]))
            continue;
        snprintf(labels[i], sizeof labels[i], "sw-%s", sw_simd_name(levels[i]));
        parsers[np++] = (parser_t){labels[i], (int)levels[i], batch_sw, parse_once_sw};
        nsw++;
    }
    if (nsw == 0)
        die("sw_simd_supported() reports no path at all, not even scalar");
    int hp_index = np;
    parsers[np++] = (parser_t){"http-parser", -1, batch_hp, parse_once_hp};
#ifdef BENCH_WITH_PICO
    int pico_index = np;
    parsers[np++] = (parser_t){"picohttpparser", -1, batch_pico, parse_once_pico};
#else
    int pico_index = -1;
#endif

    for (int r = 0; r < nr; r++)
        validate(&reqs[r], parsers, np);
    fprintf(stderr, "bench: all %d parsers agree on all %d requests (spans, counts, no read outside the buffer)\n", np,
            nr);

    static double ns[MAX_REQUESTS][MAX_PARSERS][MAX_ROUNDS], on_cpu[MAX_REQUESTS][MAX_PARSERS][MAX_ROUNDS];
    int tty = isatty(STDERR_FILENO);
    for (int r = 0; r < nr; r++) {
        uint64_t n[MAX_PARSERS];
        for (int p = 0; p < np; p++)
            n[p] = calibrate(&parsers[p], &reqs[r], batch_ms * 1e6);
        for (int p = 0; p < np; p++) /* warm-up round, discarded */
            time_batch(&parsers[p], &reqs[r], n[p], NULL);
        for (int k = 0; k < rounds; k++) {
            for (int j = 0; j < np; j++) {
                int p = (j + k) % np; /* rotate the order each round */
                ns[r][p][k] = time_batch(&parsers[p], &reqs[r], n[p], &on_cpu[r][p][k]) / (double)n[p];
                if (print_raw)
                    fprintf(stderr, "raw,%s,%s,%d,%.2f,%.3f\n", reqs[r].name, parsers[p].label, k, ns[r][p][k],
                            on_cpu[r][p][k]);
            }
            if (tty)
                fprintf(stderr, "\rbench: %s: round %d/%d", reqs[r].name, k + 1, rounds);
        }
        fprintf(stderr, tty ? "\n" : "bench: %s: %d rounds done\n", reqs[r].name, rounds);
    }
    sw_simd_force(default_simd);

    summary_t st[MAX_REQUESTS][MAX_PARSERS];
    int best[MAX_REQUESTS];
    for (int r = 0; r < nr; r++) {
        best[r] = 0;
        for (int p = 0; p < np; p++) {
            st[r][p] = summarize(ns[r][p], rounds);
            st[r][p].on_cpu_min = summarize(on_cpu[r][p], rounds).min;
            if (p < nsw && st[r][p].median < st[r][best[r]].median)
                best[r] = p;
        }
    }

    /* Header: what ran where, so a quoted figure can name its machine. */
    char cpu[256];
    cpu_model(cpu, sizeof cpu);
    cpu_set_t set;
    int ncpu = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : -1;
    struct utsname u;
    uname(&u);
    unsigned long hv = http_parser_version();
    printf("## Shockwave C parser benchmark\n\n");
    printf("- CPU: %s (ran on CPU %d; %d CPU%s allowed%s); kernel %s %s\n", cpu, sched_getcpu(), ncpu,
           ncpu == 1 ? "" : "s", ncpu == 1 ? ", pinned" : ", NOT pinned: use taskset", u.sysname, u.release);
#ifdef __clang__
    printf("- compiler: clang %s\n", __clang_version__);
#else
    printf("- compiler: gcc %s\n", __VERSION__);
#endif
    printf("- Shockwave %s: `%s` (as shipped); harness: `%s`\n", BENCH_SW_REV, BENCH_SW_CFLAGS, BENCH_HARNESS_CFLAGS);
    printf("- http-parser %lu.%lu.%lu (system library, `%s`)\n", (hv >> 16) & 255, (hv >> 8) & 255, hv & 255,
           BENCH_HP_LIBS);
#ifdef BENCH_WITH_PICO
    printf("- picohttpparser from %s: `%s`\n", BENCH_PICO_DIR, BENCH_PEER_CFLAGS);
#else
    printf("- picohttpparser: not built (set PICOHTTPPARSER_DIR)\n");
#endif
    printf("- method: %d rounds per request; each round runs every parser's batch (~%.0f ms, N calibrated per parser "
           "and request) in rotated order; median ns per request over rounds, timed with %s; GB/s = bytes / ns\n",
           rounds, batch_ms, use_cpu_clock ? "CLOCK_THREAD_CPUTIME_ID (--clock cpu)" : "CLOCK_MONOTONIC");
    printf("- SIMD: default path (sw_simd_active at startup): %s; fastest measured path:", sw_simd_name(default_simd));
    for (int r = 0; r < nr; r++)
        printf(" %s %s%s", reqs[r].name, parsers[best[r]].label + 3, r + 1 < nr ? "," : "\n");
    printf("\n");

    printf("| request | bytes |");
    for (int p = 0; p < np; p++)
        printf(" %s ns/req | %s GB/s |", parsers[p].label, parsers[p].label);
    printf("\n|---|--:|");
    for (int p = 0; p < np; p++)
        printf("--:|--:|");
    printf("\n");
    for (int r = 0; r < nr; r++) {
        printf("| %s | %zu |", reqs[r].name, reqs[r].len);
        for (int p = 0; p < np; p++) {
            print_ns(st[r][p].median);
            printf(" %.2f |", (double)reqs[r].len / st[r][p].median);
        }
        printf("\n");
    }

    printf("\nPeers against Shockwave's fastest path for each request (ratio > 1: Shockwave is faster):\n\n");
    printf("| request | sw best path | sw best ns/req | http-parser ns/req | http-parser / sw |");
    if (pico_index >= 0)
        printf(" picohttpparser ns/req | picohttpparser / sw |");
    printf("\n|---|---|--:|--:|--:|%s\n", pico_index >= 0 ? "--:|--:|" : "");
    for (int r = 0; r < nr; r++) {
        double sw = st[r][best[r]].median;
        printf("| %s | %s |", reqs[r].name, parsers[best[r]].label + 3);
        print_ns(sw);
        print_ns(st[r][hp_index].median);
        printf(" %.2f |", st[r][hp_index].median / sw);
        if (pico_index >= 0) {
            print_ns(st[r][pico_index].median);
            printf(" %.2f |", st[r][pico_index].median / sw);
        }
        printf("\n");
    }

    printf("\nNoise: spread of the %d rounds, (max - min) / median; in brackets, the lowest share of a batch this "
           "thread was on the CPU (below 100%%: another process ran):\n\n| request |",
           rounds);
    for (int p = 0; p < np; p++)
        printf(" %s |", parsers[p].label);
    printf("\n|---|");
    for (int p = 0; p < np; p++)
        printf("--:|");
    printf("\n");
    for (int r = 0; r < nr; r++) {
        printf("| %s |", reqs[r].name);
        for (int p = 0; p < np; p++)
            printf(" %.1f%% (%.0f%%) |", 100 * (st[r][p].max - st[r][p].min) / st[r][p].median,
                   100 * st[r][p].on_cpu_min);
        printf("\n");
    }
    return 0;
}
