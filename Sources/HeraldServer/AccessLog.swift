import Glibc
import HeraldLoop

/// One access line per HTTP request and per WebSocket session (`--access-log on`, the
/// default, at log level info), to stderr through the process's `LogWriter`. One per loop,
/// used on the loop thread only. When access logging is off there is no `AccessLog` at all:
/// the connections check one optional and build no record.
final class AccessLog {
    private var encoder: LogLineEncoder
    private let process: String
    private let writer: LogWriter

    init(format: LogFormat, process: String, writer: LogWriter = .standardError) {
        encoder = LogLineEncoder(format: format)
        self.process = process
        self.writer = writer
    }

    /// `remote`: the client's address, `LogLineEncoder.address(ofPeer:)` (once per connection).
    func http(_ record: HTTPAccessRecord, remote: String) {
        writer.write(encoder.http(record, process: process, remote: remote, at: Self.nowMillis()))
    }

    func webSocket(_ record: WebSocketAccessRecord, peer: String) {
        writer.write(encoder.webSocket(record, process: process, remote: LogLineEncoder.address(ofPeer: peer), at: Self.nowMillis()))
    }

    static func nowMillis() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec / 1_000_000)
    }
}
