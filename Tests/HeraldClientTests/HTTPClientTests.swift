import Foundation
import HeraldWire
import Testing
@testable import HeraldClient

/// The blocking HTTP client against a scripted server on a real socket.
@Suite struct HTTPClientTests {
    @Test func sendsAWellFormedRequestAndReadsAChunkedAnswer() throws {
        let received = Mutex<String>("")
        let server = FakeServer { peer in
            var buffer = ByteBuffer()
            received.set(peer.readRequest(&buffer))
            peer.trickle("HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n")
        }
        let url = try ClientURL(parsing: server.url + "/api/tasks")
        let response = try HTTPClient.request(
            method: "POST", url: url, body: Array("{\"title\":\"x\"}".utf8), headers: ["Content-Type": "application/json"])
        server.finish()
        #expect(response.status == 201)
        #expect(response.bodyText == "{\"a\":1}")
        #expect(response.headers["content-type"] == "application/json")
        let request = received.get()
        #expect(request.hasPrefix("POST /api/tasks HTTP/1.1\r\nHost: 127.0.0.1:\(server.port)\r\n"))
        #expect(request.contains("\r\nContent-Length: 13\r\n"))
        #expect(request.contains("\r\nConnection: close\r\n"))
        #expect(request.contains("\r\nContent-Type: application/json\r\n"))
        #expect(request.hasSuffix("\r\n\r\n{\"title\":\"x\"}"))
    }

    @Test func postWithoutBodySendsContentLengthZero() throws {
        let received = Mutex<String>("")
        let server = FakeServer { peer in
            var buffer = ByteBuffer()
            received.set(peer.readRequest(&buffer))
            peer.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        }
        let response = try HTTPClient.request(method: "POST", url: try ClientURL(parsing: server.url + "/api/tasks/a/start"))
        server.finish()
        #expect(response.status == 200 && response.bodyText == "{}")
        #expect(received.get().contains("\r\nContent-Length: 0\r\n"))
    }

    @Test func bodyUntilCloseIsReadToTheEnd() throws {
        let server = FakeServer { peer in
            var buffer = ByteBuffer()
            _ = peer.readRequest(&buffer)
            peer.trickle("HTTP/1.0 200 OK\r\n\r\nall of it")
        }
        let response = try HTTPClient.request(method: "GET", url: try ClientURL(parsing: server.url))
        server.finish()
        #expect(response.bodyText == "all of it")
    }

    @Test func aServerThatNeverAnswersTimesOut() throws {
        let server = FakeServer { peer in
            var buffer = ByteBuffer()
            _ = peer.readRequest(&buffer)
            usleep(800_000)
        }
        let start = MonotonicTime.seconds()
        #expect(throws: ClientError.timedOut("after 0.3 s waiting for the answer of http://127.0.0.1:\(server.port)")) {
            _ = try HTTPClient.request(method: "GET", url: try ClientURL(parsing: server.url), timeout: 0.3)
        }
        #expect(MonotonicTime.seconds() - start < 0.7)
        server.finish()
    }

    @Test func aResponseCutShortIsAnError() throws {
        let server = FakeServer { peer in
            var buffer = ByteBuffer()
            _ = peer.readRequest(&buffer)
            peer.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        }
        #expect(throws: ClientError.connectionClosed("in the middle of the response body")) {
            _ = try HTTPClient.request(method: "GET", url: try ClientURL(parsing: server.url))
        }
        server.finish()
    }

    @Test func connectionRefusedNamesTheServer() throws {
        // A port that was just free: bind, read the number, close.
        let server = FakeServer { _ in }
        let port = server.port
        let url = try ClientURL(parsing: "http://127.0.0.1:\(port)")
        // Make the one accept happen, then the listener closes.
        _ = try? HTTPClient.request(method: "GET", url: url, timeout: 1)
        server.finish()
        #expect(throws: ClientError.cannotConnect("http://127.0.0.1:\(port)", "Connection refused")) {
            _ = try HTTPClient.request(method: "GET", url: url)
        }
        #expect(ClientError.cannotConnect("http://127.0.0.1:\(port)", "Connection refused").description
            == "cannot reach http://127.0.0.1:\(port): Connection refused")
    }

    @Test func encodedRequestHeadersCanBeOverridden() throws {
        let url = try ClientURL(parsing: "http://[::1]:8080/x?y=1")
        let bytes = HTTPClient.encodeRequest(method: "GET", url: url, body: nil, headers: ["Accept": "text/plain"])
        #expect(String(decoding: bytes, as: UTF8.self)
            == "GET /x?y=1 HTTP/1.1\r\nHost: [::1]:8080\r\nUser-Agent: herald-cli\r\nConnection: close\r\nAccept: text/plain\r\n\r\n")
    }
}

/// A tiny lock-protected box for values a server thread hands back to the test.
final class Mutex<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func get() -> Value { lock.withLock { value } }
    func set(_ v: Value) { lock.withLock { value = v } }
    func update(_ f: (inout Value) -> Void) { lock.withLock { f(&value) } }
}
