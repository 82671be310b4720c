/// Validates UTF-8 that arrives in pieces split anywhere (RFC 3629 §4), for WebSocket text
/// messages (RFC 6455 §8.1). A table-driven DFA in the style of Björn Höhrmann's decoder,
/// written for validation only: it rejects overlong forms, surrogates (U+D800–DFFF), code
/// points above U+10FFFF, stray continuation bytes and C0, C1, F5–FF, at the first byte that
/// makes the input impossible to complete, so a peer is failed fast (Autobahn 6.4.x).
public struct UTF8StreamValidator: Sendable {
    private var state: UInt8 = Self.accept

    public init() {}

    /// True when no multi-byte sequence is half-done: the bytes so far are complete UTF-8.
    public var isAtBoundary: Bool { state == Self.accept }

    /// True once an invalid byte was seen (until `reset`).
    public var hasFailed: Bool { state == Self.reject }

    public mutating func reset() { state = Self.accept }

    /// Feeds the next bytes; false as soon as the input so far can no longer be valid UTF-8.
    /// After a false every later call is false until `reset`.
    @discardableResult
    /// `feed` for an array, the usual caller: the generic one runs unspecialized across the
    /// module boundary (a protocol witness per call, ~800 instructions per publish in S2).
    public mutating func feed(_ bytes: [UInt8]) -> Bool {
        if state == Self.reject { return false }
        return bytes.withUnsafeBytes { feed($0) }
    }

    public mutating func feed(_ bytes: some Collection<UInt8>) -> Bool {
        if state == Self.reject { return false }
        if let result = bytes.withContiguousStorageIfAvailable({ feed(UnsafeRawBufferPointer($0)) }) {
            return result
        }
        return feed(Array(bytes))
    }

    private mutating func feed(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let count = bytes.count
        var s = state
        var i = 0
        let ok = Self.table.withUnsafeBufferPointer { table -> Bool in
            while i < count {
                if s == Self.accept {
                    // ASCII fast path: skip 8 bytes at a time while none has the high bit set.
                    while i + 8 <= count && bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 == 0 {
                        i += 8
                    }
                    if i == count { break }
                }
                let byte = bytes[i]
                s = table[Int(s) &* Self.classCount &+ Int(table[Self.classOffset &+ Int(byte)])]
                if s == Self.reject { return false }
                i += 1
            }
            return true
        }
        state = s
        return ok
    }

    // MARK: - The DFA

    // States. Each non-accepting state says what the next byte must be.
    static let accept: UInt8 = 0
    static let reject: UInt8 = 1
    private static let needs1: UInt8 = 2  // one more 80–BF
    private static let needs2: UInt8 = 3  // two more 80–BF
    private static let afterE0: UInt8 = 4  // A0–BF (no overlong 3-byte forms), then one more
    private static let afterED: UInt8 = 5  // 80–9F (no surrogates), then one more
    private static let needs3: UInt8 = 6  // three more 80–BF
    private static let afterF0: UInt8 = 7  // 90–BF (no overlong 4-byte forms), then two more
    private static let afterF4: UInt8 = 8  // 80–8F (nothing above U+10FFFF), then two more
    private static let stateCount = 9

    // Byte classes: 0 ASCII, 1 80–8F, 2 90–9F, 3 A0–BF, 4 never valid (C0 C1 F5–FF),
    // 5 C2–DF, 6 E0, 7 E1–EC EE EF, 8 ED, 9 F0, 10 F1–F3, 11 F4.
    private static let classCount = 12

    /// Transitions (`stateCount × classCount`) followed by the 256 byte classes, in one array
    /// so the hot loop borrows a single buffer.
    private static let classOffset = stateCount * classCount
    private static let table: [UInt8] = {
        var t = [UInt8](repeating: reject, count: stateCount * classCount + 256)
        func set(_ from: UInt8, _ classes: [Int], _ to: UInt8) {
            for c in classes { t[Int(from) * classCount + c] = to }
        }
        set(accept, [0], accept)
        set(accept, [5], needs1)
        set(accept, [6], afterE0)
        set(accept, [7], needs2)
        set(accept, [8], afterED)
        set(accept, [9], afterF0)
        set(accept, [10], needs3)
        set(accept, [11], afterF4)
        set(needs1, [1, 2, 3], accept)
        set(needs2, [1, 2, 3], needs1)
        set(needs3, [1, 2, 3], needs2)
        set(afterE0, [3], needs1)
        set(afterED, [1, 2], needs1)
        set(afterF0, [2, 3], needs2)
        set(afterF4, [1], needs2)
        for b in 0..<256 {
            let c: UInt8
            switch b {
            case 0x00...0x7F: c = 0
            case 0x80...0x8F: c = 1
            case 0x90...0x9F: c = 2
            case 0xA0...0xBF: c = 3
            case 0xC2...0xDF: c = 5
            case 0xE0: c = 6
            case 0xE1...0xEC, 0xEE, 0xEF: c = 7
            case 0xED: c = 8
            case 0xF0: c = 9
            case 0xF1...0xF3: c = 10
            case 0xF4: c = 11
            default: c = 4  // C0, C1, F5–FF
            }
            t[classOffset + b] = c
        }
        return t
    }()
}
