import Glibc
import HeraldLoop
import Testing

/// The port a supervisor holds: free ports only, and its SO_REUSEPORT workers may join it.
@Suite struct SupervisorPortTests {
    @Test func portZeroGetsARealPortThatWorkersCanListenOn() throws {
        let held = try SupervisorPort(host: "127.0.0.1", port: 0)
        #expect(held.port > 0)
        let loop = try EventLoop()
        let first = try TCPListener(loop: loop, host: "127.0.0.1", port: held.port, reusePort: true) { _ in }
        let second = try TCPListener(loop: loop, host: "127.0.0.1", port: held.port, reusePort: true) { _ in }
        #expect(first.port == held.port && second.port == held.port)
        first.close()
        second.close()
    }

    @Test func aPortServedByAPlainListenerIsInUse() throws {
        let loop = try EventLoop()
        let other = try TCPListener(loop: loop, host: "127.0.0.1", port: 0) { _ in }
        defer { other.close() }
        #expect(throws: SystemError.self) { _ = try SupervisorPort(host: "127.0.0.1", port: other.port) }
        do {
            _ = try SupervisorPort(host: "127.0.0.1", port: other.port)
        } catch {
            #expect(error.errno == EADDRINUSE)
        }
    }

    /// SO_REUSEPORT alone would let a second supervisor (same user) join the first one's
    /// workers and take half their connections without a word.
    @Test func aPortServedByAnotherSupervisorsWorkersIsInUse() throws {
        let first = try SupervisorPort(host: "127.0.0.1", port: 0)
        let loop = try EventLoop()
        let worker = try TCPListener(loop: loop, host: "127.0.0.1", port: first.port, reusePort: true) { _ in }
        defer { worker.close() }
        #expect(throws: SystemError.self) { _ = try SupervisorPort(host: "127.0.0.1", port: first.port) }
    }

    /// A lone `herald serve` (SO_REUSEADDR, no SO_REUSEPORT) cannot slip in while every worker
    /// is down; once the supervisor is gone it can.
    @Test func whileHeldNoPlainListenerCanTakeThePort() throws {
        let held = try SupervisorPort(host: "127.0.0.1", port: 0)
        let loop = try EventLoop()
        var intruder: TCPListener?
        #expect(throws: SystemError.self) { intruder = try TCPListener(loop: loop, host: "127.0.0.1", port: held.port) { _ in } }
        intruder?.close()
        held.close()
        let after = try TCPListener(loop: loop, host: "127.0.0.1", port: held.port) { _ in }
        after.close()
    }

    /// A lone `herald serve` stopped a moment ago leaves server-side TIME_WAIT connections on
    /// the port (it closed first); switching to --workers on that port must still work.
    @Test func timeWaitConnectionsOfAPlainListenerDoNotBlockTheHold() throws {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound = withUnsafeMutablePointer(to: &address) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa -> Bool in
                bind(listener, sa, length) == 0 && listen(listener, 1) == 0 && getsockname(listener, sa, &length) == 0
                    && { () -> Bool in
                        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                        defer { close(client) }
                        guard connect(client, sa, length) == 0 else { return false }
                        let served = accept(listener, nil, nil)
                        close(served)  // the server closes first: its side goes to TIME_WAIT
                        var byte: UInt8 = 0
                        return read(client, &byte, 1) == 0
                    }()
            }
        }
        close(listener)
        #expect(bound)
        let port = Int(UInt16(bigEndian: address.sin_port))
        let held = try SupervisorPort(host: "127.0.0.1", port: port)
        #expect(held.port == port)
    }
}
