import FuzzSupport
import HeraldWire

// The server's WebSocket session (RFC 6455): frame decoding, reassembly, UTF-8 validation and
// the closing handshake. Checked: bytes fed whole and in two pieces give the same actions;
// delivered text is valid UTF-8 by the standard library's own validator; no message passes
// the limit; nothing follows closeTransport; every frame we send decodes. The UTF-8 validator
// is also checked against the standard library on the raw input, whole and split.
let maxMessage = 4096

func receive(_ pieces: [ArraySlice<UInt8>]) -> [WebSocketAction] {
    var session = WebSocketSession(maxMessageSize: maxMessage)
    var buffer = ByteBuffer()
    var actions: [WebSocketAction] = []
    for piece in pieces {
        let before = buffer.readableBytes + piece.count
        buffer.append(contentsOf: piece)
        actions += session.receive(&buffer)
        Fuzz.check(buffer.readableBytes <= before, "the session grew its input")
    }
    return actions
}

func checkActions(_ actions: [WebSocketAction]) {
    var client = WebSocketFrameDecoder(maxFramePayload: 1 << 20, requireMasked: false)
    for (i, action) in actions.enumerated() {
        switch action {
        case .deliver(let kind, let payload):
            Fuzz.check(payload.count <= maxMessage, "message of \(payload.count) bytes")
            if kind == .text {
                Fuzz.check(String(validating: payload, as: UTF8.self) != nil, "invalid UTF-8 delivered")
            }
        case .send(let frame):
            // Our frames are whole, unmasked, and control frames stay within 125 bytes.
            var buffer = ByteBuffer(frame)
            let decoded: WebSocketFrame?
            do { decoded = try client.next(&buffer) } catch { decoded = nil }
            Fuzz.check(decoded != nil && buffer.isEmpty, "a sent frame does not decode alone")
        case .closeTransport:
            Fuzz.check(i == actions.count - 1, "actions after closeTransport")
        case .pongReceived:
            break
        }
    }
}

func checkValidator(_ bytes: [UInt8], split at: Int) {
    let expected = String(validating: bytes, as: UTF8.self) != nil
    var whole = UTF8StreamValidator()
    let wholeOK = whole.feed(bytes) && whole.isAtBoundary
    Fuzz.check(wholeOK == expected, "validator says \(wholeOK), the standard library \(expected)")
    var split = UTF8StreamValidator()
    let firstOK = split.feed(bytes[..<at])
    let splitOK = firstOK && split.feed(bytes[at...]) && split.isAtBoundary
    Fuzz.check(splitOK == expected, "validator split at \(at) says \(splitOK)")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = Fuzz.bytes(data, size)
    let at = Fuzz.splitPoint(bytes)
    let whole = receive([bytes[...]])
    checkActions(whole)
    let split = receive([bytes[..<at], bytes[at...]])
    Fuzz.check(whole == split, "split at \(at) differs:\n\(whole)\nvs\n\(split)")
    checkValidator(bytes, split: at)
    return 0
}

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: FuzzArgc, _ argv: FuzzArgv) -> Int32 {
    Fuzz.writeSeedsIfAsked {
        let key: [UInt8] = [0x37, 0xfa, 0x21, 0x3d]
        func frame(_ op: WebSocketOpcode, _ payload: [UInt8], fin: Bool = true) -> [UInt8] {
            WebSocketFrameEncoder.encode(opcode: op, payload: payload, fin: fin, maskKey: key)
        }
        let euro = Array("price: 3 €, 😀".utf8)
        return [
            frame(.text, Array("Hello".utf8)),
            frame(.binary, Array(0..<200)),
            frame(.text, Array(euro[..<9]), fin: false) + frame(.ping, Array("p".utf8))
                + frame(.continuation, Array(euro[9...])),
            frame(.ping, []) + frame(.pong, Array("x".utf8)),
            frame(.close, WebSocketFrameEncoder.closePayload(code: 1000, reason: "bye")),
            frame(.close, []),
            frame(.text, [0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xed, 0xa0, 0x80]),
            frame(.text, Array(repeating: UInt8(ascii: "a"), count: 300)) + frame(.close, [0x03, 0xe9]),
            frame(.binary, [1, 2], fin: false) + frame(.continuation, [3], fin: false) + frame(.continuation, [4]),
        ]
    }
    return 0
}

/// The executable's entry as SwiftPM links it (see `Fuzz.runDriver`).
@_cdecl("FuzzWebSocket_main")
public func fuzzWebSocketMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    Fuzz.runDriver(argc, argv, fuzz)
}
