import Glibc

/// The IP address of a connection's peer (no port) as a fixed-size value: what per-client
/// counts are keyed by. Building one, hashing it and comparing it never allocates, so it can be
/// looked at for every accepted socket, including the ones refused at once.
public enum PeerAddress: Hashable, Sendable {
    /// Host byte order: 127.0.0.1 is 0x7F00_0001.
    case ipv4(UInt32)
    /// The 128 bits in network order, split into the high and low 64.
    case ipv6(UInt64, UInt64)
    /// Not an IP socket (a Unix socket, or an address family we do not know).
    case other

    /// From what accept4 filled in. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, what a
    /// dual-stack listener on `::` reports for an IPv4 client; RFC 4291 §2.5.5.2) becomes the
    /// IPv4 address, so the same client is one peer whichever way it arrived.
    public init(_ storage: sockaddr_storage) {
        var s = storage
        switch Int32(s.ss_family) {
        case AF_INET:
            self = withUnsafePointer(to: &s) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { .ipv4(UInt32(bigEndian: $0.pointee.sin_addr.s_addr)) }
            }
        case AF_INET6:
            self = withUnsafePointer(to: &s) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                    withUnsafeBytes(of: sin6.pointee.sin6_addr) { Self(ipv6Bytes: $0) }
                }
            }
        default:
            self = .other
        }
    }

    /// From the 16 bytes of an IPv6 address in network order.
    init(ipv6Bytes bytes: UnsafeRawBufferPointer) {
        let high = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        let low = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        if high == 0 && low >> 32 == Self.ipv4MappedPrefix {
            self = .ipv4(UInt32(truncatingIfNeeded: low))
        } else {
            self = .ipv6(high, low)
        }
    }

    /// Bits 64–95 of `::ffff:0:0/96`, the IPv4-mapped block.
    private static let ipv4MappedPrefix: UInt64 = 0xFFFF

    /// A numeric address ("127.0.0.2", "::1", "::ffff:10.0.0.1"), or nil when it is not one;
    /// for configuration and tests (inet_pton, no name lookup).
    public init?(_ text: String) {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            self = .ipv4(UInt32(bigEndian: v4.s_addr))
            return
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        self = withUnsafeBytes(of: v6) { Self(ipv6Bytes: $0) }
    }
}
