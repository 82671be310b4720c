import Glibc

/// An IPv4 or IPv6 socket address resolved from a host name or literal.
struct SocketAddress {
    var storage: sockaddr_storage
    var length: socklen_t
    var family: Int32 { Int32(storage.ss_family) }

    static func resolve(host: String, port: Int) throws(SystemError) -> SocketAddress {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host.isEmpty ? nil : host, String(port), &hints, &result)
        guard rc == 0, let first = result else {
            throw SystemError("getaddrinfo(\(host)): \(String(cString: gai_strerror(rc)))", errno: 0)
        }
        defer { freeaddrinfo(result) }
        var address = SocketAddress(storage: sockaddr_storage(), length: first.pointee.ai_addrlen)
        withUnsafeMutableBytes(of: &address.storage) { dst in
            dst.copyMemory(from: UnsafeRawBufferPointer(start: first.pointee.ai_addr, count: Int(first.pointee.ai_addrlen)))
        }
        return address
    }

    func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws(SystemError) -> R) throws(SystemError) -> R {
        var copy = storage
        return try withUnsafePointer(to: &copy) { p throws(SystemError) in
            try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa throws(SystemError) in try body(sa, length) }
        }
    }

    static func localPort(of fd: Int32) throws(SystemError) -> Int {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        if rc != 0 { throw SystemError("getsockname") }
        return port(of: storage)
    }

    static func port(of storage: sockaddr_storage) -> Int {
        var s = storage
        switch Int32(s.ss_family) {
        case AF_INET:
            return withUnsafePointer(to: &s) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) } }
        case AF_INET6:
            return withUnsafePointer(to: &s) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) } }
        default: return 0
        }
    }

    /// "1.2.3.4:5678" or "[::1]:5678", for logs.
    static func describe(_ storage: sockaddr_storage) -> String {
        var s = storage
        switch Int32(s.ss_family) {
        case AF_INET:
            let (address, port) = withUnsafePointer(to: &s) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                    (UInt32(bigEndian: $0.pointee.sin_addr.s_addr), UInt16(bigEndian: $0.pointee.sin_port))
                }
            }
            return describeIPv4(address, port: port)
        case AF_INET6:
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
            withUnsafePointer(to: &s) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                var a = sin6.pointee.sin6_addr
                _ = inet_ntop(AF_INET6, &a, &text, socklen_t(text.count))
            } }
            return "[\(String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))]:\(port(of: storage))"
        default:
            return "unix"
        }
    }

    /// "a.b.c.d:port" (what inet_ntop and the port in decimal make) written into a stack buffer:
    /// every accepted connection is described, and inet_ntop's sprintf, the arrays and the
    /// interpolation cost ~4k instructions each; up to 15 bytes the String is stored inline.
    /// `address` and `port` in host byte order.
    static func describeIPv4(_ address: UInt32, port: UInt16) -> String {
        var buffer: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes; the longest is 21
        return withUnsafeMutableBytes(of: &buffer) { out in
            // Sound: at most 4 × 3 digits + 3 dots + ":" + 5 digits = 21 bytes are written.
            var o = 0
            func decimal(_ value: Int) {
                if value >= 10000 { out[o] = UInt8(ascii: "0") + UInt8(value / 10000); o += 1 }
                if value >= 1000 { out[o] = UInt8(ascii: "0") + UInt8(value / 1000 % 10); o += 1 }
                if value >= 100 { out[o] = UInt8(ascii: "0") + UInt8(value / 100 % 10); o += 1 }
                if value >= 10 { out[o] = UInt8(ascii: "0") + UInt8(value / 10 % 10); o += 1 }
                out[o] = UInt8(ascii: "0") + UInt8(value % 10)
                o += 1
            }
            func byte(_ shift: UInt32, then separator: UInt8) {
                decimal(Int(address >> shift & 0xFF))
                out[o] = separator
                o += 1
            }
            byte(24, then: UInt8(ascii: "."))
            byte(16, then: UInt8(ascii: "."))
            byte(8, then: UInt8(ascii: "."))
            byte(0, then: UInt8(ascii: ":"))
            decimal(Int(port))
            return String(decoding: UnsafeRawBufferPointer(rebasing: out[0..<o]), as: UTF8.self)
        }
    }
}
