import Foundation
import HeraldWire
import Testing
@testable import HeraldClient

/// The WebSocket client against a scripted server: handshake checks, masking, ping/pong,
/// fragments, close.
/// Reads the upgrade request and answers 101 with the right (or a given) accept key.
private func acceptHandshake(_ peer: FakeServer.Peer, _ buffer: inout ByteBuffer, accept: String? = nil) -> String {
    let request = peer.readRequest(&buffer)
    let key = request.split(separator: "\r\n").first { $0.lowercased().hasPrefix("sec-websocket-key:") }
        .map { String($0.split(separator: ":", maxSplits: 1)[1]).trimmingCharacters(in: .whitespaces) } ?? ""
    peer.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: \(accept ?? WebSocketHandshake.acceptKey(for: key))\r\n\r\n")
    return request
}

private func serverFrame(_ opcode: WebSocketOpcode, _ payload: [UInt8], fin: Bool = true) -> [UInt8] {
    WebSocketFrameEncoder.encode(opcode: opcode, payload: payload, fin: fin)
}

@Suite struct WebSocketClientTests {

    @Test func handshakeMessagesPingAndClose() throws {
        let seen = Mutex<[String]>([])
        let server = FakeServer { peer in
            var buffer = ByteBuffer()
            let request = acceptHandshake(peer, &buffer)
            seen.update { $0.append(request) }
            // A ping, then a text message in three fragments with a ping between them, then binary.
            peer.write(serverFrame(.ping, Array("p1".utf8)))
            peer.write(serverFrame(.text, Array("hé".utf8), fin: false) + serverFrame(.continuation, Array("ll".utf8), fin: false))
            peer.write(serverFrame(.ping, Array("p2".utf8)))
            peer.write(serverFrame(.continuation, Array("o".utf8)))
            peer.write(serverFrame(.binary, [1, 2, 3]))
            var decoder = WebSocketFrameDecoder(maxFramePayload: 1 << 20, requireMasked: true)
            // Client frames: two pongs, then its text message, then (after our close) its close.
            for _ in 0..<3 {
                guard let frame = peer.readFrame(&buffer, decoder: &decoder) else { return }
                seen.update { $0.append("\(frame.opcode) \(String(decoding: frame.payload, as: UTF8.self))") }
            }
            peer.write(WebSocketFrameEncoder.closeFrame(code: 1001, reason: "bye"))
            if let frame = peer.readFrame(&buffer, decoder: &decoder) {
                seen.update { $0.append("\(frame.opcode) \(frame.payload.count)") }
            }
        }
        let ws = try WebSocketClient.connect(url: try ClientURL(parsing: "ws://127.0.0.1:\(server.port)/ws?topic=tasks"))
        #expect(try ws.receive(deadline: .after(seconds: 2)) == .text("héllo"))
        #expect(try ws.receive(deadline: .after(seconds: 2)) == .binary([1, 2, 3]))
        try ws.send(text: "{\"op\":\"ping\"}")
        #expect(throws: ClientError.webSocketClosed(code: 1001, reason: "bye")) { _ = try ws.receive(deadline: .after(seconds: 2)) }
        server.finish()
        let log = seen.get()
        #expect(log.count == 5)
        #expect(log.first?.hasPrefix("GET /ws?topic=tasks HTTP/1.1\r\nHost: 127.0.0.1:\(server.port)\r\n") == true)
        #expect(log.first?.contains("\r\nUpgrade: websocket\r\n") == true)
        #expect(log.first?.contains("\r\nConnection: Upgrade\r\n") == true)
        #expect(log.first?.contains("\r\nSec-WebSocket-Version: 13\r\n") == true)
        // The masked frames decoded with requireMasked: every client frame was masked.
        #expect(Array(log.dropFirst()) == ["pong p1", "pong p2", "text {\"op\":\"ping\"}", "close 2"])
    }

    @Test func receiveReturnsNilAtTheDeadlineAndStaysUsable() throws {
        let server = FakeServer { peer in
            var buffer = ByteBuffer()
            _ = acceptHandshake(peer, &buffer)
            let frame = serverFrame(.text, Array("late".utf8))
            peer.write(Array(frame.prefix(3)))
            usleep(300_000)
            peer.write(Array(frame.dropFirst(3)))
            usleep(100_000)
        }
        let ws = try WebSocketClient.connect(url: try ClientURL(parsing: "ws://127.0.0.1:\(server.port)/"))
        #expect(try ws.receive(deadline: .after(seconds: 0.1)) == nil)
        #expect(try ws.receive(deadline: .after(seconds: 2)) == .text("late"))
        server.finish()
    }

    @Test func wrongAcceptKeyFailsTheHandshake() throws {
        let server = FakeServer { peer in
            var buffer = ByteBuffer()
            _ = acceptHandshake(peer, &buffer, accept: "AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
        }
        #expect(throws: ClientError.handshakeFailed("Sec-WebSocket-Accept does not match the key we sent")) {
            _ = try WebSocketClient.connect(url: try ClientURL(parsing: "ws://127.0.0.1:\(server.port)/"))
        }
        server.finish()
    }

    @Test func aRefusedUpgradeCarriesTheServersAnswer() throws {
        let server = FakeServer { peer in
            var buffer = ByteBuffer()
            _ = peer.readRequest(&buffer)
            let body = "{\"error\":{\"code\":\"not_found\",\"message\":\"no\"}}"
            peer.write("HTTP/1.1 404 Not Found\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        }
        #expect(throws: ClientError.handshakeFailed("HTTP 404: {\"error\":{\"code\":\"not_found\",\"message\":\"no\"}}")) {
            _ = try WebSocketClient.connect(url: try ClientURL(parsing: "ws://127.0.0.1:\(server.port)/"))
        }
        server.finish()
    }

    @Test func invalidUTF8TextFailsWith1007() throws {
        let closeCode = Mutex<UInt16?>(nil)
        let server = FakeServer { peer in
            var buffer = ByteBuffer()
            _ = acceptHandshake(peer, &buffer)
            peer.write(serverFrame(.text, [0x68, 0xC3]))
            var decoder = WebSocketFrameDecoder(maxFramePayload: 1 << 20)
            if let frame = peer.readFrame(&buffer, decoder: &decoder), frame.opcode == .close {
                closeCode.set(UInt16(frame.payload[0]) << 8 | UInt16(frame.payload[1]))
            }
        }
        let ws = try WebSocketClient.connect(url: try ClientURL(parsing: "ws://127.0.0.1:\(server.port)/"))
        #expect(throws: ClientError.webSocketProtocol(code: 1007, reason: "text message is not UTF-8")) {
            _ = try ws.receive(deadline: .after(seconds: 2))
        }
        server.finish()
        #expect(closeCode.get() == 1007)
    }

    @Test func eofWithoutCloseFrameIsReported() throws {
        let server = FakeServer { peer in
            var buffer = ByteBuffer()
            _ = acceptHandshake(peer, &buffer)
        }
        let ws = try WebSocketClient.connect(url: try ClientURL(parsing: "ws://127.0.0.1:\(server.port)/"))
        server.finish()
        #expect(throws: ClientError.connectionClosed("by ws://127.0.0.1:\(server.port) without a WebSocket close frame")) {
            _ = try ws.receive(deadline: .after(seconds: 2))
        }
    }

    @Test func framesThatArriveWithThe101AreNotLost() throws {
        let server = FakeServer { peer in
            var buffer = ByteBuffer()
            let request = peer.readRequest(&buffer)
            let key = request.split(separator: "\r\n").first { $0.lowercased().hasPrefix("sec-websocket-key:") }
                .map { String($0.split(separator: ":", maxSplits: 1)[1]).trimmingCharacters(in: .whitespaces) } ?? ""
            peer.write(Array("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: \(WebSocketHandshake.acceptKey(for: key))\r\n\r\n".utf8)
                + serverFrame(.text, Array("snapshot".utf8)))
            usleep(100_000)
        }
        let ws = try WebSocketClient.connect(url: try ClientURL(parsing: "ws://127.0.0.1:\(server.port)/"))
        #expect(try ws.receive(deadline: .after(seconds: 2)) == .text("snapshot"))
        server.finish()
    }
}
