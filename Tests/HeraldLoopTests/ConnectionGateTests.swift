import Dispatch
import Glibc
import Testing
@testable import HeraldLoop

/// A gate that admits `admitting` sockets, then refuses with fixed bytes; records what it is told.
final class RecordingGate: ConnectionGate, @unchecked Sendable {
    var admitting: Int
    var asked: [PeerAddress] = []
    var released: [PeerAddress] = []
    let refusal = Array("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbusy".utf8)

    init(admitting: Int) { self.admitting = admitting }

    func admit(_ peer: PeerAddress) -> AdmissionDecision {
        asked.append(peer)
        guard admitting > 0 else { return .refuse(refusal) }
        admitting -= 1
        return .admit
    }

    func release(_ peer: PeerAddress) { released.append(peer) }
}

@Suite(.serialized) struct ConnectionGateTests {
    /// A listener on `running` with `gate`; returns its port.
    private func listen(_ running: RunningLoop, gate: RecordingGate, onAccept: @escaping (Connection) -> Void) throws -> Int {
        try running.sync { () -> Int in
            let listener = try TCPListener(loop: running.loop, host: "127.0.0.1", port: 0, onAccept: onAccept)
            listener.gate = gate
            return listener.port
        }
    }

    @Test func refusedSocketGetsTheBytesThenEOFAndNoConnection() throws {
        let running = try RunningLoop()
        defer { running.shutdown() }
        let gate = RecordingGate(admitting: 0)
        final class Accepted: @unchecked Sendable { var count = 0 }
        let accepted = Accepted()
        let port = try listen(running, gate: gate) { _ in accepted.count += 1 }
        let client = try TestClient(port: port)
        defer { client.close() }
        client.send(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(client.receiveAll() == gate.refusal)  // all of it, then EOF
        try running.sync {
            #expect(accepted.count == 0)
            #expect(gate.asked == [PeerAddress("127.0.0.1")!])
            #expect(gate.released.isEmpty)  // never admitted, so nothing to give back
        }
    }

    @Test func admittedConnectionIsReleasedOnceItsFdIsClosed() throws {
        let running = try RunningLoop()
        defer { running.shutdown() }
        let gate = RecordingGate(admitting: 1)
        let port = try listen(running, gate: gate) { $0.delegate = EchoDelegate() }
        let client = try TestClient(port: port)
        client.send(Array("ping".utf8))
        #expect(client.receive(count: 4) == Array("ping".utf8))
        #expect(try running.sync { gate.released.count } == 0)
        client.close()
        let deadline = MonotonicClock.now() + 5_000_000_000
        while try running.sync({ gate.released.count }) == 0 && MonotonicClock.now() < deadline { usleep(5_000) }
        try running.sync {
            #expect(gate.released == [PeerAddress("127.0.0.1")!])
        }
    }

    @Test func refusalsInALoopLeaveTheListenerServing() throws {
        let running = try RunningLoop()
        defer { running.shutdown() }
        let gate = RecordingGate(admitting: 0)
        let port = try listen(running, gate: gate) { $0.delegate = EchoDelegate() }
        for _ in 0..<200 {
            let client = try TestClient(port: port)
            #expect(client.receiveAll() == gate.refusal)
            client.close()
        }
        try running.sync { gate.admitting = 1 }
        let client = try TestClient(port: port)
        defer { client.close() }
        client.send(Array("still here".utf8))
        #expect(client.receive(count: 10) == Array("still here".utf8))
    }
}
