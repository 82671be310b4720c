import HeraldTestSupport
import Testing
@testable import HeraldWire

/// Frames too large for one travel as fragments: the encoder splits, the decoder reassembles.
@Suite struct BrokerFrameFragmentTests {
    typealias Feed = BrokerFrameFeed

    /// An events frame whose body (type byte + payload) is exactly `body` bytes, in a pattern of
    /// prime period, so pieces dropped, doubled or swapped do not line up again.
    static func events(body: Int) -> BrokerFrame {
        .events(payload: pattern(count: body - 1))
    }

    static func pattern(count: Int) -> [UInt8] {
        // Built from a prime-length block by doubling, so 40 MiB costs a few copies, not a loop
        // per byte in a debug build.
        var out = (0..<4093).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ $0 >> 8) }
        while out.count < count { out += out }
        return Array(out[..<count])
    }

    /// A fragment frame as the wire carries it.
    static func fragment(last: Bool, _ piece: [UInt8]) -> [UInt8] {
        Feed.raw(type: BrokerFrameType.fragment.rawValue, [last ? 1 : 0] + piece)
    }

    /// Feeds `bytes` in `chunk`-sized pieces (the last may be shorter).
    static func decode(_ bytes: [UInt8], chunk: Int) -> (outcome: BrokerDecodeOutcome, left: Int) {
        let chunks = stride(from: 0, to: bytes.count, by: chunk).map { Array(bytes[$0..<min($0 + chunk, bytes.count)]) }
        return Feed.decode(chunks, maxFrameBytes: BrokerFrame.maxFrameBytes)
    }

    // MARK: - Limits

    @Test func theDefaultsAre1MiBFragmentsAnd1GiBMessages() {
        #expect(BrokerFrame.maxFragmentBytes == 1024 * 1024)
        #expect(BrokerFrame.maxMessageBytes == 1024 * 1024 * 1024)
        #expect(BrokerFrameDecoder().maxMessageBytes == 1024 * 1024 * 1024)
        // A fragment frame of the default size is far under the default frame limit.
        #expect(BrokerFrame.maxFragmentBytes + BrokerFrame.fragmentHeaderBytes < BrokerFrame.maxFrameBytes)
    }

    @Test(arguments: [-1, 0, 1])
    func framesAroundTheFragmentSizeRoundTrip(_ offset: Int) {
        let size = BrokerFrame.maxFragmentBytes
        let frame = Self.events(body: size + offset)
        let bytes = BrokerFrameEncoder.encode(frame)
        #expect(bytes.count == BrokerFrameEncoder.encodedLength(of: frame))
        if offset <= 0 {
            // At or under the fragment size: one whole frame, as before fragments existed.
            #expect(Array(bytes[0..<5]) == Feed.prefix(size + offset) + [BrokerFrameType.events.rawValue])
        } else {
            // One byte over: a full piece, then a last piece of one byte.
            #expect(Array(bytes[0..<7]) == Feed.prefix(size + 2) + [9, 0, BrokerFrameType.events.rawValue])
            #expect(Array(bytes[(4 + size + 2)...]) == Feed.prefix(3) + [9, 1, bytes.last!])
        }
        for chunk in [bytes.count, 64 * 1024, 65_521] {
            let (outcome, left) = Self.decode(bytes, chunk: chunk)
            #expect(outcome == BrokerDecodeOutcome(frames: [frame]), "chunks of \(chunk)")
            #expect(left == 0)
        }
    }

    @Test func aFortyMiBOutputsFrameRoundTripsIn64KiBChunks() {
        // A tasks topic snapshot of ~100,000 tasks is ~43 MiB; 40 MiB is past the 16 MiB
        // frame limit by the same margin.
        let frame = BrokerFrame.outputs(batchID: 77, payload: Self.pattern(count: 40 * 1024 * 1024))
        let bytes = BrokerFrameEncoder.encode(frame)
        #expect(bytes.count == 40 * 1024 * 1024 + 9 + 41 * 6)  // 41 pieces of ≤ 1 MiB, 6 bytes of headers each
        let (outcome, left) = Self.decode(bytes, chunk: 64 * 1024)
        #expect(outcome.error == nil)
        #expect(outcome.frames.count == 1)
        #expect(outcome.frames.first == frame)
        #expect(left == 0)
    }

    @Test func theMessageCapIsAcceptedAtTheLimit() {
        let frame = Self.events(body: 100)
        let bytes = BrokerFrameEncoder.encode(frame, fragmentBytes: 16)
        #expect(Feed.decodeEverySplit(bytes, maxMessageBytes: 100) == BrokerDecodeOutcome(frames: [frame]))
    }

    @Test func oneBytePastTheMessageCapIsAnError() {
        let bytes = BrokerFrameEncoder.encode(Self.events(body: 101), fragmentBytes: 16)
        #expect(Feed.decodeEverySplit(bytes, maxMessageBytes: 100) == BrokerDecodeOutcome(error: BrokerFrameError("fragmented frame exceeds 100 bytes")))
    }

    @Test func thePieceThatPassesTheCapFailsBeforeItIsBuffered() throws {
        // 96 body bytes in six unfinished pieces, then only the length and type of a 5-byte
        // piece (96 + 5 > 100): the error comes before its piece is read.
        var buffer = ByteBuffer(Self.fragment(last: false, [6] + Array(repeating: 0, count: 15)))
        for _ in 0..<5 { buffer.append(contentsOf: Self.fragment(last: false, Array(repeating: 0, count: 16))) }
        var decoder = BrokerFrameDecoder(maxMessageBytes: 100)
        #expect(try decoder.next(&buffer) == nil)
        #expect(buffer.isEmpty)
        buffer.append(contentsOf: Feed.prefix(2 + 5) + [9])
        #expect(throws: BrokerFrameError("fragmented frame exceeds 100 bytes")) { try decoder.next(&buffer) }
    }

    // MARK: - Splits

    @Test(arguments: BrokerFrameSamples.all)
    func everySampleRoundTripsInThreeBytePiecesInEverySplit(_ frame: BrokerFrame) {
        let bytes = BrokerFrameEncoder.encode(frame, fragmentBytes: 3)
        #expect(bytes.count == BrokerFrameEncoder.encodedLength(of: frame, fragmentBytes: 3))
        #expect(Feed.decodeEverySplit(bytes) == BrokerDecodeOutcome(frames: [frame]))
    }

    @Test func everyFragmentSizeRoundTripsInEverySplit() {
        let frame = BrokerFrame.hello(version: 2, processName: "wörker ✓ 3", lastSeq: 41_872, epoch: "e-01HZX3K9")
        let body = BrokerFrameEncoder.bodyLength(of: frame)
        for size in 1...(body + 1) {
            let bytes = BrokerFrameEncoder.encode(frame, fragmentBytes: size)
            let pieces = (body + size - 1) / size
            #expect(bytes.count == (size >= body ? 4 + body : body + 6 * pieces), "size \(size)")
            #expect(Feed.decodeEverySplit(bytes) == BrokerDecodeOutcome(frames: [frame]), "size \(size)")
        }
    }

    @Test func fragmentedAndWholeFramesBackToBackDecodeInOrder() {
        var bytes: [UInt8] = []
        for (i, frame) in BrokerFrameSamples.all.enumerated() {
            // Alternate whole and fragmented, so a frame follows the end of a fragmented one.
            BrokerFrameEncoder.encode(frame, into: &bytes, fragmentBytes: i.isMultiple(of: 2) ? 5 : 1024)
        }
        #expect(Feed.decodeEverySplit(bytes) == BrokerDecodeOutcome(frames: BrokerFrameSamples.all))
    }

    @Test func fragmentsHaveTheDocumentedWireLayout() {
        // Body [6, 1, 2, 3, 4] in pieces of 2: the concatenated pieces are the body.
        #expect(BrokerFrameEncoder.encode(.events(payload: [1, 2, 3, 4]), fragmentBytes: 2) == [
            0, 0, 0, 4, 9, 0, 6, 1,
            0, 0, 0, 4, 9, 0, 2, 3,
            0, 0, 0, 3, 9, 1, 4,
        ])
    }

    @Test func completeFragmentsLeaveTheInputAsTheyArrive() throws {
        let bytes = BrokerFrameEncoder.encode(.events(payload: [1, 2, 3, 4]), fragmentBytes: 2)
        var decoder = BrokerFrameDecoder()
        var buffer = ByteBuffer(bytes[..<10])  // the first fragment and 2 bytes of the second
        #expect(try decoder.next(&buffer) == nil)
        #expect(buffer.readableBytes == 2)
        buffer.append(contentsOf: bytes[10...])
        #expect(try decoder.next(&buffer) == .events(payload: [1, 2, 3, 4]))
        #expect(buffer.isEmpty)
    }

    @Test func aSingleLastFragmentIsAWholeFrame() {
        let bytes = Self.fragment(last: true, [7] + Feed.u64(5))
        #expect(Feed.decodeEverySplit(bytes) == BrokerDecodeOutcome(frames: [.ping(token: 5)]))
    }

    // MARK: - Errors

    @Test func aFrameBetweenFragmentsIsAnError() {
        let pong = BrokerFrame.pong(token: 1, seq: 2)
        let bytes = BrokerFrameEncoder.encode(pong) + Self.fragment(last: false, [7, 0, 0]) + BrokerFrameEncoder.encode(.ping(token: 1))
        #expect(Feed.decodeEverySplit(bytes) == BrokerDecodeOutcome(
            frames: [pong], error: BrokerFrameError("ping frame arrived inside an unfinished fragmented frame")))
    }

    @Test func aFragmentedFragmentIsAnError() {
        let nested = BrokerFrameError("fragmented frame's body is itself a fragment (fragments do not nest)")
        let inner = Self.fragment(last: true, [7] + Feed.u64(5))
        // The body would be a whole fragment frame's body; it fails at its first byte, without
        // waiting for the rest.
        let bytes = Self.fragment(last: false, Array(inner[4..<6])) + Self.fragment(last: true, Array(inner[6...]))
        #expect(Feed.decodeEverySplit(bytes) == BrokerDecodeOutcome(error: nested))
        #expect(Feed.decodeEverySplit(Self.fragment(last: false, Array(inner[4..<6]))) == BrokerDecodeOutcome(error: nested))
        // The same when the first piece is empty and the type byte comes with the second.
        let late = Self.fragment(last: false, []) + Self.fragment(last: true, Array(inner[4...]))
        #expect(Feed.decodeEverySplit(late) == BrokerDecodeOutcome(error: nested))
    }

    @Test func anEmptyFragmentedFrameIsAnError() {
        let empty = BrokerFrameError("fragmented frame of 0 bytes (a frame has at least its type byte)")
        #expect(Feed.decodeEverySplit(Self.fragment(last: true, [])) == BrokerDecodeOutcome(error: empty))
        let twoEmptyPieces = Self.fragment(last: false, []) + Self.fragment(last: true, [])
        #expect(Feed.decodeEverySplit(twoEmptyPieces) == BrokerDecodeOutcome(error: empty))
    }

    @Test func anUnknownTypeInAFragmentedFrameIsAnError() {
        let unknown = BrokerFrameError("unknown frame type 42 in a fragmented frame")
        let bytes = Self.fragment(last: false, [42, 1]) + Self.fragment(last: true, [2])
        #expect(Feed.decodeEverySplit(bytes) == BrokerDecodeOutcome(error: unknown))
        // Found at the first piece, before the rest is buffered.
        #expect(Feed.decodeEverySplit(Self.fragment(last: false, [42, 1])) == BrokerDecodeOutcome(error: unknown))
    }

    @Test func aBadLastFlagIsAnError() {
        #expect(Feed.decodeEverySplit(Feed.raw(type: 9, [])).error == BrokerFrameError("fragment frame ends inside its last flag"))
        #expect(Feed.decodeEverySplit(Feed.raw(type: 9, [2, 6])).error == BrokerFrameError("fragment frame's last flag is not a boolean"))
    }

    @Test func fieldErrorsInAReassembledFrameNameItsType() {
        let bytes = Self.fragment(last: false, [7, 0, 0]) + Self.fragment(last: true, [0, 0])
        #expect(Feed.decodeEverySplit(bytes).error == BrokerFrameError("ping frame ends inside its token"))
    }
}
