import CHeraldSSL

/// What to answer a WebSocket upgrade request with.
public enum WebSocketHandshakeResult: Equatable, Sendable {
    /// Answer `101 Switching Protocols` with these headers (RFC 6455 §4.2.2 step 5).
    case accept(responseHeaders: HTTPHeaders)
    /// Answer `status` with these headers and a JSON error body made of `code` and `message`.
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

    /// `Sec-WebSocket-Accept`: base64(SHA-1(key + GUID)) (RFC 6455 §4.2.2 step 5.4).
    public static func acceptKey(for clientKey: String) -> String {
        var input = clientKey + guid
        var digest = [UInt8](repeating: 0, count: 20)
        input.withUTF8 { src in
            digest.withUnsafeMutableBufferPointer { out in
                herald_ssl_sha1(src.baseAddress, src.count, out.baseAddress)
            }
        }
        return Base64.encode(digest)
    }

    /// Checks an upgrade request against RFC 6455 §4.2.1. Subprotocols and extensions are the
    /// caller's to add to the accept headers.
    public static func evaluate(_ head: HTTPRequestHead) -> WebSocketHandshakeResult {
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
        let keys = head.headers.values(name: "sec-websocket-key")
        guard keys.count == 1 else {
            return badRequest(keys.isEmpty ? "missing Sec-WebSocket-Key" : "more than one Sec-WebSocket-Key")
        }
        let key = keys[0].trimmingHTTPWhitespace()
        guard let nonce = Base64.decode(key), nonce.count == keyByteCount else {
            return badRequest("Sec-WebSocket-Key must be the base64 of 16 bytes")
        }
        // §4.2.1 item 6 and §4.4: another version gets 426 with the version we speak.
        let versions = head.headers.values(name: "sec-websocket-version")
        guard !versions.isEmpty else {
            return badRequest("missing Sec-WebSocket-Version")
        }
        guard versions.count == 1, versions[0].trimmingHTTPWhitespace() == version else {
            // RFC 9110 §15.5.22: a 426 response must carry Upgrade.
            return .reject(
                status: 426, headers: ["Sec-WebSocket-Version": version, "Upgrade": "websocket"],
                code: "unsupported_websocket_version",
                message: "only WebSocket version \(version) is supported")
        }
        var headers = HTTPHeaders()
        headers.add(name: "Upgrade", value: "websocket")
        headers.add(name: "Connection", value: "Upgrade")
        headers.add(name: "Sec-WebSocket-Accept", value: acceptKey(for: key))
        return .accept(responseHeaders: headers)
    }

    private static func badRequest(_ message: String) -> WebSocketHandshakeResult {
        .reject(status: 400, headers: HTTPHeaders(), code: "bad_websocket_upgrade", message: message)
    }
}
