import Glibc
import HeraldWire
import Testing
@testable import HeraldServer

/// The HTTP connection logic driven with bytes and a mock clock; assertions on its actions.
@Suite struct HTTPConnectionStateMachineTests {
    static let second: UInt64 = 1_000_000_000

    final class Harness {
        var machine: HTTPConnectionStateMachine
        var now: UInt64 = 1_000 * HTTPConnectionStateMachineTests.second
        let root: String

        init(echo: Bool = true, configure: (inout ServerConfiguration) -> Void = { _ in }) throws {
            root = "/tmp/herald-sm-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            mkdir(root, 0o755)
            let fd = open(root + "/index.html", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            _ = Glibc.write(fd, "<h1>hi</h1>", 11)
            _ = Glibc.close(fd)
            var config = ServerConfiguration()
            config.echo = echo
            configure(&config)
            let router = Router(configuration: config, staticFiles: try StaticFileServer(root: root))
            machine = HTTPConnectionStateMachine(configuration: config, router: router, dates: HTTPDateCache(), now: now)
        }

        deinit {
            unlink(root + "/index.html")
            rmdir(root)
        }

        /// Feeds bytes and steps until the machine has nothing more to say.
        func feed(_ text: String) -> [HTTPConnectionStateMachine.Action] {
            feed(Array(text.utf8))
        }

        func feed(_ bytes: [UInt8]) -> [HTTPConnectionStateMachine.Action] {
            bytes.withUnsafeBytes { machine.received($0) }
            var all: [HTTPConnectionStateMachine.Action] = []
            while true {
                let actions = machine.step(now: now)
                if actions.isEmpty { break }
                all += actions
            }
            return all
        }

        func tick(_ seconds: Double) -> [HTTPConnectionStateMachine.Action] {
            now += UInt64(seconds * 1e9)
            return machine.timerFired(now: now)
        }
    }

    /// Everything written, as text, and whether the actions end the connection.
    static func written(_ actions: [HTTPConnectionStateMachine.Action]) -> (text: String, closes: Bool) {
        var bytes: [UInt8] = []
        var closes = false
        for action in actions {
            switch action {
            case .write(let b): bytes += b
            case .writeFile: bytes += Array("<file>".utf8)
            case .closeAfterFlush: closes = true
            case .upgrade, .dispatch, .accessLog: break
            }
        }
        return (String(decoding: bytes, as: UTF8.self), closes)
    }

    static func statuses(_ text: String) -> [Int] {
        text.components(separatedBy: "HTTP/1.1 ").dropFirst().compactMap { Int($0.prefix(3)) }
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        let h = try Harness()
        let out = Self.written(h.feed(
            "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\nGET /missing.txt HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"))
        #expect(Self.statuses(out.text) == [200, 404, 200])
        #expect(out.text.hasSuffix("<h1>hi</h1>"))
        #expect(!out.closes)
    }

    @Test func everyResponseCarriesDateServerAndContentLength() throws {
        let h = try Harness()
        for request in ["GET / HTTP/1.1\r\nHost: a\r\n\r\n", "GET /nope HTTP/1.1\r\nHost: a\r\n\r\n", "DELETE / HTTP/1.1\r\nHost: a\r\n\r\n"] {
            let text = Self.written(h.feed(request)).text
            #expect(text.contains("\r\nDate: "))
            #expect(text.contains("\r\nServer: herald/"))
            #expect(text.contains("\r\nContent-Length: "))
        }
    }

    @Test func headResponseHasTheLengthButNoBody() throws {
        let h = try Harness()
        let text = Self.written(h.feed("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n")).text
        #expect(text.contains("Content-Length: 11\r\n"))
        #expect(text.hasSuffix("\r\n\r\n"))
    }

    @Test func expectContinueOnABodyRouteSends100BeforeTheBody() throws {
        let h = try Harness()
        let first = Self.written(h.feed("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"))
        #expect(first.text == "HTTP/1.1 100 Continue\r\n\r\n")
        let second = Self.written(h.feed("hello"))
        #expect(Self.statuses(second.text) == [200])
        #expect(second.text.hasSuffix("\r\n\r\nhello"))
        #expect(!second.closes)
    }

    @Test func expectContinueOnARouteWithoutBodyAnswersFinalStatusAndCloses() throws {
        let h = try Harness()
        let out = Self.written(h.feed("POST /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"))
        #expect(Self.statuses(out.text) == [405])
        #expect(!out.text.contains("100 Continue"))
        #expect(out.text.contains("Allow: GET, HEAD\r\n"))
        #expect(out.closes)
    }

    @Test func tooLargeContentLengthIs413WithoutContinue() throws {
        let h = try Harness { $0.maxBodyBytes = 10 }
        let out = Self.written(h.feed("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n"))
        #expect(Self.statuses(out.text) == [413])
        #expect(out.closes)
    }

    @Test func bodyAtTheLimitIsEchoed() throws {
        let h = try Harness { $0.maxBodyBytes = 10 }
        let out = Self.written(h.feed("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789"))
        #expect(Self.statuses(out.text) == [200])
        #expect(out.text.hasSuffix("0123456789"))
    }

    @Test func chunkedBodyIsReassembled() throws {
        let h = try Harness()
        let out = Self.written(h.feed("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"))
        #expect(out.text.hasSuffix("Content-Length: 5\r\n\r\nabcde"))
    }

    @Test func malformedRequestGets400AndCloses() throws {
        let h = try Harness()
        let out = Self.written(h.feed("GET / HTTP/1.1\r\n\r\n"))  // no Host
        #expect(Self.statuses(out.text) == [400])
        #expect(out.text.contains("Connection: close\r\n"))
        #expect(out.text.contains("\"code\":"))
        #expect(out.closes)
        // Nothing after the error is parsed.
        #expect(h.feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n").isEmpty)
    }

    @Test func headersNotCompleteWithinTheTimeoutGet408() throws {
        let h = try Harness()
        #expect(h.feed("GET / HTTP/1.1\r\nHost: a\r\n").isEmpty)
        #expect(h.tick(9.9).isEmpty)
        #expect(h.feed("X-Slow: 1\r\n").isEmpty)  // dribbling does not extend the header deadline
        let out = Self.written(h.tick(0.2))
        #expect(Self.statuses(out.text) == [408])
        #expect(out.closes)
    }

    @Test func aStalledBodyGets408ButAMovingOneDoesNot() throws {
        let h = try Harness()
        #expect(h.feed("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n12345").isEmpty)
        #expect(h.tick(9).isEmpty)
        #expect(h.feed("6").isEmpty)  // progress restarts the body clock
        #expect(h.tick(9).isEmpty)
        let out = Self.written(h.tick(1.1))
        #expect(Self.statuses(out.text) == [408])
        #expect(out.closes)
    }

    @Test func idleKeepAliveConnectionClosesSilently() throws {
        let h = try Harness { $0.idleTimeout = 5 }
        _ = h.feed("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(h.tick(4.9).isEmpty)
        let out = Self.written(h.tick(0.2))
        #expect(out.text.isEmpty)
        #expect(out.closes)
    }

    @Test func http10WithoutKeepAliveClosesAfterTheResponse() throws {
        let h = try Harness()
        let out = Self.written(h.feed("GET /healthz HTTP/1.0\r\n\r\n"))
        #expect(out.text.hasPrefix("HTTP/1.1 200 OK"))  // our own version, per RFC 9110 §6.2
        #expect(out.text.contains("Connection: close"))
        #expect(out.closes)
    }

    @Test func http10WithKeepAliveStaysOpen() throws {
        let h = try Harness()
        let out = Self.written(h.feed("GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"))
        #expect(out.text.contains("Connection: keep-alive"))
        #expect(!out.closes)
    }

    @Test func upgradeHandsOverTheBytesThatFollowTheHandshake() throws {
        let h = try Harness()
        let extra: [UInt8] = [0x81, 0x85, 1, 2, 3, 4]
        let request = "GET /echo HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        let actions = h.feed(Array(request.utf8) + extra)
        let text = Self.written(actions).text
        #expect(text.hasPrefix("HTTP/1.1 101 Switching Protocols\r\n"))
        #expect(text.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"))
        guard case .upgrade(let route, _, let leftover)? = actions.last else {
            Issue.record("no upgrade action")
            return
        }
        #expect(route.maxMessageSize == 16 << 20)
        #expect(Array(leftover.readableView) == extra)
    }

    @Test func anotherWebSocketVersionGets426WithTheSupportedVersion() throws {
        let h = try Harness()
        let out = Self.written(h.feed("GET /echo HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n"))
        #expect(Self.statuses(out.text) == [426])
        #expect(out.text.contains("Sec-WebSocket-Version: 13\r\n"))
    }

    @Test func echoIsAbsentWithoutTheFlag() throws {
        let h = try Harness(echo: false)
        let out = Self.written(h.feed("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx"))
        #expect(Self.statuses(out.text) == [405])  // falls to static files, which only GET/HEAD
    }

    @Test func gracefulShutdownClosesAfterTheCurrentResponse() throws {
        let h = try Harness()
        h.machine.closeAfterCurrentRequest = true
        let out = Self.written(h.feed("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"))
        #expect(out.text.contains("Connection: close"))
        #expect(out.closes)
    }

    // MARK: Access lines

    static func accessRecords(_ actions: [HTTPConnectionStateMachine.Action]) -> [(HTTPAccessRecord, UInt64)] {
        actions.compactMap {
            if case .accessLog(let record, let startedAt) = $0 { return (record, startedAt) }
            return nil
        }
    }

    @Test func noAccessRecordIsMadeWhileAccessLoggingIsOff() throws {
        let h = try Harness()
        #expect(Self.accessRecords(h.feed("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")).isEmpty)
    }

    @Test func eachPipelinedResponseGetsItsAccessRecordAfterItsBytes() throws {
        let h = try Harness { $0.accessLog = true }
        let actions = h.feed(
            "GET /healthz?token=t HTTP/1.1\r\nHost: a\r\nUser-Agent: probe/1\r\nX-Request-Id: r-1\r\n\r\n"
                + "HEAD / HTTP/1.1\r\nHost: a\r\n\r\nGET /missing HTTP/1.1\r\nHost: a\r\n\r\n")
        let records = Self.accessRecords(actions).map(\.0)
        #expect(records.map(\.status) == [200, 200, 404])
        #expect(records.map(\.method) == ["GET", "HEAD", "GET"])
        #expect(records.map(\.target) == ["/healthz?token=t", "/", "/missing"])  // redacted when written
        #expect(records[0].userAgent == "probe/1")
        #expect(records[0].requestID == "r-1")
        #expect(records[1].userAgent == nil)
        // bytes: exactly what was queued for each response (HEAD: the head only).
        var perResponse: [Int] = []
        var bytes = 0
        for action in actions {
            switch action {
            case .write(let chunk): bytes += chunk.count
            case .writeFile(let region): bytes += region.length
            case .accessLog:
                perResponse.append(bytes)
                bytes = 0
            default: break
            }
        }
        #expect(records.map(\.bytes) == perResponse)
    }

    @Test func aTimedOutRequestIsLoggedWithItsDurationAndNoHead() throws {
        let h = try Harness { $0.accessLog = true }
        let started = h.now
        _ = h.feed("GET /healthz HTTP/1.1\r\nHost: a\r\n")  // the head never ends
        let actions = h.tick(10.5)
        let logged = Self.accessRecords(actions)
        #expect(logged.count == 1)
        #expect(logged.first?.0.status == 408)
        #expect(logged.first?.0.method == nil)
        #expect(logged.first?.1 == started)
        #expect(logged.first?.0.durationNanos == UInt64(10.5 * 1e9))
    }

    @Test func aWebSocketUpgradeIsNotAnHTTPLine() throws {
        let h = try Harness { $0.accessLog = true }
        let actions = h.feed("GET /echo HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                             + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        #expect(Self.accessRecords(actions).isEmpty)  // the session's own line is written when it ends
    }
}
