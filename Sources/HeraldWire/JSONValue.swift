/// One JSON value (RFC 8259 §3). Numbers are Doubles, as in JavaScript, which is what every
/// browser and most clients will read them as (RFC 8259 §6: IEEE 754 binary64 is what
/// interoperates). Built by `JSONParser`, written by `JSONWriter`.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    public init(_ int: Int) { self = .number(Double(int)) }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var numberValue: Double? {
        if case .number(let d) = self { return d }
        return nil
    }

    /// The number as an `Int` when it is integral and exactly representable (|n| ≤ 2^53),
    /// so `1.5` or `1e300` never silently become a different count.
    public var intValue: Int? {
        guard case .number(let d) = self, d.rounded(.towardZero) == d,
              d.magnitude <= JSONWriter.maxExactInteger else { return nil }
        return Int(d)
    }

    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    public var objectValue: JSONObject? {
        if case .object(let o) = self { return o }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The first member named `key` when this is an object; nil otherwise.
    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }
}

/// A JSON object with its members in document order. Duplicate keys are kept as they came
/// (RFC 8259 §4 leaves their meaning open); `subscript` sees the first, and
/// `hasDuplicateKeys` lets a caller refuse such a document instead of guessing.
public struct JSONObject: Sendable, Equatable, Sequence {
    public typealias Member = (key: String, value: JSONValue)

    public var members: [Member]

    public init(_ members: [Member] = []) {
        self.members = members
    }

    public var count: Int { members.count }
    public var isEmpty: Bool { members.isEmpty }
    public var keys: [String] { members.map(\.key) }

    /// Get: the first member named `key`. Set: replaces the first such member in place (and
    /// drops any later duplicates, so the key is unique afterwards) or appends a new one;
    /// setting nil removes every member named `key`.
    public subscript(key: String) -> JSONValue? {
        get {
            for member in members where member.key == key { return member.value }
            return nil
        }
        set {
            guard let newValue else {
                members.removeAll { $0.key == key }
                return
            }
            guard let first = members.firstIndex(where: { $0.key == key }) else {
                members.append((key: key, value: newValue))
                return
            }
            members[first].value = newValue
            if members[(first + 1)...].contains(where: { $0.key == key }) {
                var i = first + 1
                while i < members.count {
                    if members[i].key == key { members.remove(at: i) } else { i += 1 }
                }
            }
        }
    }

    /// True when two members share a key. Small objects (every task, every event) are checked
    /// pairwise without allocating; large ones through a set.
    public var hasDuplicateKeys: Bool {
        let n = members.count
        if n < 2 { return false }
        if n <= 16 {
            for i in 0..<(n - 1) {
                for j in (i + 1)..<n where members[i].key == members[j].key { return true }
            }
            return false
        }
        var seen = Set<String>(minimumCapacity: n)
        for member in members where !seen.insert(member.key).inserted { return true }
        return false
    }

    public func makeIterator() -> IndexingIterator<[Member]> {
        members.makeIterator()
    }

    /// Same members with the same values in the same order (tuples are not Equatable).
    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        guard lhs.members.count == rhs.members.count else { return false }
        for (l, r) in zip(lhs.members, rhs.members) where l.key != r.key || l.value != r.value {
            return false
        }
        return true
    }
}

// MARK: - Literals, so code and tests can write `["id": "t1", "done": 3]`.

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByStringInterpolation, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(JSONObject(elements.map { (key: $0.0, value: $0.1) }))
    }
}

extension JSONObject: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.init(elements.map { (key: $0.0, value: $0.1) })
    }
}

extension JSONValue: CustomStringConvertible {
    /// The compact JSON text of the value.
    public var description: String { JSONWriter.encodeString(self) }
}

extension JSONObject: CustomStringConvertible {
    public var description: String { JSONWriter.encodeString(.object(self)) }
}
