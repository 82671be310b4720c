/// Writes a response head: `HTTP/1.1 <status> <reason>\r\n`, each field `name: value\r\n`,
/// then `\r\n` (RFC 9112 §4, §5). The body follows separately.
public enum HTTPResponseEncoder {
    public static func encode(_ head: HTTPResponseHead) -> [UInt8] {
        // RFC 9112 §4: status-code is 3 digits; anything else is a bug in the caller.
        precondition((100...999).contains(head.status), "HTTP status must be three digits")
        var out: [UInt8] = []
        out.reserveCapacity(64 + head.headers.fields.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 })
        out.append(contentsOf: "HTTP/1.1 \(head.status) \(HTTPStatus.reasonPhrase(head.status))\r\n".utf8)
        for field in head.headers {
            appendSanitized(field.name.utf8, to: &out)
            out.append(contentsOf: ": ".utf8)
            appendSanitized(field.value.utf8, to: &out)
            out.append(contentsOf: "\r\n".utf8)
        }
        out.append(contentsOf: "\r\n".utf8)
        return out
    }

    /// The interim response to `Expect: 100-continue` (RFC 9110 §10.1.1, §15.2.1).
    public static let continue100: [UInt8] = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    /// Response splitting guard: a CR, LF or other control byte (HTAB aside) that reached a
    /// field from request data would end the field or the head early, so it becomes a space
    /// (RFC 9110 §5.5 lets a recipient do the same).
    private static func appendSanitized(_ bytes: String.UTF8View, to out: inout [UInt8]) {
        for b in bytes {
            out.append(b < 0x20 && b != 0x09 || b == 0x7F ? 0x20 : b)
        }
    }
}
