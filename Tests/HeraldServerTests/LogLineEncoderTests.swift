import HeraldWire
import Testing
@testable import HeraldServer

/// Access and log lines as bytes: the fixed JSON keys, the text layout, token redaction and
/// escaping. Times are fixed milliseconds since 1970.
@Suite struct LogLineEncoderTests {
    /// 2026-12-04T10:11:12.345Z
    static let millis: Int64 = 1_796_379_072_345

    static let request = HTTPAccessRecord(
        method: "GET", target: "/api/tasks?owner=alice&token=eyJhbGciOi.secret.sig", status: 200, bytes: 512,
        durationNanos: 842_519, userAgent: "curl/8.5.0", requestID: "req-7")

    static let session = WebSocketAccessRecord(
        target: "/ws?topic=tasks&token=SECRET", topics: ["tasks", "task:7"], durationNanos: 5_012_300_000,
        framesSent: 12, framesReceived: 3, bytesSent: 4096, bytesReceived: 210, closeCode: 4001, closedBy: .server,
        userAgent: "Mozilla/5.0", requestID: nil)

    static func object(_ line: [UInt8]) throws -> JSONObject {
        #expect(line.last == UInt8(ascii: "\n"))
        #expect(line.dropLast().contains(UInt8(ascii: "\n")) == false, "one line")
        return try #require(try JSONParser.parse(Array(line.dropLast())).objectValue)
    }

    @Test func jsonHTTPLineHasTheFixedKeysInOrder() throws {
        var encoder = LogLineEncoder(format: .json)
        let object = try Self.object(encoder.http(Self.request, process: "worker-2", remote: "10.0.0.9", at: Self.millis))
        #expect(object.members.map(\.key) == ["ts", "level", "kind", "proc", "method", "path", "status", "bytes", "duration_ms",
                                              "remote", "user_agent", "request_id"])
        #expect(object["ts"]?.stringValue == "2026-12-04T10:11:12.345Z")
        #expect(object["level"]?.stringValue == "info")
        #expect(object["kind"]?.stringValue == "http")
        #expect(object["proc"]?.stringValue == "worker-2")
        #expect(object["method"]?.stringValue == "GET")
        #expect(object["path"]?.stringValue == "/api/tasks?owner=alice&token=[redacted]")
        #expect(object["status"]?.intValue == 200)
        #expect(object["bytes"]?.intValue == 512)
        #expect(object["duration_ms"]?.numberValue == 0.842)
        #expect(object["remote"]?.stringValue == "10.0.0.9")
        #expect(object["user_agent"]?.stringValue == "curl/8.5.0")
        #expect(object["request_id"]?.stringValue == "req-7")
    }

    @Test func jsonHTTPLineOfARequestWhoseHeadNeverArrivedHasNulls() throws {
        var encoder = LogLineEncoder(format: .json)
        let record = HTTPAccessRecord(method: nil, target: nil, status: 408, bytes: 150, durationNanos: 10_000_000_000)
        let object = try Self.object(encoder.http(record, process: "herald", remote: "", at: Self.millis))
        for key in ["method", "path", "remote", "user_agent", "request_id"] {
            #expect(object[key]?.isNull == true, "\(key)")
        }
        #expect(object["duration_ms"]?.numberValue == 10_000)
    }

    @Test func textHTTPLineReadsLikeAnAccessLog() {
        var encoder = LogLineEncoder(format: .text)
        let line = String(decoding: encoder.http(Self.request, process: "herald", remote: "127.0.0.1", at: Self.millis), as: UTF8.self)
        #expect(line == "2026-12-04T10:11:12.345Z info herald: http 127.0.0.1 \"GET /api/tasks?owner=alice&token=[redacted]\" 200 512 0.842ms \"curl/8.5.0\" id=req-7\n")
    }

    @Test func jsonWebSocketLineHasTheFixedKeysInOrder() throws {
        var encoder = LogLineEncoder(format: .json)
        let object = try Self.object(encoder.webSocket(Self.session, process: "herald", remote: "::1", at: Self.millis))
        #expect(object.members.map(\.key) == ["ts", "level", "kind", "proc", "path", "topics", "duration_ms", "frames_sent",
                                              "frames_received", "bytes_sent", "bytes_received", "close_code", "closed_by",
                                              "remote", "user_agent", "request_id"])
        #expect(object["kind"]?.stringValue == "ws")
        #expect(object["path"]?.stringValue == "/ws?topic=tasks&token=[redacted]")
        #expect(object["topics"]?.arrayValue?.compactMap(\.stringValue) == ["tasks", "task:7"])
        #expect(object["duration_ms"]?.numberValue == 5012.3)
        #expect(object["frames_sent"]?.intValue == 12)
        #expect(object["frames_received"]?.intValue == 3)
        #expect(object["bytes_sent"]?.intValue == 4096)
        #expect(object["bytes_received"]?.intValue == 210)
        #expect(object["close_code"]?.intValue == 4001)
        #expect(object["closed_by"]?.stringValue == "server")
        #expect(object["request_id"]?.isNull == true)
    }

    @Test func textWebSocketLineSaysFramesAndBytesSentSlashReceived() {
        var encoder = LogLineEncoder(format: .text)
        let line = String(decoding: encoder.webSocket(Self.session, process: "worker-1", remote: "::1", at: Self.millis), as: UTF8.self)
        #expect(line == "2026-12-04T10:11:12.345Z info herald worker-1: ws ::1 \"/ws?topic=tasks&token=[redacted]\" topics=tasks,task:7 5012.300ms frames=12/3 bytes=4096/210 close=4001 by=server \"Mozilla/5.0\"\n")
    }

    @Test(arguments: [
        ("/ws?token=abc", "/ws?token=[redacted]"),
        ("/ws?topic=tasks&token=abc&since=3", "/ws?topic=tasks&token=[redacted]&since=3"),
        ("/x?access_token=abc", "/x?access_token=[redacted]"),
        ("/x?Token=abc", "/x?Token=[redacted]"),
        ("/x?%74oken=abc", "/x?%74oken=[redacted]"),         // percent-encoded name
        ("/x?herald_token=abc&token", "/x?herald_token=[redacted]&token=[redacted]"),
        ("/x?topic=task:token", "/x?topic=task:token"),       // a value may say "token"
        ("/x?a=1&&b=2", "/x?a=1&&b=2"),
        ("/no/query", "/no/query"),
        ("/x?", "/x?"),
    ])
    func tokensInTheQueryAreRedacted(target: String, logged: String) {
        #expect(LogLineEncoder.redacting(target: target) == logged)
    }

    @Test func textLinesStayOneLineWhateverTheClientSends() {
        var encoder = LogLineEncoder(format: .text)
        var record = Self.request
        record.userAgent = "evil\n2026-01-01T00:00:00.000Z info herald: \"forged\"\\"
        let line = String(decoding: encoder.http(record, process: "herald", remote: "1.2.3.4", at: Self.millis), as: UTF8.self)
        #expect(line.split(separator: "\n").count == 1)
        #expect(line.hasSuffix("\"evil\\x0a2026-01-01T00:00:00.000Z info herald: \\\"forged\\\"\\\\\" id=req-7\n"))
    }

    @Test func jsonLinesEscapeWhatTheClientSends() throws {
        var encoder = LogLineEncoder(format: .json)
        var record = Self.request
        record.userAgent = "a\"b\n\u{1}c"
        let object = try Self.object(encoder.http(record, process: "herald", remote: "1.2.3.4", at: Self.millis))
        #expect(object["user_agent"]?.stringValue == "a\"b\n\u{1}c")
    }

    @Test func timestampsFollowTheClockAcrossSecondsAndMilliseconds() {
        var encoder = LogLineEncoder(format: .text)
        func stamp(_ ms: Int64) -> String {
            var out: [UInt8] = []
            encoder.appendTimestamp(ms, into: &out)
            return String(decoding: out, as: UTF8.self)
        }
        #expect(stamp(0) == "1970-01-01T00:00:00.000Z")
        #expect(stamp(1_796_379_072_999) == "2026-12-04T10:11:12.999Z")
        #expect(stamp(1_796_379_073_000) == "2026-12-04T10:11:13.000Z")  // the cached second moves on
        #expect(stamp(1_796_379_073_007) == "2026-12-04T10:11:13.007Z")
        #expect(stamp(1_796_379_072_050) == "2026-12-04T10:11:12.050Z")  // and back
    }

    @Test func logMessagesInBothFormats() throws {
        var text = LogLineEncoder(format: .text)
        let plain = String(decoding: text.message("restored 3 tasks", level: "info", label: "herald supervisor",
                                                  metadata: [("pid", "42")], at: Self.millis), as: UTF8.self)
        #expect(plain == "2026-12-04T10:11:12.345Z info herald supervisor: restored 3 tasks pid=42\n")

        var json = LogLineEncoder(format: .json)
        let object = try Self.object(json.message("line one\nline two", level: "warning", label: "herald", at: Self.millis))
        #expect(object.members.map(\.key) == ["ts", "level", "kind", "logger", "msg"])
        #expect(object["kind"]?.stringValue == "log")
        #expect(object["level"]?.stringValue == "warning")
        #expect(object["msg"]?.stringValue == "line one\nline two")
        let withMeta = try Self.object(json.message("m", level: "info", label: "herald", metadata: [("k", "v")], at: Self.millis))
        #expect(withMeta["meta"]?["k"]?.stringValue == "v")
    }

    @Test(arguments: [("127.0.0.1:5000", "127.0.0.1"), ("[::1]:5000", "::1"), ("[::ffff:10.0.0.1]:80", "::ffff:10.0.0.1"), ("unix", "unix")])
    func remoteIsTheAddressWithoutThePort(peer: String, address: String) {
        #expect(LogLineEncoder.address(ofPeer: peer) == address)
    }
}
