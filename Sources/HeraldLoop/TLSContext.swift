import CHeraldSSL

/// A server SSL_CTX: one certificate chain and key, TLS 1.2 and 1.3, modern AEAD ciphers only,
/// ALPN http/1.1, stateless session tickets under shared keys, no renegotiation. Immutable once
/// made: a SIGHUP reload builds a new one for new connections, and every SSL holds a reference
/// to its own context, so open connections go on with the old one.
public final class TLSContext: @unchecked Sendable {  // only read after init; SSL_CTX is refcounted
    /// TLS 1.2: ECDHE with AES-GCM or ChaCha20-Poly1305 (forward secrecy, AEAD); TLS 1.3's
    /// suites are all AEAD and stay OpenSSL's default.
    public static let tls12Ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

    /// What a plain HTTP request to the TLS port gets before the close (the contract's error shape).
    static let plainHTTPAnswer: [UInt8] = {
        let body = #"{"error":{"code":"tls_required","message":"this port speaks HTTPS: use https:// (or wss://)"}}"#
        return Array(("HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n"
            + "Connection: close\r\n\r\n" + body).utf8)
    }()

    let ctx: OpaquePointer
    public let certificatePath: String
    public let keyPath: String
    /// Where handshakes are counted (shared with the contexts before and after a reload).
    public let statistics: TLSStatistics
    /// How long a handshake may take before the connection is closed (`--header-timeout`).
    public let handshakeTimeout: Double

    public init(certificatePath: String, keyPath: String, ticketKeys: TLSTicketKeys, handshakeTimeout: Double,
                statistics: TLSStatistics = TLSStatistics()) throws(TLSError) {
        guard let ctx = SSL_CTX_new(TLS_server_method()) else { throw TLSError("cannot create a TLS context") }
        self.ctx = ctx
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        self.handshakeTimeout = handshakeTimeout
        self.statistics = statistics
        guard herald_ssl_ctx_set_versions(ctx) == 1 else { throw TLSError("cannot limit TLS to 1.2 and 1.3") }
        herald_ssl_ctx_set_server_options(ctx)
        herald_ssl_ctx_set_modes(ctx)
        herald_ssl_ctx_set_session_cache_off(ctx)
        guard SSL_CTX_set_cipher_list(ctx, Self.tls12Ciphers) == 1 else { throw TLSError("cannot set the cipher list") }
        guard SSL_CTX_use_certificate_chain_file(ctx, certificatePath) == 1 else {
            throw TLSError("cannot load the certificate \(certificatePath)")
        }
        guard SSL_CTX_use_PrivateKey_file(ctx, keyPath, SSL_FILETYPE_PEM) == 1 else {
            throw TLSError("cannot load the key \(keyPath)")
        }
        guard SSL_CTX_check_private_key(ctx) == 1 else {
            throw TLSError("the key \(keyPath) does not match the certificate \(certificatePath)")
        }
        var keys = ticketKeys.bytes
        guard herald_ssl_ctx_set_ticket_keys(ctx, &keys) == 1 else { throw TLSError("cannot set the session ticket keys") }
        SSL_CTX_set_alpn_select_cb(ctx, Self.selectALPN, nil)
    }

    deinit { SSL_CTX_free(ctx) }

    /// The certificate's serial number in hex and its notAfter, for the log line of a (re)load.
    public var certificateSummary: String {
        guard let cert = SSL_CTX_get0_certificate(ctx) else { return "no certificate" }
        var serial = "?"
        if let bn = ASN1_INTEGER_to_BN(X509_get_serialNumber(cert), nil) {
            if let hex = BN_bn2hex(bn) {
                serial = String(cString: hex)
                CRYPTO_free(hex, #file, #line)
            }
            BN_free(bn)
        }
        var notAfter = "?"
        if let bio = BIO_new(BIO_s_mem()) {
            if ASN1_TIME_print(bio, X509_get0_notAfter(cert)) == 1 {
                var text = [CChar](repeating: 0, count: 64)
                let n = BIO_read(bio, &text, Int32(text.count - 1))
                if n > 0 { notAfter = text.withUnsafeBufferPointer { String(cString: $0.baseAddress!) } }
            }
            BIO_free(bio)
        }
        return "serial \(serial), valid until \(notAfter)"
    }

    /// A new connection's SSL on the accepted socket (the socket BIO, so OpenSSL does the
    /// syscalls and the loop maps its wants onto epoll, as redis does).
    func makeSSL(fd: Int32) -> OpaquePointer? {
        guard let ssl = SSL_new(ctx) else { return nil }
        guard SSL_set_fd(ssl, fd) == 1 else {
            SSL_free(ssl)
            return nil
        }
        SSL_set_accept_state(ssl)
        return ssl
    }

    /// ALPN (RFC 7301): http/1.1 when the client offers it (WebSocket upgrades run over it too);
    /// a client offering only other protocols gets the no_application_protocol alert; a client
    /// offering none never gets here. A C callback without captures.
    static let selectALPN: @convention(c) (
        OpaquePointer?, UnsafeMutablePointer<UnsafePointer<UInt8>?>?, UnsafeMutablePointer<UInt8>?,
        UnsafePointer<UInt8>?, UInt32, UnsafeMutableRawPointer?
    ) -> Int32 = { _, out, outLength, offered, offeredLength, _ in
        guard let out, let outLength, let offered else { return SSL_TLSEXT_ERR_ALERT_FATAL }
        var selected: UnsafeMutablePointer<UInt8>?
        var selectedLength: UInt8 = 0
        let r = SSL_select_next_proto(&selected, &selectedLength, http11, UInt32(http11Length), offered, offeredLength)
        guard r == OPENSSL_NPN_NEGOTIATED, let selected else { return SSL_TLSEXT_ERR_ALERT_FATAL }
        // `selected` points into one of the two lists: ours lives forever, the client's outlives the handshake.
        out.pointee = UnsafePointer(selected)
        outLength.pointee = selectedLength
        return SSL_TLSEXT_ERR_OK
    }

    /// The wire form of the one protocol we speak, allocated once and never freed, so OpenSSL may
    /// keep a pointer into it.
    nonisolated(unsafe) static let http11: UnsafeMutablePointer<UInt8> = {
        let wire: [UInt8] = [8] + Array("http/1.1".utf8)
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: wire.count)
        p.initialize(from: wire, count: wire.count)
        return p
    }()
    static let http11Length = 9
}
