/// Writes a response head: `HTTP/1.1 <status> <reason>\r\n`, each field `name: value\r\n`,
/// then `\r\n` (RFC 9112 §4, §5). The body follows separately.
public enum HTTPResponseEncoder {
    public static func encode(_ head: HTTPResponseHead) -> [UInt8] {
        // RFC 9112 §4: status-code is 3 digits; anything else is a bug in the caller.
        precondition((100...999).contains(head.status), "HTTP status must be three digits")
        var out: [UInt8] = []
        out.reserveCapacity(64 + head.headers.byteCount + 4 * head.headers.count)
        appendStatusLine(head.status, to: &out)
        head.headers.forEachField { name, value in appendField(name: name, value: value, to: &out) }
        out.append(contentsOf: "\r\n".utf8)
        return out
    }

    /// `HTTP/1.1 <status> <reason>\r\n`, for a caller that writes the head piece by piece.
    public static func appendStatusLine(_ status: Int, to out: inout [UInt8]) {
        precondition((100...999).contains(status), "HTTP status must be three digits")
        out.append(contentsOf: statusLine(status))
    }

    /// `name: value\r\n`, sanitized as in `encode`.
    public static func appendField(name: String, value: String, to out: inout [UInt8]) {
        var name = name, value = value
        name.withUTF8 { name in value.withUTF8 { value in appendField(name: name, value: value, to: &out) } }
    }

    /// `name: value\r\n` for a name of ours (a literal: nothing to sanitize), the value
    /// sanitized as in `encode` (the 101's four fields: ~500 instructions a handshake, S4).
    public static func appendField(literalName name: StaticString, value: String, to out: inout [UInt8]) {
        name.withUTF8Buffer { out.append(contentsOf: $0) }
        out.append(UInt8(ascii: ":"))
        out.append(UInt8(ascii: " "))
        var value = value
        value.withUTF8 { appendSanitized($0, to: &out) }
        out.append(UInt8(ascii: "\r"))
        out.append(UInt8(ascii: "\n"))
    }

    /// `name: value\r\n` from a field's bytes (`HTTPHeaders.forEachField`), sanitized as in `encode`.
    public static func appendField(name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        appendSanitized(name, to: &out)
        out.append(UInt8(ascii: ":"))
        out.append(UInt8(ascii: " "))
        appendSanitized(value, to: &out)
        out.append(UInt8(ascii: "\r"))
        out.append(UInt8(ascii: "\n"))
    }

    /// `name: <decimal>\r\n` without formatting a String (Content-Length).
    public static func appendField(name: StaticString, decimal: Int, to out: inout [UInt8]) {
        name.withUTF8Buffer { out.append(contentsOf: $0) }
        out.append(UInt8(ascii: ":"))
        out.append(UInt8(ascii: " "))
        appendDecimal(decimal, to: &out)
        out.append(UInt8(ascii: "\r"))
        out.append(UInt8(ascii: "\n"))
    }

    /// The decimal digits of `n` ≥ 0 without formatting a String (a `Content-Length` value).
    public static func appendDecimal(_ n: Int, to out: inout [UInt8]) {
        precondition(n >= 0, "a decimal field is not negative")
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        // Sound: 20 bytes hold Int.max's 19 digits; `i` only goes down from the end while
        // digits remain (HTTPFastPathEquivalenceTests.decimalFieldAsAString covers Int.max).
        withUnsafeMutableBytes(of: &digits) { buffer in
            var rest = n
            var i = buffer.count
            repeat {
                i -= 1
                buffer[i] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
            } while rest > 0
            out.append(contentsOf: buffer[i...])
        }
    }

    /// The interim response to `Expect: 100-continue` (RFC 9110 §10.1.1, §15.2.1).
    public static let continue100: [UInt8] = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    /// Response splitting guard: a CR, LF or other control byte (HTAB aside) that reached a
    /// field from request data would end the field or the head early, so it becomes a space
    /// (RFC 9110 §5.5 lets a recipient do the same).
    private static func appendSanitized(_ bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        var clean = true
        for b in bytes where b < 0x20 && b != 0x09 || b == 0x7F {
            clean = false
            break
        }
        if clean {
            out.append(contentsOf: bytes)
            return
        }
        for b in bytes {
            out.append(b < 0x20 && b != 0x09 || b == 0x7F ? 0x20 : b)
        }
    }

    /// `HTTP/1.1 200 OK\r\n`, built once per status for the ones Herald sends.
    static func statusLine(_ status: Int) -> [UInt8] {
        if let line = commonStatusLines[status] { return line }
        return Array("HTTP/1.1 \(status) \(HTTPStatus.reasonPhrase(status))\r\n".utf8)
    }

    private static let commonStatusLines: [Int: [UInt8]] = Dictionary(uniqueKeysWithValues:
        [200, 201, 202, 204, 206, 304, 400, 401, 403, 404, 405, 408, 409, 413, 415, 416, 429, 431, 500, 503].map {
            ($0, Array("HTTP/1.1 \($0) \(HTTPStatus.reasonPhrase($0))\r\n".utf8))
        })
}
