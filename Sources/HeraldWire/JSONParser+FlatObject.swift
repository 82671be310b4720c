extension JSONParser {
    /// True when `bytes` is one compact JSON object whose members are all plain: keys and
    /// string values of printable ASCII without escapes, numbers of at most 15 digits before
    /// and after the point without an exponent (always finite), `true`, `false`, `null`; no
    /// whitespace, no nesting. Such a text is always one `parse` accepts as an object (within
    /// its default limits), so a restart checks the `meta` it wrote itself with this one pass
    /// instead of building a `JSONValue` tree per task. False means "not known": the caller
    /// then asks `parse`, which decides (tested: whatever this accepts, `parse` accepts).
    public static func isPlainFlatObject(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var scanner = FlatObjectScanner(bytes: bytes)
        return scanner.object()
    }
}

extension JSONParserMachine {
    /// The shortcut for the usual request body, `{"key":scalar,…}` written compactly (no
    /// whitespace, no nesting): its members straight into a `JSONObject`, without the value
    /// and key stacks of `parseDocument` (a progress report's body at every report). It uses
    /// the same string and number readers, so what it returns is what `parseDocument` returns
    /// (tested); nil when the text is anything else, an error included, and `parseDocument`
    /// then reads it from the start and says what is wrong.
    mutating func parseFlatObject() -> JSONObject? {
        guard i < n, bytes[i] == Self.openBrace, limits.maxDepth >= 1 else { return nil }
        i += 1
        var members: [JSONObject.Member] = []
        if i < n, bytes[i] == Self.closeBrace {
            i += 1
            return i == n ? JSONObject() : nil
        }
        while members.count < limits.maxMembers {
            guard i < n, bytes[i] == Self.quote, let key = try? parseString(), i < n, bytes[i] == Self.colon else { return nil }
            i += 1
            guard i < n else { return nil }
            let value: JSONValue
            switch bytes[i] {
            case Self.quote:
                guard let text = try? parseString() else { return nil }
                value = .string(text)
            case UInt8(ascii: "t"):
                guard (try? literal("true")) != nil else { return nil }
                value = .bool(true)
            case UInt8(ascii: "f"):
                guard (try? literal("false")) != nil else { return nil }
                value = .bool(false)
            case UInt8(ascii: "n"):
                guard (try? literal("null")) != nil else { return nil }
                value = .null
            case Self.minus, Self.zero...UInt8(ascii: "9"):
                guard let number = try? parseNumber() else { return nil }
                value = .number(number)
            default:
                return nil  // a nested value, whitespace, or an error
            }
            members.append((key: key, value: value))
            guard i < n else { return nil }
            if bytes[i] == Self.comma {
                i += 1
            } else if bytes[i] == Self.closeBrace {
                i += 1
                return i == n ? JSONObject(members) : nil
            } else {
                return nil
            }
        }
        return nil  // at the member limit: parseDocument applies it
    }
}

/// The one pass of `isPlainFlatObject`: each step consumes its part or answers false.
private struct FlatObjectScanner {
    let bytes: UnsafeBufferPointer<UInt8>
    var i = 0

    mutating func object() -> Bool {
        guard take(UInt8(ascii: "{")) else { return false }
        if take(UInt8(ascii: "}")) { return i == bytes.count }
        var members = 0
        repeat {
            members += 1
            guard members <= JSONLimits.defaultMaxMembers, string(), take(UInt8(ascii: ":")), scalar() else { return false }
        } while take(UInt8(ascii: ","))
        return take(UInt8(ascii: "}")) && i == bytes.count
    }

    mutating func take(_ byte: UInt8) -> Bool {
        guard i < bytes.count, bytes[i] == byte else { return false }
        i += 1
        return true
    }

    /// A string of printable ASCII (0x20–0x7E) other than `"` and `\`.
    mutating func string() -> Bool {
        guard take(UInt8(ascii: "\"")) else { return false }
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") {
                i += 1
                return true
            }
            guard b >= 0x20, b < 0x7F, b != UInt8(ascii: "\\") else { return false }
            i += 1
        }
        return false
    }

    mutating func scalar() -> Bool {
        guard i < bytes.count else { return false }
        switch bytes[i] {
        case UInt8(ascii: "\""): return string()
        case UInt8(ascii: "t"): return word("true")
        case UInt8(ascii: "f"): return word("false")
        case UInt8(ascii: "n"): return word("null")
        default: return number()
        }
    }

    mutating func word(_ text: StaticString) -> Bool {
        let count = text.utf8CodeUnitCount
        guard bytes.count - i >= count else { return false }
        for k in 0..<count where bytes[i + k] != text.utf8Start[k] { return false }
        i += count
        return true
    }

    /// `-?(0|[1-9][0-9]{0,14})(\.[0-9]{1,15})?`: finite, so `parse` converts it without error.
    mutating func number() -> Bool {
        _ = take(UInt8(ascii: "-"))
        guard i < bytes.count, isDigit(bytes[i]) else { return false }
        if bytes[i] == UInt8(ascii: "0") {
            i += 1
        } else if digits(atMost: 15) == 0 {
            return false
        }
        if take(UInt8(ascii: ".")), digits(atMost: 15) == 0 { return false }
        // An exponent, a 16th digit or a leading zero's digit: not plain.
        return i == bytes.count || !(isDigit(bytes[i]) || bytes[i] | 0x20 == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "."))
    }

    /// Consumes up to `limit` digits; 0 when there is none or more than `limit`.
    mutating func digits(atMost limit: Int) -> Int {
        let start = i
        while i < bytes.count, isDigit(bytes[i]) {
            i += 1
            if i - start > limit { return 0 }
        }
        return i - start
    }

    func isDigit(_ b: UInt8) -> Bool { b &- UInt8(ascii: "0") < 10 }
}
