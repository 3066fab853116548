/* The io_uring backend: multishot accept, one recv and at most one send in flight per connection, everything a
 * loop turn prepares submitted together with the wait for completions (one io_uring_enter per turn). It drives
 * the same transport as the epoll backend (transport.c): completions feed sw__conn_on_read and
 * sw__conn_on_written.
 *
 * Reads: a connection waiting for a new request holds no input buffer. Its recv picks one from the loop's
 * provided-buffer ring when bytes arrive (IOSQE_BUFFER_SELECT), and the connection then adopts that buffer as
 * its input (no copy) while the ring slot gets a fresh one from the pool; once the requests in it are answered
 * the buffer goes back to the pool. So 10,000 idle keep-alive connections cost no buffers, and the ring holds
 * only as many as the load needs: it starts small and grows when a recv finds it empty (ENOBUFS). A connection
 * in the middle of a request (partial head, body) reads into its own buffer as before, which is also the path
 * when the kernel has no buffer rings (before 5.19).
 *
 * Lifetimes: a connection closed while the kernel still holds operations for it (c->inflight > 0) is marked
 * CF_CLOSED, its operations are cancelled and its fd is closed; the struct and its buffers are freed
 * (sw__conn_free) when the last completion arrives, so no operation ever writes into or reads from freed or
 * reused memory. */
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server_internal.h"

#define UR_SQ_ENTRIES 1024u            /* one turn's submissions; a turn that prepares more submits early (sqe_get) */
#define UR_CQ_ENTRIES 8192u            /* a few completions per connection per turn; overflow is kept (FEAT_NODROP) */
#define UR_IOV 32                      /* iovecs per sendmsg: a pipelined batch's responses in one send */
#define UR_SENDFILE_CHUNK (512u << 10) /* a file range goes out at most this much per turn */
#define UR_ACCEPT_BACKOFF_MS 100
/* A multishot accept takes the whole backlog in one go, past the connection limit in a storm; within this many
 * slots of the limit, accepts are armed one at a time instead, so the limit holds. What a multishot accepted past
 * the limit anyway (before the pause's cancel landed) is parked: held, not read, admitted first as slots free. */
#define UR_MULTISHOT_ROOM 256
#define UR_BGID 0          /* the provided-buffer group */
#define UR_BUF_RING 256u   /* ring entries: the most buffers it can hold */
#define UR_BUF_START 16u   /* buffers provided at start; ENOBUFS adds UR_BUF_GROW more, up to UR_BUF_RING */
#define UR_BUF_GROW 16u
#define UR_BUF_SIZE 4096u  /* the pool's smallest class */

/* ---- user_data ------------------------------------------------------------------------------------------------------
 *
 *   63       56 55      48 47                32 31                                 0
 *  +-----------+----------+--------------------+------------------------------------+
 *  |  op kind  |    0     | conn generation    | conn index (slot in l->conns)      |
 *  +-----------+----------+--------------------+------------------------------------+
 *
 * Operations that belong to no connection (accept, wake, cancel, close) carry generation and index 0. A
 * completion for a connection is taken only if the slot holds a connection of the same generation; since a slot
 * is reused only after its connection's in-flight count drops to zero, a mismatch cannot happen and the check is
 * a guard. liburing's internal timeout (LIBURING_UDATA_TIMEOUT, all ones) is never used: the probe requires
 * IORING_FEAT_EXT_ARG, and its kind 0xFF is ignored anyway. */
enum {
    OP_ACCEPT = 1, /* multishot (or, on kernels before 5.19, single-shot) accept on the loop's listener */
    OP_WAKE,       /* multishot POLLIN on the loop's eventfd */
    OP_RECV,       /* recv into the connection's input buffer */
    OP_SEND,       /* send/sendmsg of the queued output */
    OP_POLLOUT,    /* waiting for room to sendfile a file range */
    OP_CANCEL,     /* ASYNC_CANCEL of one of the above */
    OP_CLOSE,      /* IORING_OP_CLOSE of a connection's or the listener's fd */
    OP_HANGUP,     /* POLL_ADD for POLLERR/POLLHUP only, while reading is paused under a pending handler */
};

static inline uint64_t ud_pack(unsigned op, uint16_t gen, uint32_t index) {
    return (uint64_t)op << 56 | (uint64_t)gen << 32 | index;
}
static inline unsigned ud_op(uint64_t ud) {
    return (unsigned)(ud >> 56);
}
static inline uint16_t ud_gen(uint64_t ud) {
    return (uint16_t)(ud >> 32);
}
static inline uint32_t ud_index(uint64_t ud) {
    return (uint32_t)ud;
}

/* Per connection slot: where a sendmsg's header and iovecs live until the kernel has read them (with
 * IORING_FEAT_SUBMIT_STABLE, until submission; the slot keeps them for the whole operation anyway). Allocated
 * the first time a slot sends and reused by every later connection in that slot: no allocation per request. */
typedef struct {
    struct msghdr mh;
    struct iovec iov[UR_IOV];
    uint32_t recv_len;    /* space offered to the recv in flight */
    bool recv_select;     /* ... from the provided-buffer ring */
    bool recv_poll_first; /* ... and whether it skipped the first attempt (IORING_RECVSEND_POLL_FIRST) */
    uint8_t send_op;      /* OP_SEND or OP_POLLOUT while CF_SENDING */
    bool hangup_armed;    /* an OP_HANGUP poll is in flight (counted in the connection's inflight) */
} ur_conn_t;

typedef struct {
    struct io_uring ring;
    bool ring_live;
    unsigned setup_flags;
    uint8_t skip_success; /* IOSQE_CQE_SKIP_SUCCESS where the kernel has it (5.17): no CQE for a close that worked */
    bool accept_inflight; /* an accept is armed (until its last CQE, the one without IORING_CQE_F_MORE) */
    bool accept_multishot;
    bool wake_armed;
    bool wake_multishot;
    bool poll_first; /* the kernel takes IORING_RECVSEND_POLL_FIRST (5.19) */
    ur_conn_t **uc;  /* by connection index; the blocks never move */
    uint32_t uc_cap;
    struct io_uring_buf_ring *br; /* provided buffers for recvs of idle connections; NULL without kernel support */
    char *bufs[UR_BUF_RING];      /* by buffer id: the pool buffer the ring holds in that slot */
    uint32_t nbufs;               /* buffer ids in use (0..nbufs-1) */
    bool accept_is_multi;         /* the armed accept is a multishot one */
    int *parked;                  /* sockets accepted past the limit, oldest first (see UR_MULTISHOT_ROOM) */
    uint32_t nparked, parked_cap;
} ur_state_t;

/* ---- ring setup -------------------------------------------------------------------------------------------------- */

/* Setup flags, best first; a kernel that does not know one answers EINVAL and the next tier is tried.
 * - SINGLE_ISSUER (6.0): only the loop thread, which creates the ring, ever submits (other threads wake the
 *   loop through the eventfd), so the kernel may skip the locking a shared submitter would need.
 * - DEFER_TASKRUN (6.1, needs SINGLE_ISSUER): completion work runs only when the loop enters the kernel to wait
 *   for events, not by interrupting the thread (IPIs, task work on any syscall return) in the middle of
 *   handling a batch; completions arrive batched, at the moment the loop asks for them.
 * - COOP_TASKRUN (5.19): without DEFER_TASKRUN, at least do not IPI the thread for task work; it runs at its
 *   next kernel transition, which a ring loop makes every turn. Redundant with DEFER_TASKRUN, so only in the
 *   fallback tiers.
 * - SUBMIT_ALL (5.18): an SQE that fails at submission (say EBADF) posts its error CQE and the rest of the
 *   batch is still submitted, instead of submission stopping there.
 * - CQSIZE: a completion queue larger than the default 2x SQ, since one turn can complete a recv, a send and a
 *   cancel per connection. */
static const unsigned setup_tiers[] = {
    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL,
    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL,
    IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL,
    IORING_SETUP_SUBMIT_ALL,
    0,
};

/* liburing maps and unmaps a ring's shared memory with raw system calls, which ThreadSanitizer does not see: when
 * a new ring lands at the address of one another loop thread used and unmapped, the new loop's first look at the
 * completion queue's head appeared to race with the old thread's last write there. Every ring's owner counts up
 * with release before it unmaps, and a new ring's owner reads with acquire once it is mapped: the order the
 * kernel gives (unmapped before mapped again) is then one the sanitizer knows. One atomic operation per loop
 * start and stop. */
static atomic_uint ring_generation;

static void ring_exit(struct io_uring *ring) {
    atomic_fetch_add_explicit(&ring_generation, 1, memory_order_release);
    io_uring_queue_exit(ring);
}

static int ring_setup(struct io_uring *ring, unsigned sq, unsigned cq, unsigned *flags_out) {
    int r = -EINVAL;
    for (size_t i = 0; i < sizeof setup_tiers / sizeof setup_tiers[0]; i++) {
        struct io_uring_params p;
        memset(&p, 0, sizeof p);
        p.flags = setup_tiers[i];
        if (cq != 0) {
            p.flags |= IORING_SETUP_CQSIZE;
            p.cq_entries = cq;
        }
        do {
            r = io_uring_queue_init_params(sq, ring, &p); /* liburing returns -errno */
        } while (r == -EINTR);
        if (r == 0) {
            (void)atomic_load_explicit(&ring_generation, memory_order_acquire); /* see ring_generation */
            *flags_out = setup_tiers[i];
            return 0;
        }
        if (r != -EINVAL)
            return r; /* EPERM, ENOSYS (seccomp, io_uring_disabled), ENOMEM: no tier will do better */
    }
    return r;
}

int sw__uring_probe(void) {
    struct io_uring ring;
    unsigned flags;
    int r = ring_setup(&ring, 8, 0, &flags);
    if (r < 0)
        return r;
    /* EXT_ARG (5.11): the wait carries its timeout, no timeout SQE; NODROP (5.5): completions are never lost
     * when the CQ is full. */
    if ((ring.features & (IORING_FEAT_EXT_ARG | IORING_FEAT_NODROP)) != (IORING_FEAT_EXT_ARG | IORING_FEAT_NODROP)) {
        r = -EOPNOTSUPP;
    } else {
        struct io_uring_probe *p = io_uring_get_probe_ring(&ring);
        if (p == NULL) {
            r = -EOPNOTSUPP; /* before 5.6 */
        } else {
            static const int ops[] = {IORING_OP_ACCEPT,   IORING_OP_RECV,         IORING_OP_SEND, IORING_OP_SENDMSG,
                                      IORING_OP_POLL_ADD, IORING_OP_ASYNC_CANCEL, IORING_OP_CLOSE};
            for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
                if (!io_uring_opcode_supported(p, ops[i]))
                    r = -EOPNOTSUPP;
            io_uring_free_probe(p);
        }
    }
    ring_exit(&ring);
    return r;
}

/* ---- submission helpers ------------------------------------------------------------------------------------------ */

/* An SQE, submitting what is queued first when the SQ is full (a very busy turn). NULL only if that fails. */
static struct io_uring_sqe *sqe_get(ur_state_t *s) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);
    if (sqe == NULL) {
        int r;
        do {
            r = io_uring_submit(&s->ring);
        } while (r == -EINTR);
        sqe = io_uring_get_sqe(&s->ring);
    }
    return sqe;
}

static void submit_cancel(ur_state_t *s, uint64_t target) {
    struct io_uring_sqe *sqe = sqe_get(s);
    if (sqe == NULL)
        return; /* the target still completes on its own (peer activity or the ring's teardown) */
    io_uring_prep_cancel64(sqe, target, 0);
    io_uring_sqe_set_data64(sqe, ud_pack(OP_CANCEL, 0, 0));
    sqe->flags |= s->skip_success;
}

/* Closes `fd` through the ring, after every SQE already queued this turn. Closing it at once with close(2)
 * would free the number while queued SQEs still name it, and an accept (this loop's or another loop's: they
 * share the fd table) could take the number first; the queued send would then go to someone else's socket. */
static void submit_close(ur_state_t *s, int fd) {
    struct io_uring_sqe *sqe = sqe_get(s);
    if (sqe == NULL) {
        close(fd); /* sqe_get submitted what was queued (or could not; then nothing better is left) */
        return;
    }
    io_uring_prep_close(sqe, fd);
    io_uring_sqe_set_data64(sqe, ud_pack(OP_CLOSE, 0, 0));
    sqe->flags |= s->skip_success;
}

static ur_conn_t *uconn(ur_state_t *s, const sw_conn_t *c) {
    if (c->index >= s->uc_cap) {
        uint32_t cap = s->uc_cap ? s->uc_cap : 64;
        while (cap <= c->index)
            cap *= 2;
        ur_conn_t **n = realloc(s->uc, cap * sizeof *n);
        if (n == NULL)
            return NULL;
        memset(n + s->uc_cap, 0, (cap - s->uc_cap) * sizeof *n);
        s->uc = n;
        s->uc_cap = cap;
    }
    if (s->uc[c->index] == NULL)
        s->uc[c->index] = calloc(1, sizeof(ur_conn_t));
    return s->uc[c->index];
}

/* ---- provided buffers -------------------------------------------------------------------------------------------- */

/* Puts `buf` into the ring under buffer id `bid`. */
static void ring_provide(ur_state_t *s, char *buf, uint32_t bid) {
    s->bufs[bid] = buf;
    io_uring_buf_ring_add(s->br, buf, UR_BUF_SIZE, (unsigned short)bid, io_uring_buf_ring_mask(UR_BUF_RING), 0);
    io_uring_buf_ring_advance(s->br, 1);
}

/* Adds up to `n` new buffers (new buffer ids). Returns how many were added. */
static uint32_t ring_grow(sw_loop_t *l, uint32_t n) {
    ur_state_t *s = l->be_state;
    uint32_t added = 0;
    while (added < n && s->nbufs < UR_BUF_RING) {
        uint32_t cap = UR_BUF_SIZE;
        char *b = sw__pool_get(l, &cap);
        if (b == NULL)
            break;
        ring_provide(s, b, s->nbufs++);
        added++;
    }
    return added;
}

static void ring_init(sw_loop_t *l) {
    ur_state_t *s = l->be_state;
    void *mem = NULL;
    if (posix_memalign(&mem, 4096, UR_BUF_RING * sizeof(struct io_uring_buf)) != 0)
        return;
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (uint64_t)(uintptr_t)mem;
    reg.ring_entries = UR_BUF_RING;
    reg.bgid = UR_BGID;
    if (io_uring_register_buf_ring(&s->ring, &reg, 0) != 0) {
        free(mem); /* before 5.19: every recv reads into the connection's own buffer */
        return;
    }
    s->br = mem;
    io_uring_buf_ring_init(s->br);
    ring_grow(l, UR_BUF_START);
}

/* A recv completed into the provided buffer `bid`: the caller gets that buffer and the slot a fresh one from the
 * pool. NULL (the buffer stays in the ring) if the pool is out of memory. */
static char *ring_take(sw_loop_t *l, uint32_t bid) {
    ur_state_t *s = l->be_state;
    char *b = s->bufs[bid];
    uint32_t cap = UR_BUF_SIZE;
    char *fresh = sw__pool_get(l, &cap);
    ring_provide(s, fresh != NULL ? fresh : b, bid);
    return fresh != NULL ? b : NULL;
}

/* ---- connections ------------------------------------------------------------------------------------------------- */

static void ur_close(sw_loop_t *l, sw_conn_t *c) {
    ur_state_t *s = l->be_state;
    if (c->flags & CF_CLOSED)
        return;
    c->flags |= CF_CLOSED; /* from here on its completions are only counted */
    sw__timer_clear(l, c); /* a closed connection waiting for its cancellations must not time out again */
    if (c->flags & CF_RECVING)
        submit_cancel(s, ud_pack(OP_RECV, c->gen, c->index));
    if (c->flags & CF_SENDING)
        submit_cancel(s, ud_pack(s->uc[c->index]->send_op, c->gen, c->index));
    if (s->uc[c->index] != NULL && s->uc[c->index]->hangup_armed)
        submit_cancel(s, ud_pack(OP_HANGUP, c->gen, c->index));
    submit_close(s, c->fd);
    c->fd = -1;
    if (c->inflight == 0)
        sw__conn_free(c);
}

/* While reading is paused under a pending handler, a peer that resets the connection is noticed only by a poll
 * for the conditions always reported (POLLERR, POLLHUP; not a half-close, which HTTP/1.1 allows): the connection
 * is then closed, which tells the handler (sw_conn_on_close) so it can stop. One per connection, kept armed
 * until it fires or the connection closes. */
static void arm_hangup(sw_loop_t *l, sw_conn_t *c) {
    ur_state_t *s = l->be_state;
    ur_conn_t *u = uconn(s, c);
    if (u == NULL || u->hangup_armed)
        return;
    struct io_uring_sqe *sqe = sqe_get(s);
    if (sqe == NULL)
        return; /* no watch this time: the reset shows when the handler answers */
    io_uring_prep_poll_add(sqe, c->fd, POLLERR | POLLHUP);
    io_uring_sqe_set_data64(sqe, ud_pack(OP_HANGUP, c->gen, c->index));
    u->hangup_armed = true;
    c->inflight++;
}

/* Arms a recv into the space the connection offers, unless one is in flight or reading is paused. `drained`:
 * the last recv came back short, so the socket is empty and the next bytes come only after our response (a
 * keep-alive client waits for it); IORING_RECVSEND_POLL_FIRST then skips the attempt that would find nothing
 * and arms the poll at once. */
static void arm_recv(sw_loop_t *l, sw_conn_t *c, bool drained) {
    ur_state_t *s = l->be_state;
    if (c->flags & (CF_CLOSED | CF_RECVING))
        return;
    char *at = NULL;
    uint32_t space;
    /* between requests, with nothing buffered: read into a provided buffer and hold none while waiting */
    bool select = s->br != NULL && !sw__conn_answering(c) && sw__conn_release_input(c);
    if (select) {
        space = UR_BUF_SIZE;
    } else {
        space = sw__conn_read_space(c, &at);
        if (space == 0) {
            if (sw__conn_answering(c))
                arm_hangup(l, c); /* a reset while the handler runs is seen now, not when it answers */
            return; /* paused (pending handler, or the buffer at its limit); want_read resumes */
        }
    }
    ur_conn_t *u = uconn(s, c);
    struct io_uring_sqe *sqe = u != NULL ? sqe_get(s) : NULL;
    if (sqe == NULL) {
        ur_close(l, c);
        return;
    }
    io_uring_prep_recv(sqe, c->fd, at, space, 0);
    if (select) {
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = UR_BGID;
    }
    u->recv_len = space;
    u->recv_select = select;
    u->recv_poll_first = drained && s->poll_first;
    if (u->recv_poll_first)
        sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
    io_uring_sqe_set_data64(sqe, ud_pack(OP_RECV, c->gen, c->index));
    c->flags |= CF_RECVING;
    c->inflight++;
}

/* A recv into the connection's own buffer, when the ring is empty and cannot grow. */
static void arm_recv_own(sw_loop_t *l, sw_conn_t *c) {
    char *at;
    if (c->in.data == NULL && sw__conn_read_space(c, &at) == 0) {
        ur_close(l, c);
        return;
    }
    arm_recv(l, c, false); /* with an input buffer, arm_recv does not select */
}

static void arm_pollout(sw_loop_t *l, sw_conn_t *c, ur_conn_t *u) {
    struct io_uring_sqe *sqe = sqe_get(l->be_state);
    if (sqe == NULL) {
        ur_close(l, c);
        return;
    }
    io_uring_prep_poll_add(sqe, c->fd, POLLOUT);
    io_uring_sqe_set_data64(sqe, ud_pack(OP_POLLOUT, c->gen, c->index));
    u->send_op = OP_POLLOUT;
    c->flags |= CF_SENDING;
    c->inflight++;
}

/* A file range goes out with a synchronous sendfile from the loop thread: zero-copy from the page cache, and no
 * pipe per connection as IORING_OP_SPLICE would need (file -> pipe -> socket, two linked splices per chunk).
 * The socket is non-blocking, so a full send buffer gives EAGAIN, and a one-shot POLLOUT then stands in for
 * the send in flight. After a chunk of UR_SENDFILE_CHUNK the same poll yields the turn to other connections.
 * The cost of this choice: a file that is not in the page cache makes the loop thread wait for the disk.
 * Returns true when the segment is done and the next output may be sent now. */
static bool send_file(sw_loop_t *l, sw_conn_t *c, ur_conn_t *u, sw_seg_t *f) {
    off_t off = (off_t)(f->off + c->seg_sent);
    uint64_t left = f->len - c->seg_sent;
    ssize_t w;
    do {
        w = sendfile(c->fd, f->fd, &off, left > UR_SENDFILE_CHUNK ? UR_SENDFILE_CHUNK : (size_t)left);
    } while (w < 0 && errno == EINTR);
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        arm_pollout(l, c, u);
        return false;
    }
    if (w == 0) {
        w = -1;
        errno = EIO; /* the file is shorter than promised */
    }
    if (w < 0) {
        sw__conn_on_written(c, -errno);
        return false;
    }
    sw__conn_on_written(c, w);
    if (c->flags & CF_CLOSED)
        return false;
    if (sw__conn_file_seg(c) == f) {
        arm_pollout(l, c, u); /* more of this range: next turn, when there is room */
        return false;
    }
    return true;
}

/* Sends the queued output: one send (or sendmsg for several pieces) in flight at a time. */
static void start_send(sw_loop_t *l, sw_conn_t *c) {
    ur_state_t *s = l->be_state;
    for (;;) {
        if ((c->flags & (CF_CLOSED | CF_SENDING)) || !sw__conn_has_output(c))
            return;
        ur_conn_t *u = uconn(s, c);
        if (u == NULL) {
            sw__conn_on_written(c, -ENOMEM);
            return;
        }
        int n = sw__conn_iov(c, u->iov, UR_IOV);
        if (n > 0) {
            struct io_uring_sqe *sqe = sqe_get(s);
            if (sqe == NULL) {
                sw__conn_on_written(c, -ENOMEM);
                return;
            }
            /* MSG_NOSIGNAL: a peer that went away gives EPIPE, never SIGPIPE */
            if (n == 1) {
                io_uring_prep_send(sqe, c->fd, u->iov[0].iov_base, u->iov[0].iov_len, MSG_NOSIGNAL);
            } else {
                memset(&u->mh, 0, sizeof u->mh);
                u->mh.msg_iov = u->iov;
                u->mh.msg_iovlen = (size_t)n;
                io_uring_prep_sendmsg(sqe, c->fd, &u->mh, MSG_NOSIGNAL);
            }
            io_uring_sqe_set_data64(sqe, ud_pack(OP_SEND, c->gen, c->index));
            u->send_op = OP_SEND;
            c->flags |= CF_SENDING;
            c->inflight++;
            return;
        }
        sw_seg_t *f = sw__conn_file_seg(c);
        if (f == NULL || !send_file(l, c, u, f))
            return;
    }
}

/* `buf`: the provided buffer the recv filled (NULL if none); taken by the connection or returned to the pool. */
static void on_conn_cqe(sw_loop_t *l, unsigned op, sw_conn_t *c, int res, char *buf) {
    c->inflight--;
    if (op == OP_RECV)
        c->flags &= ~(uint32_t)CF_RECVING;
    else if (op == OP_HANGUP)
        ((ur_state_t *)l->be_state)->uc[c->index]->hangup_armed = false;
    else
        c->flags &= ~(uint32_t)CF_SENDING;
    if (c->flags & CF_CLOSED) {
        sw__pool_put(l, buf, UR_BUF_SIZE);
        if (c->inflight == 0)
            sw__conn_free(c);
        return;
    }
    switch (op) {
    case OP_RECV: {
        ur_state_t *s = l->be_state;
        ur_conn_t *u = s->uc[c->index]; /* exists: arm_recv made it */
        if (buf != NULL && (res <= 0 || !sw__conn_adopt_input(c, buf, UR_BUF_SIZE))) {
            sw__pool_put(l, buf, UR_BUF_SIZE);
            if (res > 0)
                res = -EIO; /* cannot happen: a selecting recv is armed only without an input buffer */
        }
        if (res == -EINVAL && u->recv_poll_first) {
            s->poll_first = false; /* before 5.19 */
            res = -EAGAIN;
        }
        if (res == -EINTR || res == -EAGAIN) {
            arm_recv(l, c, false);
            return;
        }
        if (res == -ENOBUFS && u->recv_select) {
            /* the ring ran dry: give it more buffers, or read into the connection's own this time */
            if (ring_grow(l, UR_BUF_GROW) > 0)
                arm_recv(l, c, false);
            else
                arm_recv_own(l, c);
            return;
        }
        if (res > 0 && u->recv_select && buf == NULL)
            res = -ENOMEM; /* ring_take found the pool empty: the bytes are lost, and so is the connection */
        bool drained = res > 0 && (uint32_t)res < u->recv_len;
        sw__conn_on_read(c, res); /* 0 = EOF, < 0 = -errno; may close c (then freed here or at its last CQE) */
        if (res > 0 && !(c->flags & (CF_CLOSED | CF_READ_EOF)))
            arm_recv(l, c, drained);
        return;
    }
    case OP_SEND:
        if (res == -EINTR || res == -EAGAIN)
            res = 0; /* nothing sent; try again */
        sw__conn_on_written(c, res);
        start_send(l, c);
        return;
    case OP_HANGUP:
        if (res > 0 && (res & (POLLERR | POLLHUP)))
            ur_close(l, c); /* reset or hung up: nothing can reach the peer any more */
        return;
    case OP_POLLOUT:
        /* POLLERR and POLLHUP are reported too; the next sendfile then fails with the real error */
        if (res < 0)
            sw__conn_on_written(c, res);
        else
            start_send(l, c);
        return;
    }
}

/* ---- accept ------------------------------------------------------------------------------------------------------ */

static void arm_accept(sw_loop_t *l) {
    ur_state_t *s = l->be_state;
    struct io_uring_sqe *sqe = sqe_get(s);
    if (sqe == NULL) {
        l->accept_paused = true;
        l->accept_retry_ms = l->now_ms + UR_ACCEPT_BACKOFF_MS;
        return;
    }
    /* the accepted sockets are non-blocking for the synchronous sendfile; io_uring's recv and send still wait
     * for data or room by polling */
    s->accept_is_multi = s->accept_multishot && l->max_conns - l->conns_open > UR_MULTISHOT_ROOM;
    if (s->accept_is_multi)
        io_uring_prep_multishot_accept(sqe, l->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    else
        io_uring_prep_accept(sqe, l->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, ud_pack(OP_ACCEPT, 0, 0));
    s->accept_inflight = true;
}

/* Stops accepting for a while: at the connection limit (until one closes) or out of descriptors (for
 * UR_ACCEPT_BACKOFF_MS), instead of spinning on a listener that stays ready. */
static void pause_accept(sw_loop_t *l, uint32_t backoff_ms) {
    ur_state_t *s = l->be_state;
    l->accept_retry_ms = l->now_ms + backoff_ms;
    if (l->accept_paused)
        return;
    l->accept_paused = true;
    if (s->accept_inflight && s->accept_is_multi)
        submit_cancel(s, ud_pack(OP_ACCEPT, 0, 0));
}

/* Makes an accepted socket a connection and starts reading it. */
static void admit(sw_loop_t *l, int fd) {
    sw__tune_socket(l->server, fd);
    sw_conn_t *c = sw__conn_new(l, fd); /* closes the fd itself when over the limit */
    if (c == NULL)
        return;
    if (uconn(l->be_state, c) == NULL) {
        ur_close(l, c);
        return;
    }
    arm_recv(l, c, false); /* the first request is usually there already; the recv completes at submission */
}

/* Parked sockets (see UR_MULTISHOT_ROOM) take the slots that connections freed, before any new accept; at shutdown they are
 * closed, as the listener's backlog is. */
static void admit_parked(sw_loop_t *l) {
    ur_state_t *s = l->be_state;
    uint32_t taken = 0;
    while (taken < s->nparked && (l->listener_closed || l->conns_open < l->max_conns)) {
        int fd = s->parked[taken++];
        if (l->listener_closed)
            close(fd);
        else
            admit(l, fd);
    }
    if (taken > 0) {
        memmove(s->parked, s->parked + taken, (s->nparked - taken) * sizeof s->parked[0]);
        s->nparked -= taken;
    }
}

/* Once a turn: re-arms the accept when it ended (a multishot can end: error, cancel, or the kernel's choice)
 * or when a pause is over. */
static void maybe_arm_accept(sw_loop_t *l) {
    ur_state_t *s = l->be_state;
    if (s->nparked > 0)
        admit_parked(l);
    if (l->listener_closed || l->listen_fd < 0 || s->accept_inflight || s->nparked > 0)
        return;
    if (l->accept_paused) {
        if (l->conns_open >= l->max_conns || l->now_ms < l->accept_retry_ms)
            return;
        l->accept_paused = false;
    }
    arm_accept(l);
}

static void on_accept(sw_loop_t *l, int res, unsigned cqe_flags) {
    ur_state_t *s = l->be_state;
    if (!(cqe_flags & IORING_CQE_F_MORE))
        s->accept_inflight = false; /* this accept is over; maybe_arm_accept re-arms it */
    if (res >= 0) {
        if (l->listener_closed) {
            close(res); /* accepted just before the listener was cancelled: refuse it as epoll's close would */
            return;
        }
        if (l->conns_open >= l->max_conns || s->nparked > 0) {
            /* a multishot accept ran on past the limit: hold the socket until a slot frees (FIFO) */
            if (s->nparked == s->parked_cap) {
                uint32_t cap = s->parked_cap ? s->parked_cap * 2 : 64;
                int *p = realloc(s->parked, cap * sizeof *p);
                if (p == NULL) {
                    close(res);
                    pause_accept(l, UR_ACCEPT_BACKOFF_MS);
                    return;
                }
                s->parked = p;
                s->parked_cap = cap;
            }
            s->parked[s->nparked++] = res;
            pause_accept(l, 0);
            return;
        }
        admit(l, res);
        if (l->conns_open >= l->max_conns)
            pause_accept(l, 0);
        return;
    }
    switch (-res) {
    case ECANCELED: /* paused or stopped */
    case ECONNABORTED:
    case EINTR:
    case EAGAIN:
        return;
    case EINVAL:
        if (s->accept_is_multi) {
            s->accept_multishot = false; /* before 5.19: one accept per SQE */
            return;
        }
        break;
    default:
        break;
    }
    /* EMFILE, ENFILE, ENOBUFS, ENOMEM, or anything unexpected: back off rather than spin */
    pause_accept(l, UR_ACCEPT_BACKOFF_MS);
}

/* ---- wake -------------------------------------------------------------------------------------------------------- */

static void arm_wake(sw_loop_t *l) {
    ur_state_t *s = l->be_state;
    struct io_uring_sqe *sqe = sqe_get(s);
    if (sqe == NULL)
        return; /* the loop still ticks every SW_TICK_MS; posted work waits at most that long */
    if (s->wake_multishot)
        io_uring_prep_poll_multishot(sqe, l->event_fd, POLLIN);
    else
        io_uring_prep_poll_add(sqe, l->event_fd, POLLIN);
    io_uring_sqe_set_data64(sqe, ud_pack(OP_WAKE, 0, 0));
    s->wake_armed = true;
}

static void on_wake(sw_loop_t *l, int res, unsigned cqe_flags) {
    ur_state_t *s = l->be_state;
    if (!(cqe_flags & IORING_CQE_F_MORE)) {
        s->wake_armed = false;
        if (res == -EINVAL && s->wake_multishot)
            s->wake_multishot = false; /* before 5.13 */
    }
    /* Reset the counter (the eventfd is non-blocking); the posted work itself runs in sw__loop_tick. */
    uint64_t v;
    while (read(l->event_fd, &v, sizeof v) < 0 && errno == EINTR) {
    }
}

/* ---- the loop ---------------------------------------------------------------------------------------------------- */

static int ur_init(sw_loop_t *l) {
    ur_state_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return -ENOMEM;
    int r = ring_setup(&s->ring, UR_SQ_ENTRIES, UR_CQ_ENTRIES, &s->setup_flags);
    if (r < 0) {
        free(s);
        return r;
    }
    s->ring_live = true;
    s->skip_success = (s->ring.features & IORING_FEAT_CQE_SKIP) ? IOSQE_CQE_SKIP_SUCCESS : 0;
    s->accept_multishot = true;
    s->wake_multishot = true;
    s->poll_first = true;
    l->be_state = s;
    ring_init(l);
    /* the first accept and wake are armed by the first turn of ur_run */
    return 0;
}

static void ring_down(sw_loop_t *l) {
    ur_state_t *s = l->be_state;
    if (!s->ring_live)
        return;
    ring_exit(&s->ring);
    s->ring_live = false;
}

static void ur_run(sw_loop_t *l) {
    ur_state_t *s = l->be_state;
    while (!sw__loop_done(l)) {
        maybe_arm_accept(l);
        if (!s->wake_armed)
            arm_wake(l);
        int ms = sw__loop_next_timeout_ms(l);
        struct __kernel_timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long long)(ms % 1000) * 1000000};
        struct io_uring_cqe *cqe;
        /* The turn's only syscall: submit everything prepared since the last one, and wait for a completion
         * or the tick, whichever comes first. */
        int r = io_uring_submit_and_wait_timeout(&s->ring, &cqe, 1, &ts, NULL);
        if (r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN && r != -EBUSY && r != -ENOMEM)
            break; /* the ring is unusable (a bug, not a condition); the connections are closed below */
        l->now_ms = sw__now_ms();
        unsigned head, n = 0;
        io_uring_for_each_cqe(&s->ring, head, cqe) {
            n++;
            uint64_t ud = cqe->user_data;
            unsigned op = ud_op(ud);
            if (op == OP_ACCEPT) {
                on_accept(l, cqe->res, cqe->flags);
            } else if (op == OP_WAKE) {
                on_wake(l, cqe->res, cqe->flags);
            } else if (op == OP_RECV || op == OP_SEND || op == OP_POLLOUT || op == OP_HANGUP) {
                char *buf = NULL;
                if (op == OP_RECV && (cqe->flags & IORING_CQE_F_BUFFER))
                    buf = ring_take(l, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
                uint32_t index = ud_index(ud);
                sw_conn_t *c = index < l->conns_cap ? l->conns[index] : NULL;
                if (c != NULL && c->gen == ud_gen(ud))
                    on_conn_cqe(l, op, c, cqe->res, buf);
                else
                    sw__pool_put(l, buf, UR_BUF_SIZE);
            }
            /* OP_CANCEL, OP_CLOSE: failures (ENOENT, EALREADY: the target completes by itself) need nothing */
        }
        io_uring_cq_advance(&s->ring, n);
        sw__loop_tick(l);
    }
    /* The last turn may have queued closes (connections, the listener): run them before the ring goes. */
    while (io_uring_submit(&s->ring) == -EINTR) {
    }
    if (!sw__loop_done(l)) {
        /* Abnormal end: tear the ring down (the kernel cancels what it holds), then free what waited for it. */
        ring_down(l);
        for (uint32_t i = 0; i < l->conns_cap; i++) {
            sw_conn_t *c = l->conns[i];
            if (c == NULL)
                continue;
            if (!(c->flags & CF_CLOSED)) {
                close(c->fd);
                c->fd = -1;
                c->flags |= CF_CLOSED;
            }
            c->inflight = 0;
            sw__conn_free(c);
        }
    }
}

static void ur_destroy(sw_loop_t *l) {
    ur_state_t *s = l->be_state;
    if (s == NULL)
        return;
    ring_down(l); /* unregisters the buffer ring too */
    for (uint32_t i = 0; i < s->nparked; i++)
        close(s->parked[i]);
    free(s->parked);
    for (uint32_t i = 0; i < s->nbufs; i++)
        free(s->bufs[i]);
    free(s->br);
    for (uint32_t i = 0; i < s->uc_cap; i++)
        free(s->uc[i]);
    free(s->uc);
    free(s);
    l->be_state = NULL;
}

static void ur_want_write(sw_loop_t *l, sw_conn_t *c) {
    start_send(l, c); /* a send in flight continues from its completion */
}

static void ur_want_read(sw_loop_t *l, sw_conn_t *c) {
    arm_recv(l, c, false); /* bytes may have arrived while reading was paused */
}

static void ur_wake(sw_loop_t *l) {
    uint64_t one = 1;
    while (write(l->event_fd, &one, sizeof one) < 0 && errno == EINTR) {
    }
}

static void ur_stop_accepting(sw_loop_t *l) {
    ur_state_t *s = l->be_state;
    if (l->listen_fd < 0)
        return;
    if (s->accept_inflight)
        submit_cancel(s, ud_pack(OP_ACCEPT, 0, 0));
    /* the accept holds its own reference to the listener until the cancel completes; the number goes now */
    submit_close(s, l->listen_fd);
    l->listen_fd = -1;
}

const sw_backend_ops_t sw__backend_uring = {
    .name = "io_uring",
    .init = ur_init,
    .run = ur_run,
    .destroy = ur_destroy,
    .want_write = ur_want_write,
    .want_read = ur_want_read,
    .close = ur_close,
    .wake = ur_wake,
    .stop_accepting = ur_stop_accepting,
};
