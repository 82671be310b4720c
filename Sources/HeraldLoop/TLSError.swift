import CHeraldSSL

/// A TLS setup failure (certificate, key, context), with OpenSSL's own reasons.
public struct TLSError: Error, CustomStringConvertible, Sendable {
    public let description: String

    public init(_ what: String) {
        description = "\(what)\(Self.drainQueue())"
    }

    /// OpenSSL's error queue as text, emptied (a stale entry would be blamed on the next call).
    static func drainQueue() -> String {
        let reasons = OpenSSLErrorQueue.drain()
        return reasons.isEmpty ? "" : ": " + reasons.joined(separator: "; ")
    }
}

/// OpenSSL's per-thread error queue, for the server's TLS and the CLI's client TLS alike.
public enum OpenSSLErrorQueue {
    /// Every queued reason as text, oldest first; the queue is left empty.
    public static func drain() -> [String] {
        var reasons: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var text = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &text, text.count)
            reasons.append(text.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
        }
        return reasons
    }
}
