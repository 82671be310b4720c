import HeraldLoop
import HeraldWire

/// Turns an `HTTPResponse` into wire actions: adds `Date`, `Server`, `Content-Length` and
/// `Connection`, and leaves the body out for HEAD and for statuses that have none. The head is
/// written straight into one array sized for it (with a small body after it): the same bytes
/// as replacing those fields in an `HTTPHeaders` copy and encoding that, without the copies.
enum ResponseSerializer {
    static func serialize(
        _ response: HTTPResponse, method: String, version: HTTPVersion, keepAlive: Bool, date: String, server: String
    ) -> [HTTPConnectionStateMachine.Action] {
        var actions: [HTTPConnectionStateMachine.Action] = []
        serialize(response, method: method, version: version, keepAlive: keepAlive, date: date, server: server, into: &actions)
        return actions
    }

    static func serialize(
        _ response: HTTPResponse, method: String, version: HTTPVersion, keepAlive: Bool, date: String, server: String,
        into actions: inout [HTTPConnectionStateMachine.Action]
    ) {
        // RFC 9110 §8.6: no Content-Length on 1xx/204; on 304 it would have to be the 200's length.
        let bodyless = response.status < 200 || response.status == 204 || response.status == 304
        let connection: String? = !keepAlive ? "close" : version == .http1_0 ? "keep-alive" : nil
        let sendsBody = method != "HEAD" && !bodyless
        var inline = 0
        if sendsBody, case .bytes(let body) = response.body { inline = body.count }
        let fieldBytes = response.headers.byteCount + 4 * response.headers.count
        var bytes: [UInt8] = []
        bytes.reserveCapacity(96 + fieldBytes + date.utf8.count + server.utf8.count + inline)
        HTTPResponseEncoder.appendStatusLine(response.status, to: &bytes)
        // The fields the server sets replace any of the same name (as `replaceOrAdd` did).
        response.headers.forEachField { name, value in
            if equalName(name, "Date") || equalName(name, "Server")
                || (!bodyless && equalName(name, "Content-Length"))
                || (connection != nil && equalName(name, "Connection")) {
                return
            }
            HTTPResponseEncoder.appendField(name: name, value: value, to: &bytes)
        }
        HTTPResponseEncoder.appendField(name: "Date", value: date, to: &bytes)
        HTTPResponseEncoder.appendField(name: "Server", value: server, to: &bytes)
        if !bodyless { HTTPResponseEncoder.appendField(name: "Content-Length", decimal: response.body.count, to: &bytes) }
        if let connection { HTTPResponseEncoder.appendField(name: "Connection", value: connection, to: &bytes) }
        bytes.append(UInt8(ascii: "\r"))
        bytes.append(UInt8(ascii: "\n"))
        guard sendsBody else {
            actions.append(.write(bytes))
            return
        }
        switch response.body {
        case .none:
            actions.append(.write(bytes))
        case .bytes(let body):
            bytes.append(contentsOf: body)
            actions.append(.write(bytes))
        case .file(let region):
            actions.append(.write(bytes))
            actions.append(.writeFile(region))
        }
    }

    private static func equalName(_ name: UnsafeBufferPointer<UInt8>, _ wanted: StaticString) -> Bool {
        wanted.withUTF8Buffer { HTTPHeaders.equalNameBytes(name, $0) }
    }
}
