import HeraldWire

/// Every rule a request body must pass before the actor sees it. Unknown fields are ignored.
public enum TaskValidation {
    public static let maxIDLength = 128
    public static let maxTitleLength = 200          // contract
    public static let maxOwnerLength = 64           // contract
    public static let maxMessageLength = 1024       // contract
    public static let maxEncodedMetaBytes = 4096    // contract: meta and result ≤ 4 KiB encoded
    public static let maxErrorCodeLength = 64
    /// Lease bounds: below 100 ms a lease is noise; above a day a dead worker is never noticed.
    public static let leaseRange = 0.1...86_400.0
    public static let defaultLeaseSeconds = 30.0    // contract
    public static let expireFactor = 10.0           // contract: expire_s defaults to 10 × lease_s

    // MARK: Names

    public static func isValidID(_ s: String) -> Bool {
        let u = s.utf8
        guard (1...maxIDLength).contains(u.count), s != ".", s != ".." else { return false }
        return u.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: "-") }
    }

    public static func isValidOwner(_ s: String) -> Bool {
        let u = s.utf8
        guard (1...maxOwnerLength).contains(u.count) else { return false }
        return u.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }

    private static func isAlnum(_ c: UInt8) -> Bool {
        (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)
    }

    // MARK: Bodies

    /// The body as a JSON object; an empty body counts as `{}`.
    public static func object(_ body: [UInt8]) throws(TaskError) -> JSONObject {
        if body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return JSONObject() }
        let value: JSONValue
        do {
            value = try JSONParser.parse(body)
        } catch {
            throw .invalidJSON("the body is not valid JSON: \(error.message)")
        }
        guard case .object(let object) = value else { throw .invalidJSON("the body must be a JSON object") }
        if object.hasDuplicateKeys { throw .invalidJSON("the body has a repeated key") }
        return object
    }

    public static func create(_ body: [UInt8]) throws(TaskError) -> CreateInput {
        try create(fields: try object(body))
    }

    /// A create body already parsed (an item of `POST /api/batch`).
    public static func create(fields o: JSONObject) throws(TaskError) -> CreateInput {
        if o.hasDuplicateKeys { throw .invalidJSON("the body has a repeated key") }
        var id: String?
        if let v = o["id"], !v.isNull {
            guard let s = v.stringValue else { throw .invalidField("id", "must be a string") }
            guard isValidID(s) else {
                throw .invalidField("id", "must be 1–\(maxIDLength) characters of A–Z a–z 0–9 . _ : - and not \".\" or \"..\"")
            }
            id = s
        }
        guard let titleValue = o["title"], !titleValue.isNull else { throw .missingField("title") }
        let title = try string(titleValue, "title", max: maxTitleLength)
        var owner: String?
        if let v = o["owner"], !v.isNull {
            guard let s = v.stringValue, isValidOwner(s) else {
                throw .invalidField("owner", "must be 1–\(maxOwnerLength) characters of A–Z a–z 0–9 . _ -")
            }
            owner = s
        }
        let total = try optionalNumber(o["total"], "total", min: 0)
        let lease = try optionalNumber(o["lease_s"], "lease_s", min: leaseRange.lowerBound, max: leaseRange.upperBound) ?? defaultLeaseSeconds
        let expire = try optionalNumber(o["expire_s"], "expire_s", min: lease, max: leaseRange.upperBound * expireFactor) ?? lease * expireFactor
        var meta = JSONObject()
        if let v = o["meta"], !v.isNull {
            guard case .object(let m) = v else { throw .invalidField("meta", "must be a JSON object") }
            try checkEncodedSize(v, "meta")
            meta = m
        }
        var input = CreateInput(id: id, title: title, owner: owner, total: total, leaseSeconds: lease, expireSeconds: expire, meta: meta)
        input.timeout = try deadline(o["timeout_s"], "timeout_s")
        input.stall = try deadline(o["stall_s"], "stall_s")
        return input
    }

    public static func progress(_ body: [UInt8]) throws(TaskError) -> ProgressInput {
        if let input = plainProgress(body) { return input }
        return try generalProgress(body)
    }

    /// `progress` through the general JSON parser: every body, every error.
    static func generalProgress(_ body: [UInt8]) throws(TaskError) -> ProgressInput {
        let o = try object(body)
        var input = ProgressInput()
        input.done = try optionalNumber(o["done"], "done", min: 0)
        if let v = o["total"] {
            input.total = v.isNull ? .some(nil) : .some(try optionalNumber(v, "total", min: 0))
        }
        input.percent = try optionalNumber(o["percent"], "percent", min: 0, max: 100)
        if let v = o["message"], !v.isNull { input.message = try string(v, "message", max: maxMessageLength) }
        return input
    }

    /// The usual progress body read without the general parser (its `JSONObject` was ~3k
    /// instructions per report, callgrind S7): one flat object whose keys are among `done`,
    /// `total`, `percent` and `message`, each at most once; numbers written as plain integers
    /// of at most 15 digits (exact as `Double`s, as the parser reads them) or `null`; the
    /// message a string of printable ASCII without escapes, or `null`. Anything else — other
    /// keys, escapes, fractions, exponents, signs, non-ASCII, a value out of range, a repeated
    /// key, malformed JSON — gives nil, and the general path answers (with its errors), so
    /// whatever this accepts, it reads as that path does (`TaskValidationTests` compares them).
    static func plainProgress(_ body: [UInt8]) -> ProgressInput? {
        var scanner = PlainObjectScanner(body)
        guard scanner.take(UInt8(ascii: "{")) else { return nil }
        var input = ProgressInput()
        var seen: UInt8 = 0
        if !scanner.take(UInt8(ascii: "}")) {
            repeat {
                guard let key = scanner.key() else { return nil }
                let bit: UInt8
                switch key {
                case .done:
                    guard let value = scanner.number() else { return nil }
                    input.done = value
                    bit = 1
                case .total:
                    guard let value = scanner.number() else { return nil }
                    input.total = .some(value)
                    bit = 2
                case .percent:
                    guard let value = scanner.number() else { return nil }
                    if let value, value > 100 { return nil }
                    input.percent = value
                    bit = 4
                case .message:
                    guard let value = scanner.string(max: maxMessageLength) else { return nil }
                    input.message = value
                    bit = 8
                }
                guard seen & bit == 0 else { return nil }
                seen |= bit
            } while scanner.take(UInt8(ascii: ","))
            guard scanner.take(UInt8(ascii: "}")) else { return nil }
        }
        return scanner.atEnd ? input : nil
    }

    public static func complete(_ body: [UInt8]) throws(TaskError) -> (message: String?, result: JSONValue?) {
        let o = try object(body)
        var message: String?
        if let v = o["message"], !v.isNull { message = try string(v, "message", max: maxMessageLength) }
        var result: JSONValue?
        if let v = o["result"], !v.isNull {
            try checkEncodedSize(v, "result")
            result = v
        }
        return (message, result)
    }

    public static func fail(_ body: [UInt8]) throws(TaskError) -> TaskFailure {
        let o = try object(body)
        guard let errorValue = o["error"], !errorValue.isNull else { throw .missingField("error") }
        guard case .object(let e) = errorValue else { throw .invalidField("error", "must be an object {\"code\",\"message\"}") }
        guard let codeValue = e["code"], !codeValue.isNull else { throw .missingField("error.code") }
        let code = try string(codeValue, "error.code", max: maxErrorCodeLength)
        guard !code.isEmpty else { throw .invalidField("error.code", "must not be empty") }
        var message = ""
        if let v = e["message"], !v.isNull { message = try string(v, "error.message", max: maxMessageLength) }
        return TaskFailure(code: code, message: message)
    }

    // MARK: Fields

    static func string(_ v: JSONValue, _ field: String, max: Int) throws(TaskError) -> String {
        guard let s = v.stringValue else { throw .invalidField(field, "must be a string") }
        // At most `max` bytes is at most `max` characters: only a longer text is counted.
        guard s.utf8.count <= max || s.count <= max else { throw .invalidField(field, "must be at most \(max) characters") }
        return s
    }

    static func optionalNumber(_ v: JSONValue?, _ field: String, min: Double, max: Double = .greatestFiniteMagnitude) throws(TaskError) -> Double? {
        guard let v, !v.isNull else { return nil }
        guard let d = v.numberValue else { throw .invalidField(field, "must be a number") }
        guard d.isFinite else { throw .invalidField(field, "must be a finite number") }
        guard d >= min && d <= max else {
            throw .invalidField(field, max == .greatestFiniteMagnitude ? "must be at least \(clean(min))" : "must be between \(clean(min)) and \(clean(max))")
        }
        return d
    }

    static func checkEncodedSize(_ v: JSONValue, _ field: String) throws(TaskError) {
        let size = JSONWriter.encode(v).count
        guard size <= maxEncodedMetaBytes else {
            throw .invalidField(field, "is \(size) bytes encoded; at most \(maxEncodedMetaBytes) are allowed")
        }
    }

    private static func clean(_ d: Double) -> String {
        d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
    }
}

/// The byte reader of `TaskValidation.plainProgress`: each call skips JSON whitespace first and
/// consumes what it reads only on success (a nil means "not the plain shape", never an error).
struct PlainObjectScanner {
    enum Key { case done, total, percent, message }
    private let body: [UInt8]
    private var i = 0

    init(_ body: [UInt8]) { self.body = body }

    private mutating func skipSpace() {
        while i < body.count, body[i] == 0x20 || body[i] == 0x0A || body[i] == 0x0D || body[i] == 0x09 { i += 1 }
    }

    /// Consumes `byte` when it comes next.
    mutating func take(_ byte: UInt8) -> Bool {
        skipSpace()
        guard i < body.count, body[i] == byte else { return false }
        i += 1
        return true
    }

    /// Nothing but whitespace is left.
    var atEnd: Bool {
        mutating get {
            skipSpace()
            return i == body.count
        }
    }

    /// A known key and its colon.
    mutating func key() -> Key? {
        guard let (start, end) = plainString(max: 8) else { return nil }
        let key: Key
        switch end - start {
        case 4 where matches(start, "done"): key = .done
        case 5 where matches(start, "total"): key = .total
        case 7 where matches(start, "percent"): key = .percent
        case 7 where matches(start, "message"): key = .message
        default: return nil
        }
        return take(UInt8(ascii: ":")) ? key : nil
    }

    private func matches(_ start: Int, _ word: StaticString) -> Bool {
        word.withUTF8Buffer { word in
            var k = 0
            while k < word.count {
                if body[start + k] != word[k] { return false }
                k += 1
            }
            return true
        }
    }

    /// `null` (`.some(nil)`), or a plain non-negative integer of 1–15 digits without a leading
    /// zero (`.some(value)`); nil for anything else.
    mutating func number() -> Double?? {
        skipSpace()
        if takeNull() { return .some(nil) }
        var value: Int64 = 0
        var digits = 0
        while i + digits < body.count, body[i + digits] >= UInt8(ascii: "0"), body[i + digits] <= UInt8(ascii: "9") {
            value = value * 10 + Int64(body[i + digits] - UInt8(ascii: "0"))
            digits += 1
            if digits > 15 { return nil }
        }
        guard digits > 0, !(digits > 1 && body[i] == UInt8(ascii: "0")) else { return nil }
        // A fraction or exponent follows: not a plain integer (the general parser reads it).
        if i + digits < body.count {
            let next = body[i + digits]
            if next == UInt8(ascii: ".") || next == UInt8(ascii: "e") || next == UInt8(ascii: "E") { return nil }
        }
        i += digits
        return .some(Double(value))
    }

    /// `null` (`.some(nil)`) or a plain string of at most `max` bytes (`.some(text)`).
    mutating func string(max: Int) -> String?? {
        skipSpace()
        if takeNull() { return .some(nil) }
        guard let (start, end) = plainString(max: max) else { return nil }
        return .some(String(decoding: body[start..<end], as: UTF8.self))
    }

    private mutating func takeNull() -> Bool {
        guard i + 4 <= body.count, body[i] == UInt8(ascii: "n"), body[i + 1] == UInt8(ascii: "u"),
              body[i + 2] == UInt8(ascii: "l"), body[i + 3] == UInt8(ascii: "l") else { return false }
        i += 4
        return true
    }

    /// A string of printable ASCII (0x20–0x7E) without a backslash, at most `max` bytes: the
    /// range of its content; consumed with its quotes.
    private mutating func plainString(max: Int) -> (Int, Int)? {
        skipSpace()
        guard i < body.count, body[i] == UInt8(ascii: "\"") else { return nil }
        let start = i + 1
        var j = start
        while j < body.count {
            let byte = body[j]
            if byte == UInt8(ascii: "\"") {
                guard j - start <= max else { return nil }
                i = j + 1
                return (start, j)
            }
            guard byte >= 0x20, byte <= 0x7E, byte != UInt8(ascii: "\\") else { return nil }
            j += 1
        }
        return nil
    }
}
