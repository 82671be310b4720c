import Testing
@testable import HeraldWire

@Suite struct WebSocketHandshakeTests {
    /// RFC 6455 §1.3: the sample nonce and the accept value the RFC gives for it (the same
    /// as Python's `base64.b64encode(hashlib.sha1(key + GUID).digest())`).
    static let rfcKey = "dGhlIHNhbXBsZSBub25jZQ=="
    static let rfcAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

    private func request(
        method: String = "GET", version: HTTPVersion = .http1_1, _ headers: [(String, String)]? = nil
    ) -> HTTPRequestHead {
        var h = HTTPHeaders()
        for (name, value) in headers ?? [
            ("Host", "server.example.com"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", Self.rfcKey), ("Sec-WebSocket-Version", "13"),
        ] {
            h.add(name: name, value: value)
        }
        return HTTPRequestHead(method: method, target: "/ws?topic=tasks", version: version, headers: h)
    }

    private func replacing(_ name: String, with value: String?) -> [(String, String)] {
        var fields: [(String, String)] = [
            ("Host", "server.example.com"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", Self.rfcKey), ("Sec-WebSocket-Version", "13"),
        ]
        fields.removeAll { $0.0 == name }
        if let value { fields.append((name, value)) }
        return fields
    }

    private func status(_ result: WebSocketHandshakeResult) -> Int? {
        if case .reject(let status, _, _, _) = result { return status }
        return nil
    }

    @Test func acceptKeyMatchesTheRFCExample() {
        #expect(WebSocketHandshake.acceptKey(for: Self.rfcKey) == Self.rfcAccept)
    }

    @Test func validUpgradeIsAcceptedWithExactlyTheThreeHeaders() {
        let expected: HTTPHeaders = [
            "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Accept": Self.rfcAccept,
        ]
        #expect(WebSocketHandshake.evaluate(request()) == .accept(responseHeaders: expected))
    }

    @Test func tokensAreCaseInsensitiveAndMayBeLists() {
        let headers = [
            ("Upgrade", "WebSocket"), ("Connection", "keep-alive, UPGRADE"),
            ("Sec-WebSocket-Key", " \(Self.rfcKey) "), ("Sec-WebSocket-Version", "13"),
        ]
        guard case .accept(let response) = WebSocketHandshake.evaluate(request(headers)) else {
            Issue.record("rejected")
            return
        }
        #expect(response["sec-websocket-accept"] == Self.rfcAccept)
    }

    @Test func laterHTTPVersionsAreAccepted() {
        guard case .accept = WebSocketHandshake.evaluate(request(version: HTTPVersion(major: 1, minor: 2))) else {
            Issue.record("rejected")
            return
        }
    }

    @Test(arguments: ["POST", "HEAD", "get"])
    func otherMethodsAreRejectedWith405(method: String) {
        #expect(
            WebSocketHandshake.evaluate(request(method: method))
                == .reject(status: 405, headers: ["Allow": "GET"], code: "method_not_allowed", message: "a WebSocket upgrade must be a GET request"))
    }

    @Test func http10IsRejectedWith400() {
        #expect(status(WebSocketHandshake.evaluate(request(version: .http1_0))) == 400)
    }

    @Test func missingOrWrongUpgradeIsRejectedWith400() {
        #expect(status(WebSocketHandshake.evaluate(request(replacing("Upgrade", with: nil)))) == 400)
        #expect(status(WebSocketHandshake.evaluate(request(replacing("Upgrade", with: "h2c")))) == 400)
        #expect(status(WebSocketHandshake.evaluate(request(replacing("Connection", with: nil)))) == 400)
        #expect(status(WebSocketHandshake.evaluate(request(replacing("Connection", with: "keep-alive")))) == 400)
    }

    @Test(arguments: [
        "", "not base64!", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25j",  // unpadded, 15 bytes
        "dGhlIHNhbXBsZSBub25jZT8/", "dGhlIHNhbXBsZSBub25jZR==",  // 17 bytes, non-canonical
    ])
    func badKeyIsRejectedWith400(key: String) {
        let result = WebSocketHandshake.evaluate(request(replacing("Sec-WebSocket-Key", with: key)))
        guard case .reject(400, let headers, "bad_websocket_upgrade", _) = result else {
            Issue.record("\(result)")
            return
        }
        #expect(headers.count == 0)
    }

    @Test func missingOrRepeatedKeyIsRejectedWith400() {
        #expect(status(WebSocketHandshake.evaluate(request(replacing("Sec-WebSocket-Key", with: nil)))) == 400)
        let twice = replacing("Upgrade", with: "websocket") + [("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAA==")]
        #expect(status(WebSocketHandshake.evaluate(request(twice))) == 400)
    }

    @Test(arguments: ["8", "12", "14", "13, 8", "thirteen"])
    func otherVersionsAreRejectedWith426AndOurVersion(version: String) {
        let result = WebSocketHandshake.evaluate(request(replacing("Sec-WebSocket-Version", with: version)))
        guard case .reject(426, let headers, "unsupported_websocket_version", _) = result else {
            Issue.record("\(result)")
            return
        }
        #expect(headers["Sec-WebSocket-Version"] == "13")
        #expect(headers["Upgrade"] == "websocket")
    }

    @Test func missingVersionIsRejectedWith400() {
        #expect(status(WebSocketHandshake.evaluate(request(replacing("Sec-WebSocket-Version", with: nil)))) == 400)
    }

    // MARK: The server's fast path (check + switchingProtocols), held to evaluate + the encoder

    @Test func checkAgreesWithEvaluateOnAcceptsAndRejections() {
        let cases: [HTTPRequestHead] = [
            request(), request(method: "POST"), request(version: .http1_0),
            request(version: HTTPVersion(major: 1, minor: 2)),
            request(replacing("Upgrade", with: nil)), request(replacing("Connection", with: nil)),
            request(replacing("Sec-WebSocket-Key", with: nil)), request(replacing("Sec-WebSocket-Key", with: " \(Self.rfcKey)\t")),
            request(replacing("Sec-WebSocket-Key", with: "Zm9v")), request(replacing("Sec-WebSocket-Key", with: "dGhlIHNhbXBsZSBub25jZR==")),
            request(replacing("Sec-WebSocket-Version", with: nil)), request(replacing("Sec-WebSocket-Version", with: "8")),
            request(replacing("Sec-WebSocket-Version", with: " 13 ")),
            request(replacing("Sec-WebSocket-Version", with: "") + [("Sec-WebSocket-Version", "13")]),
            request(replacing("Sec-WebSocket-Key", with: Self.rfcKey) + [("Sec-WebSocket-Key", Self.rfcKey)]),
        ]
        for head in cases {
            let expected = WebSocketHandshake.evaluate(head)
            switch WebSocketHandshake.check(head) {
            case .accept(let key):
                var headers = HTTPHeaders()
                headers.add(name: "Upgrade", value: "websocket")
                headers.add(name: "Connection", value: "Upgrade")
                headers.add(name: "Sec-WebSocket-Accept", value: key)
                #expect(expected == .accept(responseHeaders: headers))
            case .reject(let status, let headers, let code, let message):
                #expect(expected == .reject(status: status, headers: headers, code: code, message: message))
            }
        }
        #expect(WebSocketHandshake.check(request(replacing("Sec-WebSocket-Key", with: " \(Self.rfcKey)\t"))) == .accept(acceptKey: Self.rfcAccept))
    }

    @Test func switchingProtocolsIsWhatTheEncoderMakesOfTheFields() {
        for extensions in [nil, "permessage-deflate", "permessage-deflate; server_max_window_bits=10"] {
            for server in ["herald", "herald/1.0 (bad\r\nX-Injected: 1)"] {
                let date = "Sat, 05 Dec 2026 00:50:00 GMT"
                guard case .accept(var headers) = WebSocketHandshake.evaluate(request()) else {
                    Issue.record("the RFC example must be accepted")
                    return
                }
                if let extensions { headers.add(name: "Sec-WebSocket-Extensions", value: extensions) }
                headers.add(name: "Date", value: date)
                headers.add(name: "Server", value: server)
                let general = HTTPResponseEncoder.encode(HTTPResponseHead(status: 101, headers: headers))
                let fast = WebSocketHandshake.switchingProtocols(acceptKey: Self.rfcAccept, extensions: extensions, date: date, server: server)
                #expect(fast == general)
            }
        }
    }

    @Test func acceptKeyOfAnyLengthIsBase64OfTheSHA1() {
        // Keys longer than the stack buffer take the array path; both give the same digests as
        // the RFC's construction, checked through known values.
        #expect(WebSocketHandshake.acceptKey(for: "") == "Kfh9QIsMVZcl6xEPYxPHzW8SZ8w=")  // SHA-1 of the GUID alone
        // (Python: base64.b64encode(hashlib.sha1(key + GUID).digest())); 92 + 36 bytes fill the buffer exactly.
        #expect(WebSocketHandshake.acceptKey(for: String(repeating: "k", count: 200)) == "HXr7Nbki1tHdEVpq+a7G7IV4VJU=")
        #expect(WebSocketHandshake.acceptKey(for: String(repeating: "a", count: 92)) == "QozTWdJkJ6Mr6+QwqAHt8yNpBdc=")
        #expect(WebSocketHandshake.acceptKey(for: String(repeating: "a", count: 93)) == "Wqsi23qveShdsmPG0HM1DIqFrCA=")
    }
}
