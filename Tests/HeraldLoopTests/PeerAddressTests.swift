import Glibc
import Testing
@testable import HeraldLoop

@Suite struct PeerAddressTests {
    @Test func ipv4SocketAddressIsItsAddressInHostOrder() {
        #expect(PeerAddress(storage(of: ipv4("127.0.0.2", port: 40000))) == .ipv4(0x7F00_0002))
    }

    @Test func portDoesNotMatter() {
        #expect(PeerAddress(storage(of: ipv4("10.1.2.3", port: 1))) == PeerAddress(storage(of: ipv4("10.1.2.3", port: 65535))))
    }

    @Test func ipv4MappedIPv6SocketAddressIsTheIPv4Address() {
        var sin6 = sockaddr_in6()
        sin6.sin6_family = sa_family_t(AF_INET6)
        _ = inet_pton(AF_INET6, "::ffff:192.168.1.20", &sin6.sin6_addr)
        #expect(PeerAddress(storage(of: sin6)) == PeerAddress("192.168.1.20"))
        #expect(PeerAddress(storage(of: sin6)) == .ipv4(0xC0A8_0114))
    }

    @Test func ipv6SocketAddressKeepsAll128Bits() {
        var sin6 = sockaddr_in6()
        sin6.sin6_family = sa_family_t(AF_INET6)
        _ = inet_pton(AF_INET6, "2001:db8::1:0:0:2", &sin6.sin6_addr)
        #expect(PeerAddress(storage(of: sin6)) == .ipv6(0x2001_0DB8_0000_0000, 0x0001_0000_0000_0002))
    }

    @Test func textForms() {
        #expect(PeerAddress("::1") == .ipv6(0, 1))
        #expect(PeerAddress("::ffff:10.0.0.1") == .ipv4(0x0A00_0001))
        // ::ffff:0:0/96 only: the deprecated IPv4-compatible ::a.b.c.d stays IPv6.
        #expect(PeerAddress("::10.0.0.1") == .ipv6(0, 0x0A00_0001))
        #expect(PeerAddress("localhost") == nil)
        #expect(PeerAddress("10.0.0.256") == nil)
    }

    @Test func nonIPSocketIsOther() {
        var sun = sockaddr_un()
        sun.sun_family = sa_family_t(AF_UNIX)
        #expect(PeerAddress(storage(of: sun)) == .other)
    }

    /// SocketAddress.describe writes IPv4 addresses itself: the same text inet_ntop and the
    /// port's decimal give (the way it was made before), for every digit count of each part.
    @Test func describedIPv4IsInetNtopsTextAndThePort() {
        var rng = SystemRandomNumberGenerator()
        var cases: [(UInt32, UInt16)] = [(0, 0), (0xFFFF_FFFF, 65535), (0x7F00_0001, 54321), (0x0A00_0001, 9), (0x6463_0A01, 10000)]
        let parts: [UInt32] = [0, 1, 9, 10, 99, 100, 199, 255]
        for a in parts { for b in parts { cases.append((a << 24 | b << 16 | a << 8 | b, UInt16(truncatingIfNeeded: a * 257 + b))) } }
        for _ in 0..<2000 { cases.append((UInt32.random(in: 0...UInt32.max, using: &rng), UInt16.random(in: 0...UInt16.max, using: &rng))) }
        for (address, port) in cases {
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = in_port_t(port.bigEndian)
            sin.sin_addr.s_addr = address.bigEndian
            var text = [CChar](repeating: 0, count: 64)
            var a = sin.sin_addr
            _ = inet_ntop(AF_INET, &a, &text, socklen_t(text.count))
            let expected = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) + ":" + String(port)
            #expect(SocketAddress.describe(storage(of: sin)) == expected)
        }
    }

    @Test func describedIPv6IsBracketedWithThePort() {
        var sin6 = sockaddr_in6()
        sin6.sin6_family = sa_family_t(AF_INET6)
        sin6.sin6_port = in_port_t(UInt16(8080).bigEndian)
        _ = inet_pton(AF_INET6, "2001:db8::1", &sin6.sin6_addr)
        #expect(SocketAddress.describe(storage(of: sin6)) == "[2001:db8::1]:8080")
    }

    private func ipv4(_ text: String, port: UInt16) -> sockaddr_in {
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = in_port_t(port.bigEndian)
        sin.sin_addr.s_addr = inet_addr(text)
        return sin
    }

    private func storage<T>(of address: T) -> sockaddr_storage {
        var storage = sockaddr_storage()
        withUnsafeMutableBytes(of: &storage) { dst in
            withUnsafeBytes(of: address) { dst.copyMemory(from: $0) }
        }
        return storage
    }
}
