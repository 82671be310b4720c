/// Bounds on what one JSON document may make the parser build. Every request body goes
/// through the parser, so each bound is what keeps a hostile body from costing more than a
/// fixed amount of stack, time or memory.
public struct JSONLimits: Sendable {
    /// Nesting of arrays and objects; the top-level container is depth 1. The parser itself
    /// does not recurse, but every walk of the finished value (writing, ==, freeing) does, so
    /// this is also what keeps those walks' stack use small.
    public var maxDepth: Int
    /// Decoded UTF-8 bytes of one string (keys included).
    public var maxStringBytes: Int
    /// Members of one object, or elements of one array.
    public var maxMembers: Int

    /// 32 levels: a task with `meta` and `result` nests 3–5 deep; 32 leaves room for any real
    /// payload while keeping the explicit parse stack and every recursive walk of the value
    /// (writer, ==, deinit) tiny.
    public static let defaultMaxDepth = 32
    /// 1 MiB: the HTTP body limit (HTTPParserLimits.defaultMaxBodyBytes), so only a body that
    /// could never arrive is refused by it; callers bound their fields far below it.
    public static let defaultMaxStringBytes = 1 << 20
    /// 10,000: a task list of `--max-tasks` entries or a bulk request stays below it, while a
    /// body of `[0,0,0,…]` cannot make one array of 500,000 values.
    public static let defaultMaxMembers = 10_000

    public init(
        maxDepth: Int = JSONLimits.defaultMaxDepth,
        maxStringBytes: Int = JSONLimits.defaultMaxStringBytes,
        maxMembers: Int = JSONLimits.defaultMaxMembers
    ) {
        self.maxDepth = maxDepth
        self.maxStringBytes = maxStringBytes
        self.maxMembers = maxMembers
    }

    public static let `default` = JSONLimits()
}

/// Why a document was refused: where (a byte offset into the UTF-8 input) and what, in words
/// for a person, e.g. "expected ',' or '}' at byte 17, found '\"'".
public struct JSONParseError: Error, Equatable, Sendable, CustomStringConvertible {
    public var offset: Int
    public var message: String

    public init(offset: Int, message: String) {
        self.offset = offset
        self.message = message
    }

    public var description: String { message }
}

/// A strict RFC 8259 parser. It accepts exactly the JSON grammar (no comments, trailing
/// commas, single quotes, leading zeros, `+1`, `.5`, `1.`, NaN or Infinity), refuses invalid
/// UTF-8, raw control characters in strings, lone surrogate escapes and numbers that overflow
/// a Double. Duplicate keys are kept (see `JSONObject.hasDuplicateKeys`).
///
/// It is not recursive: containers live on an explicit stack, so no input and no limit can
/// exhaust the thread's stack.
public enum JSONParser {
    /// Parses exactly one JSON value surrounded by optional whitespace; anything after it is
    /// an error. Offsets in errors count bytes from the start of `bytes`.
    public static func parse(_ bytes: some Collection<UInt8>, limits: JSONLimits = .default) throws(JSONParseError) -> JSONValue {
        let result = bytes.withContiguousStorageIfAvailable { run($0, limits) }
            ?? Array(bytes).withUnsafeBufferPointer { run($0, limits) }
        return try result.get()
    }

    /// Parses `text`; offsets in errors count bytes of its UTF-8 form.
    public static func parse(_ text: String, limits: JSONLimits = .default) throws(JSONParseError) -> JSONValue {
        var text = text
        return try text.withUTF8 { run($0, limits) }.get()
    }

    static func run(_ bytes: UnsafeBufferPointer<UInt8>, _ limits: JSONLimits) -> Result<JSONValue, JSONParseError> {
        var machine = JSONParserMachine(bytes: bytes, limits: limits)
        if let object = machine.parseFlatObject() { return .success(.object(object)) }
        machine.i = 0
        do {
            return .success(try machine.parseDocument())
        } catch {
            return .failure(error)
        }
    }
}

/// One parse over one contiguous input. Values of open containers wait on a flat stack
/// (`values`, with object keys on `keys`) and are collected when their container closes.
struct JSONParserMachine {
    struct Frame {
        var isObject: Bool
        var valueStart: Int
        var keyStart: Int
    }

    let bytes: UnsafeBufferPointer<UInt8>
    let n: Int
    let limits: JSONLimits
    var i = 0
    var values: [JSONValue] = []
    var keys: [String] = []
    var frames: [Frame] = []
    /// Reused for strings that contain escapes (the others are made from the input directly).
    var scratch: [UInt8] = []

    init(bytes: UnsafeBufferPointer<UInt8>, limits: JSONLimits) {
        self.bytes = bytes
        self.n = bytes.count
        self.limits = limits
    }

    // ASCII bytes the grammar names.
    static let quote = UInt8(ascii: "\"")
    static let backslash = UInt8(ascii: "\\")
    static let comma = UInt8(ascii: ",")
    static let colon = UInt8(ascii: ":")
    static let openBrace = UInt8(ascii: "{")
    static let closeBrace = UInt8(ascii: "}")
    static let openBracket = UInt8(ascii: "[")
    static let closeBracket = UInt8(ascii: "]")
    static let minus = UInt8(ascii: "-")
    static let plus = UInt8(ascii: "+")
    static let zero = UInt8(ascii: "0")
    static let dot = UInt8(ascii: ".")

    mutating func parseDocument() throws(JSONParseError) -> JSONValue {
        var afterComma = false
        parseValue: while true {
            skipWhitespace()
            guard i < n else { throw expected("a value") }
            var value: JSONValue
            switch bytes[i] {
            case Self.openBrace:
                try open(isObject: true)
                skipWhitespace()
                if i < n && bytes[i] == Self.closeBrace {
                    i += 1
                    frames.removeLast()
                    value = .object(JSONObject())
                } else {
                    try parseKeyAndColon(afterComma: false)
                    afterComma = false
                    continue parseValue
                }
            case Self.openBracket:
                try open(isObject: false)
                skipWhitespace()
                if i < n && bytes[i] == Self.closeBracket {
                    i += 1
                    frames.removeLast()
                    value = .array([])
                } else {
                    afterComma = false
                    continue parseValue
                }
            case Self.quote:
                value = .string(try parseString())
            case UInt8(ascii: "t"):
                try literal("true")
                value = .bool(true)
            case UInt8(ascii: "f"):
                try literal("false")
                value = .bool(false)
            case UInt8(ascii: "n"):
                try literal("null")
                value = .null
            case Self.minus, Self.zero...UInt8(ascii: "9"):
                value = .number(try parseNumber())
            case Self.closeBracket where afterComma:
                throw JSONParseError(offset: i, message: "trailing comma before ']' at byte \(i)")
            default:
                throw expected("a value")
            }

            // A value is complete: hand it to its container, and close containers while the
            // input closes them.
            while true {
                guard let frame = frames.last else {
                    skipWhitespace()
                    if i < n {
                        throw JSONParseError(offset: i, message: "unexpected \(found(i)) after the JSON value at byte \(i)")
                    }
                    return value
                }
                values.append(value)
                skipWhitespace()
                let close = frame.isObject ? Self.closeBrace : Self.closeBracket
                guard i < n else { throw expected(frame.isObject ? "',' or '}'" : "',' or ']'") }
                let c = bytes[i]
                if c == Self.comma {
                    i += 1
                    skipWhitespace()
                    if values.count - frame.valueStart >= limits.maxMembers {
                        throw JSONParseError(
                            offset: i,
                            message: "more than \(limits.maxMembers) \(frame.isObject ? "members in an object" : "elements in an array") at byte \(i)")
                    }
                    if frame.isObject {
                        try parseKeyAndColon(afterComma: true)
                    }
                    // A ']' right after the comma is a trailing comma; in an object the
                    // key check above already caught a '}'.
                    afterComma = !frame.isObject
                    continue parseValue
                }
                guard c == close else { throw expected(frame.isObject ? "',' or '}'" : "',' or ']'") }
                i += 1
                value = closeContainer(frame)
            }
        }
    }

    // MARK: - Containers

    mutating func open(isObject: Bool) throws(JSONParseError) {
        guard frames.count < limits.maxDepth else {
            throw JSONParseError(offset: i, message: "nesting deeper than \(limits.maxDepth) levels at byte \(i)")
        }
        frames.append(Frame(isObject: isObject, valueStart: values.count, keyStart: keys.count))
        i += 1
    }

    mutating func closeContainer(_ frame: Frame) -> JSONValue {
        frames.removeLast()
        let count = values.count - frame.valueStart
        if frame.isObject {
            var members: [JSONObject.Member] = []
            members.reserveCapacity(count)
            for k in 0..<count {
                members.append((key: keys[frame.keyStart + k], value: values[frame.valueStart + k]))
            }
            values.removeLast(count)
            keys.removeLast(count)
            return .object(JSONObject(members))
        }
        let elements = Array(values[frame.valueStart...])
        values.removeLast(count)
        return .array(elements)
    }

    /// At a member's start (whitespace skipped): its key, the ':', and whitespace after it.
    mutating func parseKeyAndColon(afterComma: Bool) throws(JSONParseError) {
        guard i < n, bytes[i] == Self.quote else {
            if afterComma, i < n, bytes[i] == Self.closeBrace {
                throw JSONParseError(offset: i, message: "trailing comma before '}' at byte \(i)")
            }
            throw expected("a string key")
        }
        keys.append(try parseString())
        skipWhitespace()
        guard i < n, bytes[i] == Self.colon else { throw expected("':' after the key") }
        i += 1
    }

    // MARK: - Whitespace and literals (strings and numbers: JSONParser+Scalars.swift)

    @inline(__always)
    mutating func skipWhitespace() {
        // RFC 8259 §2: ws = space, horizontal tab, line feed, carriage return.
        while i < n {
            switch bytes[i] {
            case 0x20, 0x0A, 0x0D, 0x09: i += 1
            default: return
            }
        }
    }

    mutating func literal(_ word: StaticString) throws(JSONParseError) {
        let start = i
        let ok = word.withUTF8Buffer { w -> Bool in
            guard n - start >= w.count else { return false }
            for k in 0..<w.count where bytes[start + k] != w[k] { return false }
            return true
        }
        guard ok else {
            throw JSONParseError(offset: start, message: "invalid literal at byte \(start), expected '\(word)'")
        }
        i += word.utf8CodeUnitCount
    }

    // MARK: - Errors

    func expected(_ what: String) -> JSONParseError {
        JSONParseError(offset: i, message: "expected \(what) at byte \(i), found \(found(i))")
    }

    func found(_ at: Int) -> String {
        guard at < n else { return "end of input" }
        return printableQuoted(bytes[at])
    }

    func tooLong(_ open: Int) -> JSONParseError {
        JSONParseError(offset: open, message: "string longer than \(limits.maxStringBytes) bytes at byte \(open)")
    }

    func invalidUTF8(_ at: Int) -> JSONParseError {
        JSONParseError(offset: at, message: "invalid UTF-8 at byte \(at)")
    }

    func printableQuoted(_ b: UInt8) -> String {
        b >= 0x21 && b <= 0x7E ? "'\(printable(b))'" : hexByte(b)
    }

    func printable(_ b: UInt8) -> String {
        b >= 0x20 && b <= 0x7E ? String(UnicodeScalar(b)) : hexByte(b)
    }

    func hexByte(_ b: UInt8) -> String {
        let hex = String(b, radix: 16, uppercase: true)
        return "0x" + (hex.count < 2 ? "0" + hex : hex)
    }

    func hex4Text(_ v: UInt32) -> String {
        let hex = String(v, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }
}
