import HeraldLoop
import Testing
@testable import HeraldServer

@Suite struct ConnectionAdmissionTests {
    let a = PeerAddress("10.0.0.1")!
    let b = PeerAddress("10.0.0.2")!

    private func admission(max: Int? = nil, perIP: Int? = nil, clock: @escaping () -> Int = { 1_700_000_000 }) -> ConnectionAdmission {
        ConnectionAdmission(maxConnections: max, maxConnectionsPerIP: perIP, serverName: "herald/test", clock: clock)
    }

    private func isAdmitted(_ decision: AdmissionDecision) -> Bool {
        if case .admit = decision { return true }
        return false
    }

    /// The refusal's bytes split into status line, header fields and body.
    private func refusal(_ decision: AdmissionDecision) -> (status: String, headers: [String: String], body: String)? {
        guard case .refuse(let bytes) = decision else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { return nil }
        var lines = text[..<split.lowerBound].components(separatedBy: "\r\n")
        let status = lines.removeFirst()
        var headers: [String: String] = [:]
        for line in lines {
            let parts = line.split(separator: ":", maxSplits: 1)
            headers[String(parts[0]).lowercased()] = parts[1].trimmingCharacters(in: .whitespaces)
        }
        return (status, headers, String(text[split.upperBound...]))
    }

    @Test func admitsUpToTheLimitAndRefusesOnePastIt() {
        let gate = admission(max: 3)
        for _ in 0..<3 { #expect(isAdmitted(gate.admit(a))) }
        #expect(gate.openConnections == 3)
        let refused = refusal(gate.admit(b))
        #expect(refused?.status == "HTTP/1.1 503 Service Unavailable")
        #expect(refused?.body == #"{"error":{"code":"server_busy","message":"the server is at its connection limit; try again later"}}"#)
        #expect(gate.openConnections == 3)  // a refused socket is never counted
        #expect(gate.refusedServerBusy == 1)
    }

    @Test func aReleasedConnectionMakesRoomForOneMore() {
        let gate = admission(max: 2)
        #expect(isAdmitted(gate.admit(a)))
        #expect(isAdmitted(gate.admit(b)))
        #expect(!isAdmitted(gate.admit(a)))
        gate.release(b)
        #expect(isAdmitted(gate.admit(a)))
        #expect(!isAdmitted(gate.admit(b)))
    }

    @Test func perIPLimitRefusesOnePastItWith429() {
        let gate = admission(perIP: 2)
        #expect(isAdmitted(gate.admit(a)))
        #expect(isAdmitted(gate.admit(a)))
        let refused = refusal(gate.admit(a))
        #expect(refused?.status == "HTTP/1.1 429 Too Many Requests")
        #expect(refused?.body.contains(#""code":"too_many_connections""#) == true)
        #expect(gate.refusedTooManyConnections == 1)
        #expect(gate.openConnections(from: a) == 2)
    }

    @Test func perIPCountsAreIndependentOfOtherAddresses() {
        let gate = admission(perIP: 1)
        #expect(isAdmitted(gate.admit(a)))
        #expect(!isAdmitted(gate.admit(a)))
        #expect(isAdmitted(gate.admit(b)))
        #expect(isAdmitted(gate.admit(PeerAddress("::1")!)))
        #expect(gate.openConnections == 3)
    }

    @Test func releaseDecrementsAndRemovesTheAddressAtZero() {
        let gate = admission(perIP: 2)
        #expect(isAdmitted(gate.admit(a)))
        #expect(isAdmitted(gate.admit(a)))
        #expect(isAdmitted(gate.admit(b)))
        #expect(gate.peersTracked == 2)
        gate.release(a)
        #expect(gate.openConnections(from: a) == 1)
        #expect(isAdmitted(gate.admit(a)))
        gate.release(a)
        gate.release(a)
        gate.release(b)
        #expect(gate.peersTracked == 0)
        #expect(gate.openConnections == 0)
    }

    @Test func ipv4MappedIPv6IsTheSamePeerAsItsIPv4Address() {
        let gate = admission(perIP: 1)
        #expect(isAdmitted(gate.admit(PeerAddress("::ffff:10.0.0.1")!)))
        #expect(!isAdmitted(gate.admit(a)))
        gate.release(a)
        #expect(gate.peersTracked == 0)
    }

    @Test func wholeServerLimitIsCheckedBeforeThePerIPOne() {
        let gate = admission(max: 1, perIP: 1)
        #expect(isAdmitted(gate.admit(a)))
        #expect(refusal(gate.admit(a))?.status == "HTTP/1.1 503 Service Unavailable")
        #expect(gate.refusedTooManyConnections == 0)
    }

    @Test func refusedSocketsAreNotCountedPerIP() {
        let gate = admission(max: 1, perIP: 5)
        #expect(isAdmitted(gate.admit(a)))
        for _ in 0..<10 { #expect(!isAdmitted(gate.admit(b))) }
        #expect(gate.peersTracked == 1)
        gate.release(a)
        #expect(isAdmitted(gate.admit(b)))
    }

    @Test func refusalIsACompleteResponseThatClosesTheConnection() throws {
        let gate = admission(max: 1)
        #expect(isAdmitted(gate.admit(a)))
        let refused = try #require(refusal(gate.admit(a)))
        #expect(refused.headers["connection"] == "close")
        #expect(refused.headers["content-type"] == "application/json")
        #expect(refused.headers["content-length"] == String(refused.body.utf8.count))
        #expect(refused.headers["server"] == "herald/test")
        #expect(refused.headers["date"] == "Tue, 14 Nov 2023 22:13:20 GMT")
    }

    @Test func refusalsAreEncodedOncePerSecondOfDate() throws {
        final class Clock: @unchecked Sendable { var now = 1_700_000_000 }
        let clock = Clock()
        let gate = admission(max: 1, clock: { clock.now })
        #expect(isAdmitted(gate.admit(a)))
        guard case .refuse(let first) = gate.admit(b), case .refuse(let second) = gate.admit(b) else {
            Issue.record("expected refusals")
            return
        }
        // The same buffer, not an equal copy: nothing was encoded for the second refusal.
        #expect(first.withUnsafeBytes { $0.baseAddress } == second.withUnsafeBytes { $0.baseAddress })
        clock.now += 1
        let later = try #require(refusal(gate.admit(b)))
        #expect(later.headers["date"] == "Tue, 14 Nov 2023 22:13:21 GMT")
    }

    @Test func noLimitsConfiguredMeansNoGate() {
        #expect(ConnectionAdmission(configuration: ServerConfiguration()) == nil)
        var configuration = ServerConfiguration()
        configuration.maxConnectionsPerIP = 4
        #expect(ConnectionAdmission(configuration: configuration)?.maxConnectionsPerIP == 4)
    }
}
