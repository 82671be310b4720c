/// What permessage-deflate (RFC 7692) was agreed on for one connection.
///
/// Herald always answers `server_no_context_takeover; client_no_context_takeover` (RFC 7692
/// §7.1.1.1 lets the server add both): every message is compressed and inflated on its own, so
/// one compressed event frame serves every subscriber and an idle connection holds no zlib
/// state at all.
public struct PerMessageDeflateParameters: Equatable, Sendable {
    /// The LZ77 window our messages may use (`server_max_window_bits`, 15 when not limited).
    public var serverMaxWindowBits: Int
    /// The response header value (`Sec-WebSocket-Extensions`).
    public var response: String

    public init(serverMaxWindowBits: Int = 15, response: String = "permessage-deflate") {
        self.serverMaxWindowBits = serverMaxWindowBits
        self.response = response
    }
}

/// Picks the first acceptable permessage-deflate offer of a handshake (RFC 7692 §5, §7.1).
/// Pure: header values in, parameters (with the response to send) or nil out.
public enum PerMessageDeflateOffer {
    public static let extensionName = "permessage-deflate"

    /// `headerValues`: every `Sec-WebSocket-Extensions` value of the request, in order. An
    /// offer with an unknown or repeated parameter, or a bad value, is declined (§7.1: "the
    /// server MUST decline"), and the next one is tried; nil when none is acceptable.
    public static func negotiate(_ headerValues: [String]) -> PerMessageDeflateParameters? {
        for element in headerValues.flatMap({ split($0, on: ",") }) {
            let parts = split(element, on: ";")
            guard let name = parts.first, name.lowercased() == extensionName else { continue }
            if let accepted = accept(parameters: parts.dropFirst()) { return accepted }
        }
        return nil
    }

    /// The answer to one offer's parameters, or nil to decline it.
    static func accept(parameters: ArraySlice<String>) -> PerMessageDeflateParameters? {
        var seen = Set<String>()
        var serverBits: Int?
        for parameter in parameters {
            let (name, value) = nameAndValue(parameter)
            guard seen.insert(name).inserted else { return nil }  // §7.1: a parameter at most once
            switch name {
            case "server_no_context_takeover", "client_no_context_takeover":
                guard value == nil else { return nil }
            case "server_max_window_bits":
                guard let value, let bits = windowBits(value) else { return nil }
                serverBits = bits
            case "client_max_window_bits":
                // We inflate with a 15-bit window, which reads any smaller one (§7.1.2.2): the
                // client's limit needs no answer, but its value must still be valid.
                if let value, windowBits(value) == nil { return nil }
            default:
                return nil
            }
        }
        var response = "\(extensionName); server_no_context_takeover; client_no_context_takeover"
        if let serverBits { response += "; server_max_window_bits=\(serverBits)" }
        return PerMessageDeflateParameters(serverMaxWindowBits: serverBits ?? 15, response: response)
    }

    /// §7.1.2: a decimal 8–15 without leading zeros, possibly as a quoted string (§7.1, the
    /// value after unquoting must still match).
    static func windowBits(_ value: String) -> Int? {
        guard let bits = Int(value), (8...15).contains(bits), String(bits) == value else { return nil }
        return bits
    }

    private static func nameAndValue(_ parameter: String) -> (String, String?) {
        guard let eq = parameter.firstIndex(of: "=") else { return (parameter.lowercased(), nil) }
        let name = parameter[..<eq].trimmingHTTPWhitespace().lowercased()
        var value = parameter[parameter.index(after: eq)...].trimmingHTTPWhitespace()
        if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") {
            value = String(value.dropFirst().dropLast())
        }
        return (name, value)
    }

    /// Splits on `separator` outside quoted strings, trims, drops empty elements (RFC 9110 §5.6.1).
    static func split(_ text: String, on separator: Character) -> [String] {
        var parts: [String] = []
        var current = ""
        var quoted = false
        for character in text {
            if character == "\"" { quoted.toggle() }
            if character == separator && !quoted {
                parts.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        parts.append(current)
        return parts.map { $0.trimmingHTTPWhitespace() }.filter { !$0.isEmpty }
    }
}
