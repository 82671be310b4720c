import CHeraldSSL

/// What to answer a WebSocket upgrade request with.
public enum WebSocketHandshakeResult: Equatable, Sendable {
    /// Answer `101 Switching Protocols` with these headers (RFC 6455 §4.2.2 step 5).
    case accept(responseHeaders: HTTPHeaders)
    /// Answer `status` with these headers and a JSON error body made of `code` and `message`.
    case reject(status: Int, headers: HTTPHeaders, code: String, message: String)
}

/// `WebSocketHandshake.check`'s verdict: the accept key alone, or the same rejection as `evaluate`.
public enum WebSocketHandshakeCheck: Equatable, Sendable {
    /// Answer `101 Switching Protocols` with this `Sec-WebSocket-Accept` value.
    case accept(acceptKey: String)
    case reject(status: Int, headers: HTTPHeaders, code: String, message: String)
}

/// The server side of the opening handshake (RFC 6455 §4.2). Pure: the caller writes the
/// response and switches the connection to frames.
public enum WebSocketHandshake {
    /// RFC 6455 §1.3: the GUID appended to the client's key.
    public static let guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    /// RFC 6455 §4.1: the only version this RFC defines.
    public static let version = "13"
    /// RFC 6455 §4.1: the key is a base64-encoded random 16-byte nonce.
    public static let keyByteCount = 16

    /// `Sec-WebSocket-Accept`: base64(SHA-1(key + GUID)) (RFC 6455 §4.2.2 step 5.4). The key and
    /// the GUID are hashed from one stack buffer when they fit (a real key is 24 bytes): no
    /// concatenated String, digest array or intermediate Base64 array per handshake.
    public static func acceptKey(for clientKey: String) -> String {
        var key = clientKey
        return key.withUTF8 { key -> String in
            let total = key.count + guidBytes.count
            guard total <= 128 else { return Base64.encode(sha1(Array(key) + guidBytes)) }
            return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 128) { input -> String in
                // Sound: `total` ≤ 128 was checked, so both copies stay inside the 128 bytes.
                _ = UnsafeMutableBufferPointer(rebasing: input[0..<key.count]).initialize(from: key)
                _ = UnsafeMutableBufferPointer(rebasing: input[key.count..<total]).initialize(from: guidBytes)
                var digest: (UInt64, UInt64, UInt32) = (0, 0, 0)  // 20 bytes
                withUnsafeMutableBytes(of: &digest) { out in
                    herald_ssl_sha1(input.baseAddress, total, out.baseAddress!.assumingMemoryBound(to: UInt8.self))
                }
                return withUnsafeBytes(of: &digest) { Base64.encode(UnsafeRawBufferPointer(rebasing: $0[0..<20])) }
            }
        }
    }

    private static let guidBytes = Array(guid.utf8)

    private static func sha1(_ input: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 20)
        input.withUnsafeBufferPointer { src in
            digest.withUnsafeMutableBufferPointer { out in herald_ssl_sha1(src.baseAddress, src.count, out.baseAddress) }
        }
        return digest
    }

    /// Checks an upgrade request against RFC 6455 §4.2.1. Subprotocols and extensions are the
    /// caller's to add to the accept headers.
    public static func evaluate(_ head: HTTPRequestHead) -> WebSocketHandshakeResult {
        switch check(head) {
        case .accept(let key):
            var headers = HTTPHeaders()
            headers.add(name: "Upgrade", value: "websocket")
            headers.add(name: "Connection", value: "Upgrade")
            headers.add(name: "Sec-WebSocket-Accept", value: key)
            return .accept(responseHeaders: headers)
        case .reject(let status, let headers, let code, let message):
            return .reject(status: status, headers: headers, code: code, message: message)
        }
    }

    /// `evaluate`'s verdict with only the `Sec-WebSocket-Accept` value for an accepted request:
    /// the server writes the 101 with `switchingProtocols`, without an `HTTPHeaders` of it.
    public static func check(_ head: HTTPRequestHead) -> WebSocketHandshakeCheck {
        // §4.2.1 item 1: "An HTTP/1.1 or higher GET request".
        guard head.method == "GET" else {
            return .reject(
                status: 405, headers: ["Allow": "GET"], code: "method_not_allowed",
                message: "a WebSocket upgrade must be a GET request")
        }
        guard head.version.major > 1 || (head.version.major == 1 && head.version.minor >= 1) else {
            return badRequest("a WebSocket upgrade needs HTTP/1.1 or later")
        }
        // §4.2.1 items 3–4: Upgrade contains "websocket", Connection contains "Upgrade", both
        // case-insensitive (tokens() lower-cases).
        guard head.headers.containsToken("websocket", name: "upgrade") else {
            return badRequest("missing 'Upgrade: websocket'")
        }
        guard head.headers.containsToken("upgrade", name: "connection") else {
            return badRequest("missing 'Connection: Upgrade'")
        }
        // §4.2.1 item 5: exactly one key that decodes to 16 bytes.
        let keys = head.headers.count(name: "sec-websocket-key")
        guard keys.count == 1, let first = keys.first else {
            return badRequest(keys.count == 0 ? "missing Sec-WebSocket-Key" : "more than one Sec-WebSocket-Key")
        }
        let key = first.trimmingHTTPWhitespace()
        guard Base64.decodedCount(key) == keyByteCount else {
            return badRequest("Sec-WebSocket-Key must be the base64 of 16 bytes")
        }
        // §4.2.1 item 6 and §4.4: another version gets 426 with the version we speak.
        let versions = head.headers.count(name: "sec-websocket-version")
        guard versions.count > 0 else {
            return badRequest("missing Sec-WebSocket-Version")
        }
        guard versions.count == 1, let v = versions.first, v.trimmingHTTPWhitespace() == version else {
            // RFC 9110 §15.5.22: a 426 response must carry Upgrade.
            return .reject(
                status: 426, headers: ["Sec-WebSocket-Version": version, "Upgrade": "websocket"],
                code: "unsupported_websocket_version",
                message: "only WebSocket version \(version) is supported")
        }
        return .accept(acceptKey: acceptKey(for: key))
    }

    /// The 101 for an accepted handshake, byte for byte what `HTTPResponseEncoder.encode` makes
    /// of `evaluate`'s headers followed by `Sec-WebSocket-Extensions` (when negotiated), `Date`
    /// and `Server`, written straight into one array.
    public static func switchingProtocols(acceptKey: String, extensions: String?, date: String, server: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(switchingProtocolsPrefix.count + 64 + acceptKey.utf8.count + (extensions?.utf8.count ?? 0)
            + date.utf8.count + server.utf8.count)
        out.append(contentsOf: switchingProtocolsPrefix)
        HTTPResponseEncoder.appendField(literalName: "Sec-WebSocket-Accept", value: acceptKey, to: &out)
        if let extensions { HTTPResponseEncoder.appendField(literalName: "Sec-WebSocket-Extensions", value: extensions, to: &out) }
        HTTPResponseEncoder.appendField(literalName: "Date", value: date, to: &out)
        HTTPResponseEncoder.appendField(literalName: "Server", value: server, to: &out)
        out.append(UInt8(ascii: "\r"))
        out.append(UInt8(ascii: "\n"))
        return out
    }

    private static let switchingProtocolsPrefix: [UInt8] = {
        var out: [UInt8] = []
        HTTPResponseEncoder.appendStatusLine(101, to: &out)
        HTTPResponseEncoder.appendField(name: "Upgrade", value: "websocket", to: &out)
        HTTPResponseEncoder.appendField(name: "Connection", value: "Upgrade", to: &out)
        return out
    }()

    private static func badRequest(_ message: String) -> WebSocketHandshakeCheck {
        .reject(status: 400, headers: HTTPHeaders(), code: "bad_websocket_upgrade", message: message)
    }
}
