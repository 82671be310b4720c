import CHeraldSSL

/// A Lua script run with EVALSHA. The client loads its scripts (`SCRIPT LOAD`) on every
/// connect, before any command is sent, so EVALSHA finds them even on a Redis that restarted
/// empty; a `NOSCRIPT` reply (someone ran SCRIPT FLUSH) means the script did not run, and the
/// client reconnects, which loads them again. Never EVAL as a fallback: a retried EVAL would
/// run after commands sent later, out of order.
public struct RedisScript: Sendable, Equatable {
    public let source: String
    /// Lowercase hex SHA-1 of the source, as Redis names scripts.
    public let sha1: String

    public init(_ source: String) {
        self.source = source
        var digest = [UInt8](repeating: 0, count: 20)
        let bytes = Array(source.utf8)
        herald_ssl_sha1(bytes, bytes.count, &digest)
        sha1 = digest.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }

    /// `EVALSHA sha numkeys keys… arguments…`.
    public func command(keys: [[UInt8]], arguments: [[UInt8]]) -> RedisCommand {
        RedisCommand([Array("EVALSHA".utf8), Array(sha1.utf8), Array(String(keys.count).utf8)] + keys + arguments)
    }
}
