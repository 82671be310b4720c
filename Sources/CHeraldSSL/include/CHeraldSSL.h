// OpenSSL's SHA-1, for the WebSocket accept key (Foundation on Linux has none). No logic here.
#pragma once
#include <stddef.h>
#include <openssl/sha.h>

static inline void herald_ssl_sha1(const unsigned char *data, size_t len, unsigned char out[20]) {
    SHA1(data, len, out);
}
