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
