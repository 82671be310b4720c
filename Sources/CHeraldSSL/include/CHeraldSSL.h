// OpenSSL's SHA-1 (the WebSocket accept key), HMAC-SHA256 and constant-time compare (JWT HS256).
// Foundation on Linux has none of them. No logic here.
#pragma once
#include <stddef.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

/// The SHA-1 implementation, fetched from the provider once per process. OpenSSL 3's SHA1()
/// fetches it on every call: ~5,000 of a WebSocket handshake's ~95,000 instructions (callgrind).
/// Sound across loop threads: the pointer is published with a compare-and-swap; a thread that
/// loses the race frees its own fetch. NULL when the fetch fails (the caller falls back).
static inline EVP_MD *herald_ssl_sha1_md(void) {
    static EVP_MD *shared = NULL;
    EVP_MD *md = __atomic_load_n(&shared, __ATOMIC_ACQUIRE);
    if (md != NULL) return md;
    EVP_MD *fetched = EVP_MD_fetch(NULL, "SHA1", NULL);
    if (fetched == NULL) return NULL;
    EVP_MD *expected = NULL;
    if (__atomic_compare_exchange_n(&shared, &expected, fetched, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) return fetched;
    EVP_MD_free(fetched);
    return expected;
}

static inline void herald_ssl_sha1(const unsigned char *data, size_t len, unsigned char out[20]) {
    EVP_MD *md = herald_ssl_sha1_md();
    unsigned int n = 0;
    if (md == NULL || !EVP_Digest(data, len, out, &n, md, NULL) || n != 20) SHA1(data, len, out);
}

/// HMAC-SHA256 of data under key into out (32 bytes); 0 when OpenSSL fails.
static inline int herald_ssl_hmac_sha256(const void *key, size_t key_len, const unsigned char *data, size_t len,
                                         unsigned char out[32]) {
    unsigned int out_len = 0;
    return HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &out_len) != NULL && out_len == 32;
}

/// 0 when equal; takes the same time whatever the bytes (CRYPTO_memcmp).
static inline int herald_ssl_memcmp(const void *a, const void *b, size_t len) {
    return CRYPTO_memcmp(a, b, len);
}

// TLS (libssl): the macros Swift cannot call, each wrapped as one call. No logic here.
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

/// TLS 1.2 and 1.3 only.
static inline int herald_ssl_ctx_set_versions(SSL_CTX *ctx) {
    return SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) && SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
}
/// No renegotiation at all (RFC 5746 lets a server refuse it), no TLS compression (CRIME),
/// the server's cipher order; a TCP FIN without close_notify reads as end of input, as on a
/// plain socket (HTTP frames its own bodies, so a cut is still seen).
static inline void herald_ssl_ctx_set_server_options(SSL_CTX *ctx) {
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_IGNORE_UNEXPECTED_EOF);
}
/// SSL_write may be retried from another address with the same bytes; idle connections give
/// their 34 KB of record buffers back.
static inline void herald_ssl_ctx_set_modes(SSL_CTX *ctx) {
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
}
/// Session tickets only (stateless: any worker holding the same keys resumes), no server cache.
static inline void herald_ssl_ctx_set_session_cache_off(SSL_CTX *ctx) {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
}
/// The 80 bytes of ticket keys: 16 name, 32 HMAC, 32 AES.
static inline int herald_ssl_ctx_set_ticket_keys(SSL_CTX *ctx, unsigned char keys[80]) {
    return (int)SSL_CTX_set_tlsext_ticket_keys(ctx, keys, 80);
}
static inline int herald_ssl_set_sni(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}
static inline int herald_ssl_session_reused(SSL *ssl) { return SSL_session_reused(ssl); }
/// True when the oldest queued error says the peer spoke plain HTTP (or an HTTPS proxy's
/// CONNECT) to the TLS port: OpenSSL recognises the first bytes and fails with no alert.
static inline int herald_ssl_error_is_plain_http(void) {
    unsigned long e = ERR_peek_error();
    return ERR_GET_LIB(e) == ERR_LIB_SSL &&
           (ERR_GET_REASON(e) == SSL_R_HTTP_REQUEST || ERR_GET_REASON(e) == SSL_R_HTTPS_PROXY_REQUEST);
}
