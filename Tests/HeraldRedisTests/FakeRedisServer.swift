import Foundation
import Glibc
import HeraldTestSupport

/// A stand-in for Redis that answers from a script, for what a real one will not do on demand:
/// `-LOADING` on PING, a reply nobody asked for, bytes that are not RESP. Blocking sockets on
/// its own thread; each command is answered by `answer(connectionIndex, arguments)` with raw
/// RESP (nil: no answer at all).
final class FakeRedisServer: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    private let lock = NSLock()
    private var _connections = 0
    private var _commands: [[String]] = []
    private var stopped = false

    var connections: Int { lock.withLock { _connections } }
    var commands: [[String]] { lock.withLock { _commands } }

    init(answer: @escaping @Sendable (_ connection: Int, _ arguments: [String]) -> String?) throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.listener = listener
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, length) == 0 && getsockname(listener, $0, &length) == 0 && listen(listener, 16) == 0
            }
        }
        guard ok else { throw FixtureError("fake redis: cannot listen") }
        port = Int(UInt16(bigEndian: address.sin_port))
        start(answer)
    }

    private func start(_ answer: @escaping @Sendable (Int, [String]) -> String?) {
        let thread = Thread { [self] in
            while true {
                let client = accept(listener, nil, nil)
                if client < 0 { return }
                let index = lock.withLock { () -> Int in _connections += 1; return _connections }
                let serve = Thread { [self] in self.serve(client, index, answer) }
                serve.start()
            }
        }
        thread.start()
    }

    func stop() {
        lock.withLock { stopped = true }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func serve(_ fd: Int32, _ index: Int, _ answer: (Int, [String]) -> String?) {
        defer { close(fd) }
        var input: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { return }
            input += buffer[0..<n]
            while let (arguments, used) = Self.parse(input) {
                input.removeFirst(used)
                lock.withLock { _commands.append(arguments) }
                if let reply = answer(index, arguments) {
                    if reply == "CLOSE" { return }
                    _ = reply.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
                }
            }
        }
    }

    /// One `*N` array of `$len` strings from the front of `bytes`, or nil if incomplete.
    static func parse(_ bytes: [UInt8]) -> ([String], Int)? {
        var i = 0
        func line() -> String? {
            guard let end = (i..<max(i, bytes.count - 1)).first(where: { bytes[$0] == 13 && bytes[$0 + 1] == 10 }) else { return nil }
            defer { i = end + 2 }
            return String(decoding: bytes[i..<end], as: UTF8.self)
        }
        guard let head = line(), head.first == "*", let count = Int(head.dropFirst()) else { return nil }
        var arguments: [String] = []
        for _ in 0..<count {
            guard let lengthLine = line(), let length = Int(lengthLine.dropFirst()), i + length + 2 <= bytes.count else { return nil }
            arguments.append(String(decoding: bytes[i..<(i + length)], as: UTF8.self))
            i += length + 2
        }
        return (arguments, i)
    }
}
