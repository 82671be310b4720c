import HeraldWire

/// `--log-format`: how every line on stderr is written.
public enum LogFormat: String, Sendable, CaseIterable {
    /// One readable line: `2026-12-04T10:11:12.345Z info herald: message`.
    case text
    /// One JSON object per line with fixed keys (docs/protocol.md, "Logs").
    case json
}

/// The access line of one HTTP request, as the connection saw it.
public struct HTTPAccessRecord: Sendable, Equatable {
    /// Nil when the request head never arrived whole (a 400 for bad syntax, a 408).
    public var method: String?
    /// The request-target as sent; tokens in its query are redacted when written.
    public var target: String?
    public var status: Int
    /// Bytes queued on the connection for this response, head included.
    public var bytes: Int
    /// From the request's first byte to its response being queued.
    public var durationNanos: UInt64
    public var userAgent: String?
    /// The client's `X-Request-Id` (a proxy's, e.g. nginx `$request_id`), when it sent one.
    public var requestID: String?

    public init(method: String?, target: String?, status: Int, bytes: Int, durationNanos: UInt64,
                userAgent: String? = nil, requestID: String? = nil) {
        self.method = method
        self.target = target
        self.status = status
        self.bytes = bytes
        self.durationNanos = durationNanos
        self.userAgent = userAgent
        self.requestID = requestID
    }
}

/// Who ended a WebSocket session: whoever sent the first close frame, or dropped the TCP
/// connection without one.
public enum ClosingSide: String, Sendable {
    case client, server
}

/// The access line of one WebSocket session, written when it ends.
public struct WebSocketAccessRecord: Sendable, Equatable {
    public var target: String
    /// Topics the client subscribed to during the session, in order, each once.
    public var topics: [String]
    public var durationNanos: UInt64
    /// Data messages (text and binary) queued for the client, and received from it.
    public var framesSent: UInt64
    public var framesReceived: UInt64
    /// Bytes on the wire, every frame counted (control frames too).
    public var bytesSent: UInt64
    public var bytesReceived: UInt64
    /// The code of the first close frame (1005 when it carried none); 1006 when the TCP
    /// connection ended without one (RFC 6455 §7.1.5).
    public var closeCode: UInt16
    public var closedBy: ClosingSide
    public var userAgent: String?
    public var requestID: String?

    public init(target: String, topics: [String] = [], durationNanos: UInt64, framesSent: UInt64, framesReceived: UInt64,
                bytesSent: UInt64, bytesReceived: UInt64, closeCode: UInt16, closedBy: ClosingSide,
                userAgent: String? = nil, requestID: String? = nil) {
        self.target = target
        self.topics = topics
        self.durationNanos = durationNanos
        self.framesSent = framesSent
        self.framesReceived = framesReceived
        self.bytesSent = bytesSent
        self.bytesReceived = bytesReceived
        self.closeCode = closeCode
        self.closedBy = closedBy
        self.userAgent = userAgent
        self.requestID = requestID
    }
}

/// Writes log lines, access lines included, in the text or JSON format. Pure: the time comes
/// in as milliseconds since 1970; the formatted second is cached, so a busy loop formats the
/// date once per second and appends the milliseconds.
///
/// JSON lines have fixed keys, always present (null when unknown), in this order:
/// - every line: `ts` (RFC 3339 UTC with milliseconds), `level`, `kind` (`log`, `http`, `ws`);
/// - `log`: `logger`, `msg`, and `meta` (an object) when the message has metadata;
/// - `http`: `proc`, `method`, `path`, `status`, `bytes`, `duration_ms`, `remote`,
///   `user_agent`, `request_id`;
/// - `ws`: `proc`, `path`, `topics`, `duration_ms`, `frames_sent`, `frames_received`,
///   `bytes_sent`, `bytes_received`, `close_code`, `closed_by`, `remote`, `user_agent`,
///   `request_id`.
public struct LogLineEncoder: Sendable {
    public let format: LogFormat
    private var cachedSecond = Int64.min
    private var cachedPrefix: [UInt8] = []  // "2026-12-04T10:11:12."

    public init(format: LogFormat) {
        self.format = format
    }

    // MARK: Lines

    /// An ordinary log message (swift-log's): `ts level label: message k=v`.
    public mutating func message(_ text: String, level: String, label: String, metadata: [(String, String)] = [],
                                 at millis: Int64) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64 + text.utf8.count)
        switch format {
        case .text:
            appendTimestamp(millis, into: &out)
            out.append(UInt8(ascii: " "))
            out.append(contentsOf: level.utf8)
            out.append(UInt8(ascii: " "))
            out.append(contentsOf: label.utf8)
            out.append(contentsOf: ": ".utf8)
            Self.appendPlain(text, into: &out)
            for (key, value) in metadata {
                out.append(UInt8(ascii: " "))
                out.append(contentsOf: key.utf8)
                out.append(UInt8(ascii: "="))
                Self.appendPlain(value, into: &out)
            }
        case .json:
            open(level: level, kind: "log", at: millis, into: &out)
            key("logger", &out)
            JSONWriter.writeString(label, into: &out)
            key("msg", &out)
            JSONWriter.writeString(text, into: &out)
            if !metadata.isEmpty {
                key("meta", &out)
                out.append(UInt8(ascii: "{"))
                for (index, (name, value)) in metadata.enumerated() {
                    if index > 0 { out.append(UInt8(ascii: ",")) }
                    JSONWriter.writeString(name, into: &out)
                    out.append(UInt8(ascii: ":"))
                    JSONWriter.writeString(value, into: &out)
                }
                out.append(UInt8(ascii: "}"))
            }
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "\n"))
        return out
    }

    /// `ts info herald: http 127.0.0.1 "GET /path?token=[redacted]" 200 512 0.84ms "curl/8.5.0" id=abc`
    public mutating func http(_ record: HTTPAccessRecord, process: String, remote: String, at millis: Int64) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        let path = record.target.map(Self.redacting(target:))
        switch format {
        case .text:
            textOpen(process: process, kind: "http", remote: remote, at: millis, into: &out)
            out.append(UInt8(ascii: "\""))
            if let method = record.method { Self.appendEscaped(method, into: &out) } else { out.append(UInt8(ascii: "-")) }
            out.append(UInt8(ascii: " "))
            if let path { Self.appendEscaped(path, into: &out) } else { out.append(UInt8(ascii: "-")) }
            out.append(contentsOf: "\" ".utf8)
            out.append(contentsOf: String(record.status).utf8)
            out.append(UInt8(ascii: " "))
            out.append(contentsOf: String(record.bytes).utf8)
            out.append(UInt8(ascii: " "))
            Self.appendMillis(record.durationNanos, into: &out)
            out.append(contentsOf: "ms".utf8)
            textTail(userAgent: record.userAgent, requestID: record.requestID, into: &out)
        case .json:
            open(level: "info", kind: "http", at: millis, into: &out)
            key("proc", &out)
            JSONWriter.writeString(process, into: &out)
            key("method", &out)
            optionalString(record.method, &out)
            key("path", &out)
            optionalString(path, &out)
            key("status", &out)
            out.append(contentsOf: String(record.status).utf8)
            key("bytes", &out)
            out.append(contentsOf: String(record.bytes).utf8)
            key("duration_ms", &out)
            Self.appendMillis(record.durationNanos, into: &out)
            jsonTail(remote: remote, userAgent: record.userAgent, requestID: record.requestID, into: &out)
        }
        out.append(UInt8(ascii: "\n"))
        return out
    }

    /// `ts info herald: ws 127.0.0.1 "/ws?topic=tasks" topics=tasks 5012.3ms frames=12/3 bytes=4096/210 close=1000 by=client "UA"`
    /// (frames and bytes: sent/received).
    public mutating func webSocket(_ record: WebSocketAccessRecord, process: String, remote: String, at millis: Int64) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(320)
        let path = Self.redacting(target: record.target)
        switch format {
        case .text:
            textOpen(process: process, kind: "ws", remote: remote, at: millis, into: &out)
            out.append(UInt8(ascii: "\""))
            Self.appendEscaped(path, into: &out)
            out.append(contentsOf: "\" topics=".utf8)
            if record.topics.isEmpty { out.append(UInt8(ascii: "-")) }
            for (index, topic) in record.topics.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                Self.appendPlain(topic, into: &out)
            }
            out.append(UInt8(ascii: " "))
            Self.appendMillis(record.durationNanos, into: &out)
            out.append(contentsOf: "ms frames=\(record.framesSent)/\(record.framesReceived) bytes=\(record.bytesSent)/\(record.bytesReceived) close=\(record.closeCode) by=\(record.closedBy.rawValue)".utf8)
            textTail(userAgent: record.userAgent, requestID: record.requestID, into: &out)
        case .json:
            open(level: "info", kind: "ws", at: millis, into: &out)
            key("proc", &out)
            JSONWriter.writeString(process, into: &out)
            key("path", &out)
            JSONWriter.writeString(path, into: &out)
            key("topics", &out)
            out.append(UInt8(ascii: "["))
            for (index, topic) in record.topics.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                JSONWriter.writeString(topic, into: &out)
            }
            out.append(UInt8(ascii: "]"))
            key("duration_ms", &out)
            Self.appendMillis(record.durationNanos, into: &out)
            out.append(contentsOf: ",\"frames_sent\":\(record.framesSent),\"frames_received\":\(record.framesReceived)".utf8)
            out.append(contentsOf: ",\"bytes_sent\":\(record.bytesSent),\"bytes_received\":\(record.bytesReceived)".utf8)
            out.append(contentsOf: ",\"close_code\":\(record.closeCode),\"closed_by\":\"\(record.closedBy.rawValue)\"".utf8)
            jsonTail(remote: remote, userAgent: record.userAgent, requestID: record.requestID, into: &out)
        }
        out.append(UInt8(ascii: "\n"))
        return out
    }

    // MARK: Redaction

    /// The target with the value of every query parameter whose name contains "token" (any
    /// case, after percent-decoding: `token`, `access_token`, `herald_token`) replaced by
    /// `[redacted]`. Tokens are credentials (`?token=` is how browsers authenticate a /ws);
    /// they must never reach a log. Headers are never logged except User-Agent and X-Request-Id.
    public static func redacting(target: String) -> String {
        guard let question = target.utf8.firstIndex(of: UInt8(ascii: "?")) else { return target }
        let query = target.utf8[target.utf8.index(after: question)...]
        guard query.contains(where: { $0 == UInt8(ascii: "t") || $0 == UInt8(ascii: "T") || $0 == UInt8(ascii: "%") }) else {
            return target  // no parameter name can spell "token"
        }
        var out = Array(target.utf8[...question])
        var first = true
        for parameter in query.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: false) {
            if !first { out.append(UInt8(ascii: "&")) }
            first = false
            let equals = parameter.firstIndex(of: UInt8(ascii: "="))
            let name = parameter[..<(equals ?? parameter.endIndex)]
            if Self.namesAToken(Array(name)) {
                out.append(contentsOf: name)
                out.append(contentsOf: "=[redacted]".utf8)
            } else {
                out.append(contentsOf: parameter)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func namesAToken(_ raw: [UInt8]) -> Bool {
        let decoded = raw.withUnsafeBufferPointer { PercentDecoding.decodeQueryComponent(bytes: $0) }
            ?? String(decoding: raw, as: UTF8.self)
        return decoded.lowercased().contains("token")
    }

    /// The address part of a peer as the listener describes it: `127.0.0.1:5000` → `127.0.0.1`,
    /// `[::1]:5000` → `::1`.
    public static func address(ofPeer peer: String) -> String {
        if peer.hasPrefix("["), let close = peer.firstIndex(of: "]") {
            return String(peer[peer.index(after: peer.startIndex)..<close])
        }
        if let colon = peer.lastIndex(of: ":") { return String(peer[..<colon]) }
        return peer
    }

    // MARK: Pieces

    /// `2026-12-04T10:11:12.345Z`.
    public mutating func appendTimestamp(_ millis: Int64, into out: inout [UInt8]) {
        let second = millis >= 0 ? millis / 1000 : (millis - 999) / 1000
        if second != cachedSecond {
            cachedSecond = second
            var full = Array(RFC3339.format(millisecondsSince1970: second * 1000).utf8)
            full.removeLast(4)  // "000Z"
            cachedPrefix = full
        }
        out.append(contentsOf: cachedPrefix)
        let ms = Int(millis - second * 1000)
        out.append(UInt8(ascii: "0") + UInt8(ms / 100))
        out.append(UInt8(ascii: "0") + UInt8(ms / 10 % 10))
        out.append(UInt8(ascii: "0") + UInt8(ms % 10))
        out.append(UInt8(ascii: "Z"))
    }

    private mutating func textOpen(process: String, kind: String, remote: String, at millis: Int64, into out: inout [UInt8]) {
        appendTimestamp(millis, into: &out)
        out.append(contentsOf: " info ".utf8)
        out.append(contentsOf: Self.label(ofProcess: process).utf8)
        out.append(contentsOf: ": ".utf8)
        out.append(contentsOf: kind.utf8)
        out.append(UInt8(ascii: " "))
        out.append(contentsOf: (remote.isEmpty ? "-" : remote).utf8)
        out.append(UInt8(ascii: " "))
    }

    private func textTail(userAgent: String?, requestID: String?, into out: inout [UInt8]) {
        out.append(contentsOf: " \"".utf8)
        if let userAgent { Self.appendEscaped(userAgent, into: &out) } else { out.append(UInt8(ascii: "-")) }
        out.append(UInt8(ascii: "\""))
        if let requestID {
            out.append(contentsOf: " id=".utf8)
            Self.appendPlain(requestID, into: &out)
        }
    }

    /// The logger label of a process: `herald`, or `herald worker-2` under a supervisor.
    public static func label(ofProcess process: String) -> String {
        process == "herald" ? process : "herald \(process)"
    }

    private mutating func open(level: String, kind: String, at millis: Int64, into out: inout [UInt8]) {
        out.append(contentsOf: "{\"ts\":\"".utf8)
        appendTimestamp(millis, into: &out)
        out.append(contentsOf: "\",\"level\":".utf8)
        JSONWriter.writeString(level, into: &out)
        out.append(contentsOf: ",\"kind\":\"".utf8)
        out.append(contentsOf: kind.utf8)
        out.append(UInt8(ascii: "\""))
    }

    private func jsonTail(remote: String, userAgent: String?, requestID: String?, into out: inout [UInt8]) {
        key("remote", &out)
        optionalString(remote.isEmpty ? nil : remote, &out)
        key("user_agent", &out)
        optionalString(userAgent, &out)
        key("request_id", &out)
        optionalString(requestID, &out)
        out.append(UInt8(ascii: "}"))
    }

    private func key(_ name: String, _ out: inout [UInt8]) {
        out.append(contentsOf: ",\"".utf8)
        out.append(contentsOf: name.utf8)
        out.append(contentsOf: "\":".utf8)
    }

    private func optionalString(_ value: String?, _ out: inout [UInt8]) {
        if let value { JSONWriter.writeString(value, into: &out) } else { out.append(contentsOf: "null".utf8) }
    }

    /// Milliseconds with microsecond precision: `0.842`, `5012.300`.
    static func appendMillis(_ nanos: UInt64, into out: inout [UInt8]) {
        let micros = nanos / 1000
        out.append(contentsOf: String(micros / 1000).utf8)
        out.append(UInt8(ascii: "."))
        let fraction = Int(micros % 1000)
        out.append(UInt8(ascii: "0") + UInt8(fraction / 100))
        out.append(UInt8(ascii: "0") + UInt8(fraction / 10 % 10))
        out.append(UInt8(ascii: "0") + UInt8(fraction % 10))
    }

    /// A value inside double quotes in a text line: `"` and `\` escaped, control bytes as
    /// `\xHH`, so one line stays one line whatever a client sends.
    static func appendEscaped(_ text: String, into out: inout [UInt8]) {
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                out.append(UInt8(ascii: "\\"))
                out.append(byte)
            case 0..<0x20, 0x7F:
                appendHexEscape(byte, into: &out)
            default:
                out.append(byte)
            }
        }
    }

    /// An unquoted value in a text line (a message, a metadata value): control bytes escaped
    /// (a newline in a message must not start a line that looks like another entry).
    static func appendPlain(_ text: String, into out: inout [UInt8]) {
        for byte in text.utf8 {
            if byte < 0x20 || byte == 0x7F {
                appendHexEscape(byte, into: &out)
            } else {
                out.append(byte)
            }
        }
    }

    private static func appendHexEscape(_ byte: UInt8, into out: inout [UInt8]) {
        let digits = Array("0123456789abcdef".utf8)
        out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "x"), digits[Int(byte >> 4)], digits[Int(byte & 0xF)]])
    }
}
