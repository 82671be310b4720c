import CHeraldSSL
import Glibc

/// The keys that seal TLS session tickets (16 bytes name, 32 HMAC, 32 AES). One random set per
/// server start, shared by every `--workers` process through the environment (never on disk),
/// so a ticket issued by one worker resumes on another and survives a SIGHUP reload.
public struct TLSTicketKeys: Sendable, Equatable {
    public static let byteCount = 80
    /// The variable the supervisor hands the keys to its workers in (hex).
    public static let environmentName = "HERALD_TLS_TICKET_KEYS"

    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == Self.byteCount else { return nil }
        self.bytes = bytes
    }

    public static func random() -> TLSTicketKeys {
        var bytes = [UInt8](repeating: 0, count: byteCount)
        precondition(RAND_bytes(&bytes, Int32(byteCount)) == 1, "RAND_bytes failed")
        return TLSTicketKeys(bytes: bytes)!
    }

    public var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public init?(hex: String) {
        let chars = Array(hex.utf8)
        guard chars.count == Self.byteCount * 2 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            default: return nil
            }
        }
        var bytes: [UInt8] = []
        for i in stride(from: 0, to: chars.count, by: 2) {
            guard let hi = nibble(chars[i]), let lo = nibble(chars[i + 1]) else { return nil }
            bytes.append(hi << 4 | lo)
        }
        self.init(bytes: bytes)
    }

    /// The keys a worker was handed, or fresh ones for a process on its own.
    public static func inheritedOrRandom() -> TLSTicketKeys {
        if let value = getenv(environmentName), let keys = TLSTicketKeys(hex: String(cString: value)) { return keys }
        return random()
    }
}
