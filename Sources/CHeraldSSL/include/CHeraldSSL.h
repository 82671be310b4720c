// OpenSSL's SHA-1 (the WebSocket accept key), HMAC-SHA256 and constant-time compare (JWT HS256).
// Foundation on Linux has none of them. No logic here.
#pragma once
#include <stddef.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

static inline void herald_ssl_sha1(const unsigned char *data, size_t len, unsigned char out[20]) {
    SHA1(data, len, out);
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
