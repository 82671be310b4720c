import HeraldTestSupport
import Testing
@testable import HeraldWire

/// Shared by the broker frame suites: sample frames and a decoder driven through every split.
enum BrokerFrameSamples {
    /// One or more of every frame type but fragment (the codec's own), with edge values: empty strings and payloads, non-ASCII
    /// text, zero and maximal integers.
    static let all: [BrokerFrame] = [
        .hello(version: BrokerFrame.protocolVersion, processName: "herald worker 3", lastSeq: 41_872, epoch: "e-01HZX3K9"),
        .hello(version: 0, processName: "", lastSeq: 0, epoch: ""),
        .hello(version: .max, processName: "wörker ✓ 🚀", lastSeq: .max, epoch: "ép"),
        .welcome(version: BrokerFrame.protocolVersion, epoch: "e-01HZX3K9", currentSeq: 41_900, resumed: true),
        .welcome(version: 1, epoch: "", currentSeq: 0, resumed: false),
        .refuse(reason: "protocol version 2 is not 1"),
        .refuse(reason: ""),
        .requests(batchID: 7, payload: Array(#"[{"op":"progress","id":"t1","done":5}]"#.utf8)),
        .requests(batchID: .max, payload: []),
        .outputs(batchID: 7, payload: [0, 1, 2, 0xFF, 0xC0, 0x80]),
        .outputs(batchID: 0, payload: []),
        .events(payload: Array(#"{"type":"progress","seq":9}"#.utf8)),
        .events(payload: []),
        .ping(token: 0x0102_0304_0506_0708),
        .pong(token: 0x0102_0304_0506_0708, seq: 41_900),
        .ping(token: 0),
        .pong(token: .max, seq: 0),
        .outputs(batchID: 3, payload: (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }),
    ]
}

/// What a decoder made of a byte stream: the frames, then the error that stopped it, if any.
struct BrokerDecodeOutcome: Equatable {
    var frames: [BrokerFrame] = []
    var error: BrokerFrameError?
}

enum BrokerFrameFeed {
    /// Feeds `chunks` one at a time, taking every frame each makes available, until an error.
    static func decode(
        _ chunks: [[UInt8]], maxFrameBytes: Int, maxMessageBytes: Int = BrokerFrame.maxMessageBytes
    ) -> (outcome: BrokerDecodeOutcome, left: Int) {
        var decoder = BrokerFrameDecoder(maxFrameBytes: maxFrameBytes, maxMessageBytes: maxMessageBytes)
        var buffer = ByteBuffer()
        var outcome = BrokerDecodeOutcome()
        do {
            for chunk in chunks {
                buffer.append(contentsOf: chunk)
                while let frame = try decoder.next(&buffer) { outcome.frames.append(frame) }
            }
        } catch {
            outcome.error = error
        }
        return (outcome, buffer.readableBytes)
    }

    /// Every split (whole, byte by byte, seeded random) must give the same outcome, which is
    /// returned; without an error, every byte must have been consumed.
    static func decodeEverySplit(
        _ bytes: [UInt8], maxFrameBytes: Int = BrokerFrame.maxFrameBytes,
        maxMessageBytes: Int = BrokerFrame.maxMessageBytes, sourceLocation: SourceLocation = #_sourceLocation
    ) -> BrokerDecodeOutcome {
        var first: BrokerDecodeOutcome?
        for (label, chunks) in FeedSplits.all(bytes) {
            let (outcome, left) = decode(chunks, maxFrameBytes: maxFrameBytes, maxMessageBytes: maxMessageBytes)
            if outcome.error == nil {
                #expect(left == 0, "\(label): \(left) bytes left over", sourceLocation: sourceLocation)
            }
            if let first {
                #expect(outcome == first, "\(label) differs from a whole feed", sourceLocation: sourceLocation)
            } else {
                first = outcome
            }
        }
        return first!
    }

    /// A frame with any type byte and payload, length computed.
    static func raw(type: UInt8, _ payload: [UInt8]) -> [UInt8] {
        prefix(payload.count + 1) + [type] + payload
    }

    static func prefix(_ length: Int) -> [UInt8] {
        (0..<4).map { UInt8(truncatingIfNeeded: length >> (8 * (3 - $0))) }
    }

    static func u16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xFF)] }
    static func u32(_ v: Int) -> [UInt8] { prefix(v) }
    static func u64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * (7 - UInt64($0)))) } }
    static func string(_ bytes: [UInt8]) -> [UInt8] { u32(bytes.count) + bytes }
}

@Suite struct BrokerFrameDecoderTests {
    typealias Feed = BrokerFrameFeed

    @Test(arguments: BrokerFrameSamples.all)
    func everyFrameTypeRoundTripsInEverySplit(_ frame: BrokerFrame) {
        let bytes = BrokerFrameEncoder.encode(frame)
        let outcome = Feed.decodeEverySplit(bytes)
        #expect(outcome == BrokerDecodeOutcome(frames: [frame]))
    }

    @Test func everyTypeHasASample() {
        #expect(Set(BrokerFrameSamples.all.map(\.type)) == Set(BrokerFrameType.allCases).subtracting([.fragment]))
    }

    @Test func framesBackToBackInOneBufferDecodeInOrder() {
        var bytes: [UInt8] = []
        for frame in BrokerFrameSamples.all { BrokerFrameEncoder.encode(frame, into: &bytes) }
        let outcome = Feed.decodeEverySplit(bytes)
        #expect(outcome == BrokerDecodeOutcome(frames: BrokerFrameSamples.all))
    }

    @Test func eachCallConsumesExactlyOneFrame() throws {
        let a = BrokerFrame.ping(token: 1), b = BrokerFrame.events(payload: [1, 2, 3])
        var buffer = ByteBuffer(BrokerFrameEncoder.encode(a) + BrokerFrameEncoder.encode(b))
        var decoder = BrokerFrameDecoder()
        #expect(try decoder.next(&buffer) == a)
        #expect(buffer.readableBytes == BrokerFrameEncoder.encodedLength(of: b))
        #expect(try decoder.next(&buffer) == b)
        #expect(buffer.isEmpty)
        #expect(try decoder.next(&buffer) == nil)
    }

    @Test func anIncompleteFrameReturnsNilAndConsumesNothing() throws {
        let bytes = BrokerFrameEncoder.encode(.hello(version: 1, processName: "w1", lastSeq: 5, epoch: "e"))
        var decoder = BrokerFrameDecoder()
        for cut in 0..<bytes.count {
            var buffer = ByteBuffer(bytes[..<cut])
            #expect(try decoder.next(&buffer) == nil)
            #expect(buffer.readableBytes == cut)
        }
    }

    @Test func framesBeforeAnErrorAreDeliveredThenTheError() {
        let good = BrokerFrame.pong(token: 9, seq: 3)
        let bytes = BrokerFrameEncoder.encode(good) + Feed.raw(type: 42, []) + BrokerFrameEncoder.encode(good)
        let outcome = Feed.decodeEverySplit(bytes)
        #expect(outcome == BrokerDecodeOutcome(frames: [good], error: BrokerFrameError("unknown frame type 42")))
    }

    @Test func afterAnErrorEveryCallThrowsAgain() {
        var decoder = BrokerFrameDecoder()
        var bad = ByteBuffer(Feed.prefix(0))
        #expect(throws: BrokerFrameError.self) { try decoder.next(&bad) }
        #expect(decoder.failure != nil)
        var good = ByteBuffer(BrokerFrameEncoder.encode(.ping(token: 1)))
        #expect(throws: decoder.failure!) { try decoder.next(&good) }
        #expect(throws: decoder.failure!) { try decoder.next(&good) }
        #expect(good.readableBytes == 13)
    }

    // MARK: - Length limits

    @Test func lengthExactlyAtTheLimitIsAccepted() {
        let frame = BrokerFrame.events(payload: [UInt8](repeating: 0xAB, count: 1023))  // N = 1 + 1023
        let outcome = Feed.decodeEverySplit(BrokerFrameEncoder.encode(frame), maxFrameBytes: 1024)
        #expect(outcome == BrokerDecodeOutcome(frames: [frame]))
    }

    @Test func lengthOnePastTheLimitIsAnError() {
        let frame = BrokerFrame.events(payload: [UInt8](repeating: 0xAB, count: 1024))  // N = 1025
        let outcome = Feed.decodeEverySplit(BrokerFrameEncoder.encode(frame), maxFrameBytes: 1024)
        #expect(outcome == BrokerDecodeOutcome(error: BrokerFrameError("frame of 1025 bytes exceeds the limit of 1024")))
    }

    @Test func anOversizedLengthFailsBeforeAnyPayloadIsBuffered() {
        var decoder = BrokerFrameDecoder(maxFrameBytes: 1024)
        var buffer = ByteBuffer(Feed.prefix(1025))
        #expect(throws: BrokerFrameError("frame of 1025 bytes exceeds the limit of 1024")) { try decoder.next(&buffer) }

        var huge = BrokerFrameDecoder()
        var hugeBuffer = ByteBuffer([0xFF, 0xFF, 0xFF, 0xFF])
        #expect(throws: BrokerFrameError.self) { try huge.next(&hugeBuffer) }
    }

    @Test func theDefaultLimitIs16MiB() throws {
        #expect(BrokerFrame.maxFrameBytes == 16 * 1024 * 1024)
        #expect(BrokerFrameDecoder().maxFrameBytes == 16 * 1024 * 1024)
        // At the default limit the decoder waits for the payload; one past, it fails at once.
        var atLimit = BrokerFrameDecoder()
        var buffer = ByteBuffer(Feed.prefix(16 * 1024 * 1024) + [BrokerFrameType.events.rawValue])
        #expect(try atLimit.next(&buffer) == nil)
        var pastLimit = BrokerFrameDecoder()
        var past = ByteBuffer(Feed.prefix(16 * 1024 * 1024 + 1))
        #expect(throws: BrokerFrameError("frame of 16777217 bytes exceeds the limit of 16777216")) { try pastLimit.next(&past) }
    }

    @Test func zeroLengthIsAnError() {
        let outcome = Feed.decodeEverySplit(Feed.prefix(0) + BrokerFrameEncoder.encode(.ping(token: 1)))
        #expect(outcome == BrokerDecodeOutcome(error: BrokerFrameError("frame length 0 (a frame has at least its type byte)")))
    }

    // MARK: - Types and fields

    @Test(arguments: [0, 10, 0x7F, 0xFF] as [UInt8])
    func unknownTypeIsAnErrorBeforeItsPayloadArrives(_ type: UInt8) {
        var decoder = BrokerFrameDecoder()
        // Only the prefix and the type byte of a 100-byte frame.
        var buffer = ByteBuffer(Feed.prefix(100) + [type])
        #expect(throws: BrokerFrameError("unknown frame type \(type)")) { try decoder.next(&buffer) }
    }

    @Test func truncatedStringFieldsAreErrors() {
        // The epoch claims 10 bytes, 3 follow.
        let hello = Feed.u16(1) + Feed.string(Array("w1".utf8)) + Feed.u64(5) + Feed.u32(10) + Array("abc".utf8)
        #expect(Feed.decodeEverySplit(Feed.raw(type: 1, hello)).error == BrokerFrameError("hello frame ends inside its epoch"))
        // The epoch's length itself is cut.
        let cutLength = Feed.u16(1) + Feed.string(Array("w1".utf8)) + Feed.u64(5) + [0, 0]
        #expect(Feed.decodeEverySplit(Feed.raw(type: 1, cutLength)).error == BrokerFrameError("hello frame ends inside its epoch"))
        let name = Feed.u16(1) + Feed.u32(0xFFFF_FFFF)
        #expect(Feed.decodeEverySplit(Feed.raw(type: 1, name)).error == BrokerFrameError("hello frame ends inside its process name"))
        let refuse = Feed.u32(5) + Array("nope".utf8)
        #expect(Feed.decodeEverySplit(Feed.raw(type: 3, refuse)).error == BrokerFrameError("refuse frame ends inside its reason"))
        #expect(Feed.decodeEverySplit(Feed.raw(type: 3, [])).error == BrokerFrameError("refuse frame ends inside its reason"))
    }

    @Test func truncatedIntegerFieldsAreErrors() {
        let cases: [(UInt8, [UInt8], String)] = [
            (1, [0], "hello frame ends inside its version"),
            (1, Feed.u16(1) + Feed.string(Array("w".utf8)) + [1, 2, 3, 4, 5, 6, 7], "hello frame ends inside its last seq"),
            (2, Feed.u16(1) + Feed.string(Array("e".utf8)) + [9], "welcome frame ends inside its current seq"),
            (4, [1, 2, 3], "requests frame ends inside its batch id"),
            (5, [], "outputs frame ends inside its batch id"),
            (7, [1, 2, 3, 4, 5, 6, 7], "ping frame ends inside its token"),
            (8, [], "pong frame ends inside its token"),
            (8, [0, 0, 0, 0, 0, 0, 0, 9, 1], "pong frame ends inside its seq"),
            (2, Feed.u16(2) + Feed.string(Array("e".utf8)) + Feed.u64(5), "welcome frame ends inside its resumed"),
        ]
        for (type, payload, message) in cases {
            #expect(Feed.decodeEverySplit(Feed.raw(type: type, payload)).error == BrokerFrameError(message))
        }
    }

    @Test(arguments: [
        [0xC0, 0x80],          // overlong NUL
        [0xED, 0xA0, 0x80],    // surrogate U+D800
        [0x61, 0xFF],          // byte never valid
        [0xE2, 0x82],          // a character cut at the end of the string
        [0x80],                // stray continuation byte
        [0xF4, 0x90, 0x80, 0x80],  // above U+10FFFF
    ] as [[UInt8]])
    func invalidUTF8InAStringIsAnError(_ bad: [UInt8]) {
        let hello = Feed.u16(1) + Feed.string(bad) + Feed.u64(5) + Feed.string([])
        #expect(Feed.decodeEverySplit(Feed.raw(type: 1, hello)).error == BrokerFrameError("hello frame's process name is not valid UTF-8"))
        let welcome = Feed.u16(1) + Feed.string(bad) + Feed.u64(5) + [1]
        #expect(Feed.decodeEverySplit(Feed.raw(type: 2, welcome)).error == BrokerFrameError("welcome frame's epoch is not valid UTF-8"))
        #expect(Feed.decodeEverySplit(Feed.raw(type: 3, Feed.string(bad))).error == BrokerFrameError("refuse frame's reason is not valid UTF-8"))
    }

    @Test func trailingGarbageInAHelloIsAnError() {
        var bytes = BrokerFrameEncoder.encode(.hello(version: 1, processName: "w1", lastSeq: 5, epoch: "e"))
        bytes.append(0)
        bytes[3] += 1  // the length now covers the extra byte
        #expect(Feed.decodeEverySplit(bytes).error == BrokerFrameError("hello frame has 1 trailing bytes after its last field"))
    }

    @Test func trailingBytesInOtherFixedLayoutFramesAreErrors() {
        let cases: [(UInt8, [UInt8], String)] = [
            (2, Feed.u16(1) + Feed.string([]) + Feed.u64(0) + [1, 1, 2], "welcome frame has 2 trailing bytes after its last field"),
            (2, Feed.u16(1) + Feed.string([]) + Feed.u64(0) + [2], "welcome frame's resumed is not a boolean"),
            (3, Feed.string(Array("no".utf8)) + [0], "refuse frame has 1 trailing bytes after its last field"),
            (7, Feed.u64(1) + [0], "ping frame has 1 trailing bytes after its last field"),
            (8, Feed.u64(1) + Feed.u64(2) + [0, 0, 0], "pong frame has 3 trailing bytes after its last field"),
        ]
        for (type, payload, message) in cases {
            #expect(Feed.decodeEverySplit(Feed.raw(type: type, payload)).error == BrokerFrameError(message))
        }
    }

    @Test func opaquePayloadsRunToTheEndOfTheFrame() {
        let payload: [UInt8] = [0, 0, 0, 9, 0xFF, 0xC0]
        let bytes = Feed.raw(type: 4, Feed.u64(3) + payload) + Feed.raw(type: 6, payload) + Feed.raw(type: 5, Feed.u64(4) + payload)
        #expect(Feed.decodeEverySplit(bytes) == BrokerDecodeOutcome(frames: [
            .requests(batchID: 3, payload: payload), .events(payload: payload), .outputs(batchID: 4, payload: payload),
        ]))
    }
}
