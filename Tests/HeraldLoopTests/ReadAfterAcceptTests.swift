import Dispatch
import Glibc
import Testing
@testable import HeraldLoop

/// `Connection.readIfAvailable`: what a server calls right after accepting. Bytes that came
/// with the connection are handed over at once (inside the accept); without any, nothing
/// happens and they come later through the usual readiness event.
@Suite struct ReadAfterAcceptTests {
    final class Recorder: ConnectionDelegate, @unchecked Sendable {
        var inAccept = false
        var readInAccept: [UInt8] = []
        var readLater: [UInt8] = []
        let gotLater = DispatchSemaphore(value: 0)
        func connection(_ connection: Connection, didRead bytes: UnsafeRawBufferPointer) {
            if inAccept {
                readInAccept += bytes
            } else {
                readLater += bytes
                gotLater.signal()
            }
        }
        func connectionDidClose(_ connection: Connection) {}
    }

    @Test func bytesAlreadyThereAreReadInsideTheAccept() throws {
        let running = try RunningLoop()
        defer { running.shutdown() }
        let recorder = Recorder()
        let port = try running.sync { () -> Int in
            try TCPListener(loop: running.loop, host: "127.0.0.1", port: 0) { connection in
                connection.delegate = recorder
                recorder.inAccept = true
                connection.readIfAvailable()
                recorder.inAccept = false
            }.port
        }
        // Keep the loop busy until the request is in the socket, so the accept finds it there.
        let release = DispatchSemaphore(value: 0)
        running.loop.execute { release.wait() }
        let client = try TestClient(port: port)
        defer { client.close() }
        client.send(Array("GET / HTTP/1.1\r\n\r\n".utf8))
        usleep(50_000)
        release.signal()
        _ = try running.sync { 0 }  // the turn with the accept is over
        #expect(recorder.readInAccept == Array("GET / HTTP/1.1\r\n\r\n".utf8))
        #expect(recorder.readLater.isEmpty)
    }

    @Test func withoutBytesNothingHappensAndTheyComeThroughTheLoopLater() throws {
        let running = try RunningLoop()
        defer { running.shutdown() }
        let recorder = Recorder()
        let accepted = DispatchSemaphore(value: 0)
        let port = try running.sync { () -> Int in
            try TCPListener(loop: running.loop, host: "127.0.0.1", port: 0) { connection in
                connection.delegate = recorder
                recorder.inAccept = true
                connection.readIfAvailable()
                recorder.inAccept = false
                #expect(connection.isOpen)
                accepted.signal()
            }.port
        }
        let client = try TestClient(port: port)
        defer { client.close() }
        #expect(accepted.wait(timeout: .now() + 5) == .success)
        client.send(Array("late".utf8))
        #expect(recorder.gotLater.wait(timeout: .now() + 5) == .success)
        #expect(try running.sync { recorder.readLater } == Array("late".utf8))
        #expect(try running.sync { recorder.readInAccept }.isEmpty)
    }
}
