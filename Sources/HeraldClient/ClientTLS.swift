#if canImport(Glibc)
import Glibc
#endif
import CHeraldSSL
import HeraldLoop

/// How the CLI checks a server's certificate: against `--cacert` when given, else the system's
/// trust store; always with the host name (or IP address) of the URL.
public struct ClientTLS: Sendable, Equatable {
    /// A PEM file of trusted certificate authorities (`--cacert`).
    public var caFile: String?

    public init(caFile: String? = nil) {
        self.caFile = caFile
    }
}

/// One client TLS connection on a non-blocking socket (OpenSSL makes the syscalls;
/// `TCPConnection` waits with poll on what it wants). TLS 1.2 and 1.3, SNI, ALPN http/1.1,
/// verification of the chain and the name.
final class ClientTLSSession {
    enum Step { case done(Int), wantRead, wantWrite, closed, failed(String) }

    private let ctx: OpaquePointer
    private let ssl: OpaquePointer

    init(fd: Int32, host: String, settings: ClientTLS) throws(ClientError) {
        guard let ctx = SSL_CTX_new(TLS_client_method()) else { throw .io("cannot create a TLS context") }
        guard let ssl = SSL_new(ctx) else {
            SSL_CTX_free(ctx)
            throw .io("cannot create a TLS connection")
        }
        self.ctx = ctx
        self.ssl = ssl
        _ = herald_ssl_ctx_set_versions(ctx)
        if let caFile = settings.caFile {
            guard SSL_CTX_load_verify_locations(ctx, caFile, nil) == 1 else {
                ERR_clear_error()
                throw .io("cannot read --cacert \(caFile)")
            }
        } else {
            _ = SSL_CTX_set_default_verify_paths(ctx)
        }
        SSL_set_verify(ssl, SSL_VERIFY_PEER, nil)
        _ = SSL_set_fd(ssl, fd)
        if Self.isIPAddress(host) {
            _ = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host)
        } else {
            _ = herald_ssl_set_sni(ssl, host)  // RFC 6066: names only, never addresses
            _ = SSL_set1_host(ssl, host)
        }
        let alpn: [UInt8] = [8] + Array("http/1.1".utf8)
        _ = SSL_set_alpn_protos(ssl, alpn, UInt32(alpn.count))
        SSL_set_connect_state(ssl)
    }

    deinit {
        SSL_free(ssl)
        SSL_CTX_free(ctx)
    }

    func handshake() -> Step {
        let r = SSL_do_handshake(ssl)
        return r == 1 ? .done(0) : step(r)
    }

    func read(_ buffer: UnsafeMutableRawBufferPointer) -> Step {
        let r = SSL_read(ssl, buffer.baseAddress, Int32(clamping: buffer.count))
        return r > 0 ? .done(Int(r)) : step(r)
    }

    /// Retried after a want with the same bytes, as OpenSSL requires.
    func write(_ bytes: UnsafeRawBufferPointer) -> Step {
        let r = SSL_write(ssl, bytes.baseAddress, Int32(clamping: bytes.count))
        return r > 0 ? .done(Int(r)) : step(r)
    }

    var hasPendingInput: Bool { SSL_pending(ssl) > 0 }

    /// close_notify, best effort: the server reads it as the end of our input.
    func shutdown() {
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
    }

    private func step(_ r: Int32) -> Step {
        switch SSL_get_error(ssl, r) {
        case SSL_ERROR_WANT_READ: return .wantRead
        case SSL_ERROR_WANT_WRITE: return .wantWrite
        case SSL_ERROR_ZERO_RETURN: return .closed
        case let error:
            let verify = SSL_get_verify_result(ssl)
            var why = OpenSSLErrorQueue.drain().joined(separator: "; ")
            if verify != X509_V_OK {
                why = "certificate verify failed: " + String(cString: X509_verify_cert_error_string(verify))
            } else if why.isEmpty {
                why = error == SSL_ERROR_SYSCALL ? "connection reset during TLS" : "TLS error \(error)"
            }
            return .failed(why)
        }
    }

    static func isIPAddress(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }
}

