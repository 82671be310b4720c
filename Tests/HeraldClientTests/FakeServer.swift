import Foundation
import HeraldWire
#if canImport(Glibc)
import Glibc
#endif

/// A one-connection TCP server on 127.0.0.1 for client tests: the script gets the accepted fd
/// and plays the server side byte for byte, on its own thread.
final class FakeServer: @unchecked Sendable {
    let port: Int
    private let listenFD: Int32
    private let done = DispatchSemaphore(value: 0)

    init(script: @escaping @Sendable (FakeServer.Peer) -> Void) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        listen(fd, 4)
        var bound = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        listenFD = fd
        port = Int(UInt16(bigEndian: bound.sin_port))
        let semaphore = done
        Thread.detachNewThread {
            let client = accept(fd, nil, nil)
            if client >= 0 {
                script(Peer(fd: client))
                close(client)
            }
            semaphore.signal()
        }
    }

    var url: String { "http://127.0.0.1:\(port)" }

    /// Waits for the script to finish (bounded, so a broken test cannot hang the run).
    func finish() {
        _ = done.wait(timeout: .now() + 5)
        close(listenFD)
    }

    /// The accepted connection, with blocking helpers.
    struct Peer: Sendable {
        let fd: Int32

        func write(_ text: String) { write(Array(text.utf8)) }

        func write(_ bytes: [UInt8]) {
            var offset = 0
            while offset < bytes.count {
                let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
                if n <= 0 { return }
                offset += n
            }
        }

        /// Writes `bytes` one small piece at a time with pauses, so the client reassembles.
        func trickle(_ text: String, piece: Int = 7) {
            let bytes = Array(text.utf8)
            var i = 0
            while i < bytes.count {
                write(Array(bytes[i..<min(i + piece, bytes.count)]))
                usleep(2000)
                i += piece
            }
        }

        /// Reads until `buffer` holds a request head (and its Content-Length body); returns it.
        func readRequest(_ buffer: inout ByteBuffer) -> String {
            while true {
                let text = String(decoding: buffer.readableView, as: UTF8.self)
                if let end = text.range(of: "\r\n\r\n") {
                    let head = String(text[..<end.lowerBound])
                    var length = 0
                    for line in head.split(separator: "\r\n") where line.lowercased().hasPrefix("content-length:") {
                        length = Int(line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) ?? 0
                    }
                    let headBytes = head.utf8.count + 4
                    if buffer.readableBytes >= headBytes + length {
                        let all = buffer.readBytes(headBytes + length)!
                        return String(decoding: all, as: UTF8.self)
                    }
                }
                guard read(into: &buffer) > 0 else { return String(decoding: buffer.readAll(), as: UTF8.self) }
            }
        }

        /// One recv; 0 at EOF.
        func read(into buffer: inout ByteBuffer) -> Int {
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { buffer.append(contentsOf: chunk[0..<n]) }
            return max(0, n)
        }

        /// The next client frame, decoded as a server must (masked frames required).
        func readFrame(_ buffer: inout ByteBuffer, decoder: inout WebSocketFrameDecoder) -> WebSocketFrame? {
            while true {
                if let frame = try? decoder.next(&buffer) { return frame }
                guard read(into: &buffer) > 0 else { return nil }
            }
        }
    }
}
