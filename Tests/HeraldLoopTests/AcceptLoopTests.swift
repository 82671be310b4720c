import Dispatch
import Glibc
import Testing
@testable import HeraldLoop

/// accept4 replaced by a script: each step is an fd to return or an errno to fail with; past the
/// end, EAGAIN (or the real accept4, when `thenReal`).
final class ScriptedAccept: @unchecked Sendable {
    enum Step { case fd(Int32), error(Int32) }
    var steps: [Step]
    let thenReal: Bool
    private(set) var calls = 0

    init(_ steps: [Step], thenReal: Bool = false) {
        self.steps = steps
        self.thenReal = thenReal
    }

    func callAsFunction(_ fd: Int32, _ address: UnsafeMutablePointer<sockaddr>, _ length: UnsafeMutablePointer<socklen_t>) -> Int32 {
        calls += 1
        guard !steps.isEmpty else {
            if thenReal { return AcceptLoop.systemAccept(fd, address, length) }
            errno = EAGAIN
            return -1
        }
        switch steps.removeFirst() {
        case .fd(let client): return client
        case .error(let e):
            errno = e
            return -1
        }
    }
}

@Suite struct AcceptLoopErrorTests {
    @Test func errorsOfOneQueuedConnectionAreRetriedAndEAGAINEndsTheBurst() {
        for e in [EINTR, ECONNABORTED, EPROTO, EPERM, ENETDOWN, ENOPROTOOPT, EHOSTDOWN, ENONET, EHOSTUNREACH, EOPNOTSUPP, ENETUNREACH] {
            #expect(AcceptLoop.action(after: e) == .retry, "errno \(e)")
        }
        #expect(AcceptLoop.action(after: EAGAIN) == .drained)
        #expect(AcceptLoop.action(after: EWOULDBLOCK) == .drained)
    }

    @Test func exhaustionAndUnexpectedErrorsPause() {
        for e in [EMFILE, ENFILE, ENOBUFS, ENOMEM, EBADF, EINVAL, ENOTSOCK] {
            #expect(AcceptLoop.action(after: e) == .pause, "errno \(e)")
        }
    }

    private func run(_ script: ScriptedAccept) -> (AcceptLoop.Outcome, [Int32]) {
        var accepted: [Int32] = []
        let outcome = AcceptLoop.acceptPending(fd: -1, accept: script.callAsFunction, isClosed: { false }) { client, _ in
            accepted.append(client)
        }
        return (outcome, accepted)
    }

    @Test func retriesPastAbortedConnectionsAndAcceptsTheRest() {
        let script = ScriptedAccept([.error(ECONNABORTED), .fd(100), .error(EINTR), .error(EPROTO), .error(EPERM), .fd(101)])
        let (outcome, accepted) = run(script)
        #expect(outcome == .drained)
        #expect(accepted == [100, 101])
        #expect(script.calls == 7)  // the six steps, then EAGAIN
    }

    @Test func outOfFdsStopsAtOnceWithoutSpinning() {
        for e in [EMFILE, ENFILE, ENOBUFS, ENOMEM] {
            let script = ScriptedAccept([.fd(100), .error(e), .fd(101)])
            let (outcome, accepted) = run(script)
            #expect(outcome == .pause(e))
            #expect(accepted == [100])
            #expect(script.calls == 2, "errno \(e): accept4 called again after it")
        }
    }

    @Test func aBurstIsBoundedEvenIfEveryCallFails() {
        let script = ScriptedAccept(Array(repeating: .error(ECONNABORTED), count: 10_000))
        let (outcome, accepted) = run(script)
        #expect(outcome == .drained)  // the listener is level-triggered: the rest comes next turn
        #expect(accepted.isEmpty)
        #expect(script.calls == AcceptLoop.acceptBudget)
    }
}

@Suite(.serialized) struct AcceptPauseTests {
    /// A listener whose accept4 fails with EMFILE three times, then works: the loop pauses 100 ms
    /// per failure (one accept4 call each, no spinning), then accepts and serves the connection.
    @Test func outOfFdsPausesThenResumesAndServes() throws {
        let running = try RunningLoop()
        defer { running.shutdown() }
        let script = ScriptedAccept([.error(EMFILE), .error(EMFILE), .error(EMFILE)], thenReal: true)
        final class Told: @unchecked Sendable { var errors: [SystemError] = [] }
        let told = Told()
        let (port, listener) = try running.sync { () -> (Int, UncheckedSendable<TCPListener>) in
            let listener = try TCPListener(loop: running.loop, host: "127.0.0.1", port: 0) { $0.delegate = EchoDelegate() }
            listener.accept = script.callAsFunction
            listener.onPause = { told.errors.append($0) }
            return (listener.port, UncheckedSendable(listener))
        }
        let start = MonotonicClock.now()
        let client = try TestClient(port: port)
        defer { client.close() }
        client.send(Array("after the pause".utf8))
        #expect(client.receive(count: 15) == Array("after the pause".utf8))
        let elapsed = Double(MonotonicClock.now() - start) / 1e9
        #expect(elapsed >= 3 * AcceptLoop.fdExhaustionPauseSeconds * 0.9, "served after \(elapsed) s")
        try running.sync {
            #expect(listener.value.pauses.total == 3)
            #expect(!listener.value.pauses.inEpisode)
            #expect(told.errors == [SystemError("accept4", errno: EMFILE)])  // once per episode
            #expect(script.calls == 5)  // 3 × EMFILE, the connection, EAGAIN
        }
    }

    @Test func aListenerClosedDuringThePauseStaysClosed() throws {
        let running = try RunningLoop()
        defer { running.shutdown() }
        let script = ScriptedAccept([.error(EMFILE)], thenReal: true)
        let port = try running.sync { () -> Int in
            let listener = try TCPListener(loop: running.loop, host: "127.0.0.1", port: 0) { $0.delegate = EchoDelegate() }
            listener.accept = script.callAsFunction
            listener.onPause = { _ in listener.close() }
            return listener.port
        }
        let client = try TestClient(port: port)
        defer { client.close() }
        usleep(300_000)  // the pause timer has fired meanwhile and found the listener closed
        #expect(try running.sync { script.calls } == 1)
        #expect(client.receiveAll().isEmpty)  // closed listener: the queued connection is reset
    }
}
