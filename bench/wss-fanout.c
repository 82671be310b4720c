/*
 * wss-fanout.c — S1a's fan-out over ws:// or wss://, with or without permessage-deflate
 * (issue 16; a benchmark client, not a test). ../shared/bench/wsbench speaks neither TLS nor
 * deflate, so bench/fanout-tls builds this instead.
 *
 *   cc -O2 -std=c11 -o wss-fanout bench/wss-fanout.c -lssl -lcrypto
 *   wss-fanout --url wss://localhost:PORT/sub/t1 --cafile ca.pem [-c 1000] [-d 10] [--deflate]
 *              [--window 8] [--server-pid PID] [--insecure] [--body FILE]
 *
 * Opens -c WebSocket subscribers of the URL (Herald `serve --bench`: GET /sub/<topic>), each
 * offering `permessage-deflate; client_no_context_takeover; server_no_context_takeover` with
 * --deflate, then, on one keep-alive connection of the same scheme, POSTs the body to
 * /pub/<topic> as fast as --window pipelined requests allow (S1a: window 8) for -d seconds,
 * waits up to --drain seconds for the deliveries still on their way, and prints one JSON line.
 * Frames are counted, not inflated: `compressed` counts messages with RSV1 set. `ws_bytes` are
 * the WebSocket bytes the subscribers received while publishing (headers + payloads),
 * `wire_bytes` what their sockets delivered (the same over ws; TLS records over wss).
 * With --server-pid the server's utime+stime (/proc/PID/stat, all threads) is read when
 * publishing starts and when the drain ends, so the handshakes stay out of `server_cpu_s`.
 *
 * The default body is a task progress event as `/ws` pushes it (697 bytes of JSON, its seq
 * varying): S1a's own 40-byte body is below Herald's 64-byte floor for compressing a message.
 *
 * One thread, one epoll loop, every socket non-blocking; OpenSSL's WANT_READ / WANT_WRITE are
 * honoured in both directions (a read that must write, a write that must read). Run it pinned
 * to one core next to the server pinned to another.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "wss-fanout: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    ERR_print_errors_fp(stderr);
    exit(2);
}

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n);
    if (!q && n) die("out of memory");
    return q;
}

/* ------------------------------------------------------------------ options */

static const char *o_url, *o_cafile, *o_body_file, *o_pub_path;
static int o_conns = 1000, o_window = 8, o_inflight = 100, o_deflate, o_insecure, o_server_pid;
static double o_dur = 10, o_drain = 10, o_settle = 1, o_open_timeout = 120;

static int use_tls;
static char host[300], hostport[300], sub_path[1024], pub_path[1024];
static struct sockaddr_in addr;
static SSL_CTX *ctx;

static void parse_url(const char *s) {
    if (!strncmp(s, "wss://", 6)) { use_tls = 1; s += 6; }
    else if (!strncmp(s, "ws://", 5)) s += 5;
    else die("URL must start with ws:// or wss://: %s", s);
    const char *slash = strchr(s, '/');
    size_t hl = slash ? (size_t)(slash - s) : strlen(s);
    if (hl >= sizeof hostport) die("host too long");
    memcpy(hostport, s, hl);
    hostport[hl] = 0;
    snprintf(sub_path, sizeof sub_path, "%s", slash ? slash : "/");
    char port[16];
    snprintf(port, sizeof port, "%s", use_tls ? "443" : "80");
    snprintf(host, sizeof host, "%s", hostport);
    char *c = strrchr(host, ':');
    if (c) { snprintf(port, sizeof port, "%s", c + 1); *c = 0; }
    struct addrinfo hints = {0}, *res;
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc) die("resolve %s: %s", host, gai_strerror(rc));
    memcpy(&addr, res->ai_addr, sizeof addr);
    freeaddrinfo(res);
    if (o_pub_path) snprintf(pub_path, sizeof pub_path, "%s", o_pub_path);
    else if (!strncmp(sub_path, "/sub/", 5)) snprintf(pub_path, sizeof pub_path, "/pub/%s", sub_path + 5);
    else die("cannot derive the publish path from %s: give --pub PATH", sub_path);
}

/* ------------------------------------------------------------------ connections */

enum { K_SUB, K_PUB };
enum { S_CONNECTING, S_TLS, S_UPGRADE, S_OPEN };
enum { F_HEAD, F_PAYLOAD };

typedef struct conn {
    int fd;
    SSL *ssl;
    uint8_t kind, state;
    uint8_t read_wants_write, write_wants_read; /* SSL_ERROR_WANT_* seen by the other direction */
    uint32_t events;                           /* registered epoll mask */
    char *w; size_t wlen, woff, wcap;          /* pending output */
    char *r; size_t rlen, rcap;                /* HTTP heads / responses not yet parsed */
    uint64_t wire_in;                          /* bytes the socket delivered (BIO callback on TLS) */
    /* frame parser (subscribers) */
    uint8_t fstate, fhlen, hdr[14], ctl_op, msg_rsv1, in_msg;
    uint64_t fleft;
    uint8_t ctl[125]; size_t ctl_len;
    /* publisher */
    int inflight;
} conn;

static int ep;
static conn **subs;
static int n_subs, subs_started, hs_inflight;
static conn *pub;
static uint64_t st_open, st_failed, st_dropped, st_negotiated, st_sent, st_pub_err, st_expected;
static uint64_t st_deliveries, st_compressed, st_ws_bytes, st_wire_bytes, st_other;
static uint64_t t_first, t_last;
static int measuring; /* counting deliveries (publishing or draining) */
static char rbuf[1 << 18];

static void set_events(conn *c) {
    uint32_t ev = EPOLLIN;
    if (c->state == S_CONNECTING) ev |= EPOLLOUT;
    else if (c->read_wants_write) ev |= EPOLLOUT;
    else if (c->wlen > c->woff && !c->write_wants_read) ev |= EPOLLOUT;
    if (ev != c->events) {
        struct epoll_event e = {.events = ev, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
        c->events = ev;
    }
}

static void conn_close(conn *c) {
    if (c->ssl) SSL_free(c->ssl);
    if (c->fd >= 0) close(c->fd);
    free(c->w);
    free(c->r);
    c->fd = -1;
    c->ssl = NULL;
    c->w = c->r = NULL;
}

static void sub_fail(conn *c, const char *why) {
    if (c->fd < 0) return;
    if (c->state == S_OPEN) st_dropped++;
    else { st_failed++; hs_inflight--; }
    static int told;
    if (told++ < 5) fprintf(stderr, "wss-fanout: subscriber lost (%s)\n", why);
    conn_close(c);
}

static void queue_w(conn *c, const void *d, size_t n) {
    if (c->woff == c->wlen) c->woff = c->wlen = 0;
    if (c->wlen + n > c->wcap) {
        c->wcap = (c->wlen + n) * 2 < 4096 ? 4096 : (c->wlen + n) * 2;
        c->w = xrealloc(c->w, c->wcap);
    }
    memcpy(c->w + c->wlen, d, n);
    c->wlen += n;
}

/* 1 = progress or done, 0 = would block, -1 = error */
static int flush_w(conn *c) {
    c->write_wants_read = 0;
    while (c->woff < c->wlen) {
        size_t n = c->wlen - c->woff;
        if (c->ssl) {
            ERR_clear_error();
            int k = SSL_write(c->ssl, c->w + c->woff, n > INT32_MAX ? INT32_MAX : (int)n);
            if (k <= 0) {
                int e = SSL_get_error(c->ssl, k);
                if (e == SSL_ERROR_WANT_WRITE) break;
                if (e == SSL_ERROR_WANT_READ) { c->write_wants_read = 1; break; }
                return -1;
            }
            c->woff += (size_t)k;
        } else {
            ssize_t k = send(c->fd, c->w + c->woff, n, MSG_NOSIGNAL);
            if (k < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) break;
                if (errno == EINTR) continue;
                return -1;
            }
            c->woff += (size_t)k;
        }
    }
    if (c->woff == c->wlen) c->woff = c->wlen = 0;
    return 0;
}

/* >0 bytes, 0 EOF, -1 error, -2 would block */
static ssize_t read_some(conn *c, char *buf, size_t cap) {
    c->read_wants_write = 0;
    if (c->ssl) {
        ERR_clear_error();
        int k = SSL_read(c->ssl, buf, (int)cap);
        if (k > 0) return k;
        int e = SSL_get_error(c->ssl, k);
        if (e == SSL_ERROR_WANT_READ) return -2;
        if (e == SSL_ERROR_WANT_WRITE) { c->read_wants_write = 1; return -2; }
        if (e == SSL_ERROR_ZERO_RETURN) return 0;
        return -1;
    }
    for (;;) {
        ssize_t k = recv(c->fd, buf, cap, 0);
        if (k > 0) { c->wire_in += (uint64_t)k; return k; }
        if (k == 0) return 0;
        if (errno == EINTR) continue;
        return (errno == EAGAIN || errno == EWOULDBLOCK) ? -2 : -1;
    }
}

/* Counts what the TCP socket hands to OpenSSL: TLS records, on the wire. */
static long bio_count(BIO *b, int oper, const char *argp, size_t len, int argi, long argl, int ret,
                      size_t *processed) {
    (void)argp; (void)len; (void)argi; (void)argl;
    if (oper == (BIO_CB_READ | BIO_CB_RETURN) && ret > 0 && processed) {
        conn *c = (conn *)BIO_get_callback_arg(b);
        c->wire_in += *processed;
    }
    return ret;
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void send_upgrade(conn *c) {
    uint8_t k[18] = {0};
    for (int i = 0; i < 16; i++) k[i] = (uint8_t)rand();
    char key[25];
    int o = 0;
    for (int i = 0; i < 18; i += 3) {
        uint32_t v = (uint32_t)k[i] << 16 | (uint32_t)k[i + 1] << 8 | k[i + 2];
        key[o++] = B64[(v >> 18) & 63]; key[o++] = B64[(v >> 12) & 63];
        key[o++] = B64[(v >> 6) & 63]; key[o++] = B64[v & 63];
    }
    key[22] = key[23] = '=';
    key[24] = 0;
    char req[2048];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
                     sub_path, hostport, key,
                     o_deflate ? "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover; "
                                 "server_no_context_takeover\r\n" : "");
    queue_w(c, req, (size_t)n);
}

static conn *open_conn(int kind) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conn *c = calloc(1, sizeof *c);
    if (!c) die("out of memory");
    c->fd = fd;
    c->kind = (uint8_t)kind;
    c->state = S_CONNECTING;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS)
        die("connect %s: %s", hostport, strerror(errno));
    c->events = EPOLLIN | EPOLLOUT;
    struct epoll_event e = {.events = c->events, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
    if (kind == K_SUB) hs_inflight++;
    return c;
}

static void start_tls(conn *c) {
    c->ssl = SSL_new(ctx);
    if (!c->ssl) die("SSL_new");
    BIO *b = BIO_new_socket(c->fd, BIO_NOCLOSE);
    BIO_set_callback_arg(b, (char *)c);
    BIO_set_callback_ex(b, bio_count);
    SSL_set_bio(c->ssl, b, b);
    struct in_addr ip;
    if (inet_pton(AF_INET, host, &ip) == 1) {
        if (!o_insecure) X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), host);
    } else {
        SSL_set_tlsext_host_name(c->ssl, host);
        if (!o_insecure) SSL_set1_host(c->ssl, host);
    }
    SSL_set_connect_state(c->ssl);
    c->state = S_TLS;
}

/* 1 done, 0 in progress, -1 failed */
static int drive_tls(conn *c) {
    ERR_clear_error();
    int k = SSL_do_handshake(c->ssl);
    c->read_wants_write = 0;
    if (k == 1) return 1;
    int e = SSL_get_error(c->ssl, k);
    if (e == SSL_ERROR_WANT_READ) return 0;
    if (e == SSL_ERROR_WANT_WRITE) { c->read_wants_write = 1; return 0; }
    static int told;
    if (told++ < 3) {
        long v = SSL_get_verify_result(c->ssl);
        fprintf(stderr, "wss-fanout: TLS handshake failed: %s\n",
                v != X509_V_OK ? X509_verify_cert_error_string(v) : "see below");
        ERR_print_errors_fp(stderr);
    }
    return -1;
}

/* After TCP connect (and the TLS handshake): the subscriber asks to upgrade, the publisher is ready. */
static void on_ready(conn *c) {
    if (c->kind == K_SUB) {
        c->state = S_UPGRADE;
        send_upgrade(c);
    } else c->state = S_OPEN;
}

/* ------------------------------------------------------------------ frames */

static void on_frame_end(conn *c, uint8_t b0) {
    int op = b0 & 0x0f, fin = b0 & 0x80;
    if (op >= 0x8) {
        if (op == 0x9 && c->ctl_len <= 125) { /* pong, masked with a zero key: payload as is */
            uint8_t h[6] = {0x8A, (uint8_t)(0x80 | c->ctl_len), 0, 0, 0, 0};
            queue_w(c, h, 6);
            queue_w(c, c->ctl, c->ctl_len);
        } else if (op == 0x8) {
            uint8_t h[6] = {0x88, 0x80, 0, 0, 0, 0};
            queue_w(c, h, 6);
            flush_w(c);
            sub_fail(c, "close frame");
        } else if (op != 0xA) st_other++;
        return;
    }
    if (op != 0) { c->msg_rsv1 = (b0 & 0x40) != 0; c->in_msg = 1; }
    if (fin && c->in_msg) {
        c->in_msg = 0;
        if (measuring) {
            st_deliveries++;
            if (c->msg_rsv1) st_compressed++;
            t_last = now_ns();
            if (!t_first) t_first = t_last;
        }
    }
}

/* Streams frames without keeping their payloads (control frames' aside). */
static void parse_frames(conn *c, const uint8_t *p, size_t n) {
    if (measuring) st_ws_bytes += n;
    size_t i = 0;
    while (i < n && c->fd >= 0) {
        if (c->fstate == F_HEAD) {
            c->hdr[c->fhlen++] = p[i++];
            if (c->fhlen < 2) continue;
            uint8_t l7 = c->hdr[1] & 0x7f;
            size_t need = 2 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0) + ((c->hdr[1] & 0x80) ? 4 : 0);
            if (c->fhlen < need) continue;
            uint64_t len = l7;
            if (l7 == 126) len = (uint64_t)c->hdr[2] << 8 | c->hdr[3];
            else if (l7 == 127) { len = 0; for (int k = 0; k < 8; k++) len = len << 8 | c->hdr[2 + k]; }
            c->fleft = len;
            c->ctl_len = 0;
            c->fstate = F_PAYLOAD;
        }
        size_t take = n - i < c->fleft ? n - i : (size_t)c->fleft;
        if ((c->hdr[0] & 0x0f) >= 0x8 && c->ctl_len + take <= sizeof c->ctl) {
            memcpy(c->ctl + c->ctl_len, p + i, take);
            c->ctl_len += take;
        }
        i += take;
        c->fleft -= take;
        if (c->fleft == 0) {
            c->fstate = F_HEAD;
            c->fhlen = 0;
            on_frame_end(c, c->hdr[0]);
        }
    }
}

/* ------------------------------------------------------------------ HTTP */

static void keep(conn *c, const char *p, size_t n) {
    if (c->rlen + n > c->rcap) {
        c->rcap = (c->rlen + n) * 2;
        c->r = xrealloc(c->r, c->rcap);
    }
    memcpy(c->r + c->rlen, p, n);
    c->rlen += n;
}

static int header_has(const char *head, size_t hl, const char *name, const char *value) {
    const char *p = head, *end = head + hl;
    size_t nl = strlen(name);
    while (p < end) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (!eol) eol = end;
        if ((size_t)(eol - p) > nl && !strncasecmp(p, name, nl) && p[nl] == ':') {
            if (!value) return 1;
            if (memmem(p + nl + 1, (size_t)(eol - p - (long)nl - 1), value, strlen(value))) return 1;
        }
        p = eol + 2;
    }
    return 0;
}

static void on_upgrade_data(conn *c, const char *p, size_t n) {
    keep(c, p, n);
    char *e = memmem(c->r, c->rlen, "\r\n\r\n", 4);
    if (!e) {
        if (c->rlen > 16384) sub_fail(c, "upgrade response too long");
        return;
    }
    size_t hl = (size_t)(e + 4 - c->r);
    if (c->rlen < 12 || strncmp(c->r + 8, " 101", 4)) {
        static int told;
        if (told++ < 3) fprintf(stderr, "wss-fanout: upgrade refused: %.*s\n", (int)(hl > 200 ? 200 : hl), c->r);
        sub_fail(c, "no 101");
        return;
    }
    if (header_has(c->r, hl, "Sec-WebSocket-Extensions", "permessage-deflate")) st_negotiated++;
    c->state = S_OPEN;
    hs_inflight--;
    st_open++;
    size_t rest = c->rlen - hl;
    c->rlen = 0;
    if (rest) parse_frames(c, (const uint8_t *)e + 4, rest);
}

static char body[1 << 16];
static size_t body_len, body_seq_at; /* offset of the 8-digit seq in the body, 0 = none */
static char req_head[512];
static size_t req_head_len;

static void pub_send_one(void) {
    if (body_seq_at) {
        char d[9];
        snprintf(d, sizeof d, "%08llu", (unsigned long long)(st_sent % 100000000ull));
        memcpy(body + body_seq_at, d, 8);
    }
    queue_w(pub, req_head, req_head_len);
    queue_w(pub, body, body_len);
    pub->inflight++;
    st_sent++;
}

/* Consumes complete responses; each 2xx means one delivery to every open subscriber. */
static void on_pub_data(const char *p, size_t n) {
    keep(pub, p, n);
    size_t off = 0;
    for (;;) {
        char *s = pub->r + off, *e = memmem(s, pub->rlen - off, "\r\n\r\n", 4);
        if (!e) break;
        size_t hl = (size_t)(e + 4 - s);
        if (pub->rlen - off < 12 || strncmp(s, "HTTP/1.1 ", 9)) die("bad response from %s", pub_path);
        int status = atoi(s + 9);
        long clen = 0;
        for (char *q = s; q < e; q++) {
            if ((q == s || q[-1] == '\n') && !strncasecmp(q, "Content-Length:", 15)) clen = atol(q + 15);
            if ((q == s || q[-1] == '\n') && !strncasecmp(q, "Transfer-Encoding:", 18)) die("chunked response");
        }
        if (pub->rlen - off < hl + (size_t)clen) break;
        if (status >= 200 && status < 300) st_expected += st_open - st_dropped;
        else {
            st_pub_err++;
            if (st_pub_err <= 3) fprintf(stderr, "wss-fanout: publish answered %d\n", status);
        }
        pub->inflight--;
        off += hl + (size_t)clen;
        if (header_has(s, hl, "Connection", "close")) die("the server closed the publisher");
    }
    memmove(pub->r, pub->r + off, pub->rlen - off);
    pub->rlen -= off;
}

/* ------------------------------------------------------------------ events */

static void on_event(conn *c, uint32_t evs) {
    if (c->fd < 0) return;
    if (c->state == S_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err || (evs & (EPOLLERR | EPOLLHUP))) {
            if (c->kind == K_PUB) die("publisher: connect: %s", strerror(err));
            sub_fail(c, strerror(err));
            return;
        }
        if (!(evs & EPOLLOUT)) return;
        if (use_tls) start_tls(c);
        else on_ready(c);
    }
    if (c->state == S_TLS) {
        int r = drive_tls(c);
        if (r < 0) {
            if (c->kind == K_PUB) die("publisher: TLS handshake failed");
            sub_fail(c, "TLS handshake");
            return;
        }
        if (r == 0) { set_events(c); return; }
        on_ready(c);
    }
    /* writes: pending output, or a read that needed to write */
    if ((evs & EPOLLOUT) || c->write_wants_read || c->read_wants_write || c->wlen) {
        if (flush_w(c) < 0) {
            if (c->kind == K_PUB) die("publisher: write failed");
            sub_fail(c, "write");
            return;
        }
    }
    /* reads until the socket (or OpenSSL) has nothing more */
    for (int rounds = 0; rounds < 64 && c->fd >= 0; rounds++) {
        ssize_t k = read_some(c, rbuf, sizeof rbuf);
        if (k == -2) break;
        if (k <= 0) {
            if (c->kind == K_PUB) die("publisher: connection closed");
            sub_fail(c, k == 0 ? "EOF" : "read error");
            return;
        }
        if (c->kind == K_PUB) on_pub_data(rbuf, (size_t)k);
        else if (c->state == S_UPGRADE) on_upgrade_data(c, rbuf, (size_t)k);
        else parse_frames(c, (const uint8_t *)rbuf, (size_t)k);
    }
    if (c->fd < 0) return;
    if (c->wlen && !c->write_wants_read && flush_w(c) < 0) {
        if (c->kind == K_PUB) die("publisher: write failed");
        sub_fail(c, "write");
        return;
    }
    set_events(c);
}

static double proc_cpu_s(int pid) {
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) die("cannot read %s", path);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) die("bad %s", path);
    unsigned long long ut = 0, st = 0;
    /* after ')': state(3) ... utime is field 14, stime 15 */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) die("bad %s", path);
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static const char DEFAULT_BODY[] =
    "{\"type\":\"progress\",\"topic\":\"task:export-2026-12-04-eu-west-1\",\"seq\":SEQSEQSQ,\"task\":{"
    "\"id\":\"export-2026-12-04-eu-west-1\",\"title\":\"Nightly export of the customer ledger to the warehouse\","
    "\"status\":\"running\",\"done\":42,\"total\":64,\"message\":\"copied batch 42 of 64 (1,234,567 rows)\","
    "\"meta\":{\"dataset\":\"customer-ledger\",\"region\":\"eu-west-1\",\"requested_by\":\"ops@example.com\","
    "\"format\":\"parquet\",\"destination\":\"s3://warehouse/exports/ledger/2026-12-04/\"},"
    "\"created_at\":\"2026-12-04T02:00:00.118Z\",\"started_at\":\"2026-12-04T02:00:01.502Z\","
    "\"updated_at\":\"2026-12-04T02:41:17.930Z\",\"owner\":\"svc-exporter\",\"lease_expires_at\":"
    "\"2026-12-04T02:42:17.930Z\",\"deadline_at\":null,\"result\":null,\"error\":null},\"epoch\":\"e7c1b2\"}";

static void usage(void) {
    fprintf(stderr,
            "usage: wss-fanout --url ws[s]://HOST:PORT/sub/TOPIC [options]\n"
            "  -c N               subscribers (default 1000)\n"
            "  -d SECONDS         publishing time (default 10)\n"
            "  --window W         pipelined POSTs in flight on the publisher (default 8)\n"
            "  --deflate          offer permessage-deflate (no context takeover either way)\n"
            "  --cafile FILE      CA to verify the server certificate against (wss)\n"
            "  --insecure         do not verify the certificate\n"
            "  --pub PATH         publish path (default: /pub/TOPIC from the URL)\n"
            "  --body FILE        body to publish (default: a 697-byte task progress event)\n"
            "  --server-pid PID   read the server's CPU time around the publishing and the drain\n"
            "  --inflight N       handshakes in flight while opening (default 100)\n"
            "  --drain SECONDS    wait at most this long for outstanding deliveries (default 10)\n"
            "  --settle SECONDS   pause between all open and publishing (default 1)\n");
    exit(2);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define NEXT() (i + 1 < argc ? argv[++i] : (usage(), (char *)NULL))
        if (!strcmp(a, "--url")) o_url = NEXT();
        else if (!strcmp(a, "-c")) o_conns = atoi(NEXT());
        else if (!strcmp(a, "-d")) o_dur = atof(NEXT());
        else if (!strcmp(a, "--window")) o_window = atoi(NEXT());
        else if (!strcmp(a, "--deflate")) o_deflate = 1;
        else if (!strcmp(a, "--cafile")) o_cafile = NEXT();
        else if (!strcmp(a, "--insecure")) o_insecure = 1;
        else if (!strcmp(a, "--pub")) o_pub_path = NEXT();
        else if (!strcmp(a, "--body")) o_body_file = NEXT();
        else if (!strcmp(a, "--server-pid")) o_server_pid = atoi(NEXT());
        else if (!strcmp(a, "--inflight")) o_inflight = atoi(NEXT());
        else if (!strcmp(a, "--drain")) o_drain = atof(NEXT());
        else if (!strcmp(a, "--settle")) o_settle = atof(NEXT());
        else usage();
    }
    if (!o_url || o_conns < 1 || o_window < 1 || o_inflight < 1) usage();
    parse_url(o_url);
    if (use_tls && !o_cafile && !o_insecure) die("wss needs --cafile FILE or --insecure");

    if (o_body_file) {
        FILE *f = fopen(o_body_file, "rb");
        if (!f) die("cannot open %s", o_body_file);
        body_len = fread(body, 1, sizeof body, f);
        fclose(f);
    } else {
        body_len = sizeof DEFAULT_BODY - 1;
        memcpy(body, DEFAULT_BODY, body_len);
        body_seq_at = (size_t)(strstr(body, "SEQSEQSQ") - body);
    }
    req_head_len = (size_t)snprintf(req_head, sizeof req_head,
                                    "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                                    "Content-Length: %zu\r\n\r\n", pub_path, hostport, body_len);

    if (use_tls) {
        ctx = SSL_CTX_new(TLS_client_method());
        if (!ctx) die("SSL_CTX_new");
        SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
        SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        if (o_insecure) SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        else {
            if (SSL_CTX_load_verify_locations(ctx, o_cafile, NULL) != 1) die("cannot load %s", o_cafile);
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        }
    }

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < (rlim_t)o_conns + 32) fprintf(stderr, "wss-fanout: warning: RLIMIT_NOFILE %llu\n",
                                                       (unsigned long long)rl.rlim_cur);
    }
    signal(SIGPIPE, SIG_IGN);
    srand((unsigned)now_ns());
    ep = epoll_create1(EPOLL_CLOEXEC);
    subs = calloc((size_t)o_conns, sizeof *subs);

    uint64_t t0 = now_ns(), t_open = 0, t_pub0 = 0, t_pub1 = 0;
    double cpu0 = 0, cpu1 = 0, self0 = 0, self1 = 0;
    int phase = 0; /* 0 opening, 1 settle, 2 publishing, 3 draining */
    struct epoll_event evs[1024];
    for (;;) {
        uint64_t t = now_ns();
        if (phase == 0) {
            while (subs_started < o_conns && hs_inflight < o_inflight) subs[n_subs++] = open_conn(K_SUB), subs_started++;
            if (subs_started == o_conns && hs_inflight == 0) { phase = 1; t_open = t; }
            else if (t - t0 > (uint64_t)(o_open_timeout * 1e9)) die("subscribers still opening after %.0f s", o_open_timeout);
            if (phase == 1) {
                if (!st_open) die("no subscriber opened");
                pub = open_conn(K_PUB);
            }
        }
        if (phase == 1 && pub->state == S_OPEN && t - t_open >= (uint64_t)(o_settle * 1e9)) {
            phase = 2;
            measuring = 1;
            st_ws_bytes = 0;
            for (int i = 0; i < n_subs; i++) if (subs[i]->fd >= 0) subs[i]->wire_in = 0;
            if (o_server_pid) cpu0 = proc_cpu_s(o_server_pid);
            self0 = self_cpu_s();
            t = t_pub0 = now_ns();
        }
        if (phase == 2) {
            if (t - t_pub0 >= (uint64_t)(o_dur * 1e9)) { phase = 3; t_pub1 = t; }
            else {
                int queued = 0;
                while (pub->inflight < o_window) { pub_send_one(); queued = 1; }
                if (queued) {
                    if (flush_w(pub) < 0) die("publisher: write failed");
                    set_events(pub);
                }
            }
        }
        if (phase == 3) {
            if ((pub->inflight == 0 && st_deliveries >= st_expected) || t - t_pub1 > (uint64_t)(o_drain * 1e9)) break;
        }
        int n = epoll_wait(ep, evs, 1024, phase == 2 ? 1 : 5);
        for (int i = 0; i < n; i++) on_event(evs[i].data.ptr, evs[i].events);
    }
    if (o_server_pid) cpu1 = proc_cpu_s(o_server_pid);
    self1 = self_cpu_s();
    uint64_t t_end = now_ns();
    for (int i = 0; i < n_subs; i++) st_wire_bytes += subs[i]->fd >= 0 ? subs[i]->wire_in : 0;

    double secs = (double)(t_pub1 - t_pub0) / 1e9;
    double span = t_last > t_pub0 ? (double)(t_last - t_pub0) / 1e9 : 0;
    double d = st_deliveries ? (double)st_deliveries : 1;
    printf("{\"scheme\":\"%s\",\"deflate_offered\":%s,\"subscribers\":%llu,\"failed\":%llu,\"dropped\":%llu,"
           "\"deflate_negotiated\":%llu,\"open_s\":%.3f,\"window\":%d,\"body_bytes\":%zu,"
           "\"publishes\":%llu,\"pub_errors\":%llu,\"seconds\":%.3f,\"deliveries\":%llu,\"expected\":%llu,"
           "\"compressed\":%llu,\"other_frames\":%llu,\"delivery_span_s\":%.3f,\"deliveries_per_s\":%.0f,"
           "\"ws_bytes_per_delivery\":%.1f,\"wire_bytes_per_delivery\":%.1f",
           use_tls ? "wss" : "ws", o_deflate ? "true" : "false", (unsigned long long)st_open,
           (unsigned long long)st_failed, (unsigned long long)st_dropped, (unsigned long long)st_negotiated,
           (double)(t_open - t0) / 1e9, o_window, body_len, (unsigned long long)st_sent,
           (unsigned long long)st_pub_err, secs, (unsigned long long)st_deliveries, (unsigned long long)st_expected,
           (unsigned long long)st_compressed, (unsigned long long)st_other, span, span > 0 ? st_deliveries / span : 0,
           st_ws_bytes / d, st_wire_bytes / d);
    printf(",\"client_cpu_s\":%.3f,\"wall_s\":%.3f", self1 - self0, (double)(t_end - t_pub0) / 1e9);
    if (pub->ssl) printf(",\"tls\":\"%s %s\"", SSL_get_version(pub->ssl), SSL_get_cipher_name(pub->ssl));
    if (o_server_pid)
        printf(",\"server_cpu_s\":%.3f,\"server_us_per_delivery\":%.3f", cpu1 - cpu0, (cpu1 - cpu0) * 1e6 / d);
    printf("}\n");
    return st_deliveries && st_deliveries == st_expected && !st_pub_err && !st_dropped ? 0 : 1;
}
