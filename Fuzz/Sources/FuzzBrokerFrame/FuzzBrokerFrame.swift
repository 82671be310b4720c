import FuzzSupport
import HeraldWire

// BrokerFrameDecoder (the broker ↔ server protocol): bytes fed whole and in two pieces give
// the same frames and the same error; every frame re-encodes (fragmented small, so the
// reassembly runs too) and decodes back equal; nothing past the last frame is consumed.
// Small limits, so inputs reach them.
let maxFrame = 512
let maxMessage = 2048

struct Outcome: Equatable {
    var frames: [BrokerFrame] = []
    var error: BrokerFrameError?
}

func decode(_ pieces: [ArraySlice<UInt8>]) -> Outcome {
    var decoder = BrokerFrameDecoder(maxFrameBytes: maxFrame, maxMessageBytes: maxMessage)
    var buffer = ByteBuffer()
    var out = Outcome()
    for piece in pieces {
        buffer.append(contentsOf: piece)
        do {
            while let frame = try decoder.next(&buffer) { out.frames.append(frame) }
        } catch {
            Fuzz.check(decoder.failure == error, "failure not kept")
            out.error = error
            break
        }
    }
    return out
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = Fuzz.bytes(data, size)
    let whole = decode([bytes[...]])
    let at = Fuzz.splitPoint(bytes)
    let split = decode([bytes[..<at], bytes[at...]])
    Fuzz.check(whole == split, "split at \(at) differs:\n\(whole)\nvs\n\(split)")
    for frame in whole.frames {
        let encoded = BrokerFrameEncoder.encode(frame, fragmentBytes: 64)
        Fuzz.check(encoded.count == BrokerFrameEncoder.encodedLength(of: frame, fragmentBytes: 64), "encodedLength")
        var decoder = BrokerFrameDecoder(maxFrameBytes: maxFrame, maxMessageBytes: maxMessage)
        var buffer = ByteBuffer(encoded)
        let again = try? decoder.next(&buffer)
        Fuzz.check(again == frame && buffer.isEmpty, "re-encoded \(frame) decodes as \(String(describing: again))")
    }
    return 0
}

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: FuzzArgc, _ argv: FuzzArgv) -> Int32 {
    Fuzz.writeSeedsIfAsked {
        let frames: [BrokerFrame] = [
            .hello(version: BrokerFrame.protocolVersion, processName: "herald-1", lastSeq: 42, epoch: "e-1"),
            .welcome(version: BrokerFrame.protocolVersion, epoch: "e-1", currentSeq: 50, resumed: true),
            .refuse(reason: "protocol version 2 is not 3"),
            .requests(batchID: 7, payload: [0, 0, 0, 1, 3, 0, 0, 0, 1, 0x61]),
            .outputs(batchID: 7, payload: Array("{\"id\":\"a\"}".utf8)),
            .events(payload: Array(repeating: 0xab, count: 100)),
            .ping(token: 1), .pong(token: 1, seq: 50),
        ]
        var seeds = frames.map { BrokerFrameEncoder.encode($0) }
        seeds.append(frames.flatMap { BrokerFrameEncoder.encode($0) })
        // Fragmented: a 300-byte events frame in 64-byte pieces.
        seeds.append(BrokerFrameEncoder.encode(.events(payload: Array(repeating: 7, count: 300)), fragmentBytes: 64))
        return seeds
    }
    return 0
}

/// The executable's entry as SwiftPM links it (see `Fuzz.runDriver`).
@_cdecl("FuzzBrokerFrame_main")
public func fuzzBrokerFrameMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    Fuzz.runDriver(argc, argv, fuzz)
}
