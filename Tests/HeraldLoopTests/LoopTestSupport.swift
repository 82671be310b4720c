import Dispatch
import Glibc
@testable import HeraldLoop

/// A loop running on its own thread for the duration of a test.
final class RunningLoop: @unchecked Sendable {
    let loop: EventLoop
    private let exited = DispatchSemaphore(value: 0)

    init() throws {
        loop = try EventLoop()
        EventLoopThread.start(loop, name: "test-loop") { [exited] _ in exited.signal() }
    }

    /// Runs `body` on the loop thread and waits for its result.
    func sync<T>(_ body: @escaping () throws -> T) throws -> T {
        let box = ResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        let work = UncheckedSendable(body)
        loop.execute {
            box.result = Result { try work.value() }
            done.signal()
        }
        done.wait()
        return try box.result!.get()
    }

    func shutdown() {
        loop.stop()
        exited.wait()
    }
}

final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, Error>?
}

struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// A plain blocking client socket for tests.
struct TestClient {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc != 0 { throw SystemError("connect") }
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    func send(_ bytes: [UInt8]) {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            off += n
        }
    }

    /// Reads until `count` bytes arrived or EOF/timeout.
    func receive(count: Int) -> [UInt8] {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while out.count < count {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, min($0.count, count - out.count), 0) }
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return out
    }

    /// Reads until EOF (or timeout).
    func receiveAll() -> [UInt8] {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return out
    }

    func close() { _ = Glibc.close(fd) }
}
