import HeraldTestSupport
import Testing
@testable import HeraldWire

// The feeding harness the HTTPRequestParser*Tests share, and tests that it can fail.

/// Events with consecutive body pieces joined, so every way of splitting the input compares equal.
enum HTTPCollected: Equatable, CustomStringConvertible {
    case head(HTTPRequestHead)
    case body([UInt8])
    case end

    var description: String {
        switch self {
        case .head(let h): "head(\(h.method) \(h.target) \(h.version))"
        case .body(let b): "body(\(b.count) bytes)"
        case .end: "end"
        }
    }
}

/// What feeding one chunking of the input produced.
struct HTTPParserRun {
    var events: [HTTPCollected] = []
    var error: HTTPParseError?
    /// Bytes never consumed: what was left in the buffer plus chunks not fed.
    var leftover: [UInt8] = []
    var sawEmptyBody = false
}

enum HTTPParserHarness {
    /// Feeds `chunks` one at a time, draining events after each. With `stopAfterEnds`, stops
    /// calling the parser after that many `.end`s, as a server does after an upgrade request.
    static func run(
        _ chunks: [[UInt8]], limits: HTTPParserLimits = .default, stopAfterEnds: Int? = nil
    ) -> HTTPParserRun {
        var parser = HTTPRequestParser(limits: limits)
        var out = HTTPParserRun()
        var ends = 0
        var fed = feed(chunks, to: &parser, stop: { stopAfterEnds.map { ends >= $0 } ?? false }) { event, _ in
            switch event {
            case .head(let head):
                out.events.append(.head(head))
            case .body(let piece):
                if piece.isEmpty { out.sawEmptyBody = true }
                // Appends in place (no copy per piece), so a 1 MiB body fed byte by byte stays linear.
                if case .body = out.events.last, case .body(var sofar) = out.events.removeLast() {
                    sofar.append(contentsOf: piece)
                    out.events.append(.body(sofar))
                } else {
                    out.events.append(.body(piece))
                }
            case .end:
                out.events.append(.end)
                ends += 1
            }
        }
        out.error = fed.error
        out.leftover = fed.buffer.readAll() + chunks[fed.chunksFed...].flatMap { $0 }
        return out
    }

    /// The feeding loop itself: each chunk appended, then events drained (`onEvent` gets each
    /// with the bytes consumed so far) until the parser needs more, it throws, or `stop` says
    /// so before the next call. Returns the error, the buffer, how many chunks were appended,
    /// and the bytes consumed in all.
    static func feed(
        _ chunks: [[UInt8]], to parser: inout HTTPRequestParser, stop: () -> Bool = { false },
        onEvent: (HTTPParserEvent, Int) -> Void
    ) -> (error: HTTPParseError?, buffer: ByteBuffer, chunksFed: Int, consumed: Int) {
        var buffer = ByteBuffer()
        var bytesFed = 0
        var chunksFed = 0
        feeding: while chunksFed < chunks.count {
            buffer.append(contentsOf: chunks[chunksFed])
            bytesFed += chunks[chunksFed].count
            chunksFed += 1
            while true {
                if stop() { break feeding }
                let event: HTTPParserEvent?
                do {
                    event = try parser.next(&buffer)
                } catch {
                    return (error, buffer, chunksFed, bytesFed - buffer.readableBytes)
                }
                guard let event else { break }
                onEvent(event, bytesFed - buffer.readableBytes)
            }
        }
        return (nil, buffer, chunksFed, bytesFed - buffer.readableBytes)
    }

    /// Every chunking of `bytes` (whole, byte by byte, seeded random) gives `expected`, no
    /// error, no empty body piece, and consumes everything.
    static func expectParses(
        _ bytes: [UInt8], _ expected: [HTTPCollected], limits: HTTPParserLimits = .default,
        splits: [(label: String, chunks: [[UInt8]])]? = nil, context: String = "",
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        for (split, chunks) in splits ?? FeedSplits.all(bytes) {
            let label = context.isEmpty ? split : "\(context.debugDescription), \(split)"
            let run = run(chunks, limits: limits)
            #expect(run.error == nil, "\(label): \(run.error.map { "\($0)" } ?? "")", sourceLocation: sourceLocation)
            #expect(run.events == expected, "\(label)", sourceLocation: sourceLocation)
            #expect(run.leftover.isEmpty, "\(label): \(run.leftover.count) bytes left", sourceLocation: sourceLocation)
            #expect(!run.sawEmptyBody, "\(label): empty .body", sourceLocation: sourceLocation)
            if run.error != nil || run.events != expected { return }  // one failing split is enough
        }
    }

    /// Every chunking of `bytes` fails with exactly `status` and `code`, after emitting no
    /// `.head` when `headEmitted` is false.
    static func expectFails(
        _ bytes: [UInt8], status: Int, code: String, headEmitted: Bool? = nil,
        limits: HTTPParserLimits = .default,
        splits: [(label: String, chunks: [[UInt8]])]? = nil, context: String = "",
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        for (split, chunks) in splits ?? FeedSplits.all(bytes) {
            let label = context.isEmpty ? split : "\(context.debugDescription), \(split)"
            let run = run(chunks, limits: limits)
            #expect(run.error?.status == status, "\(label): \(run.error.map { "\($0)" } ?? "no error")",
                sourceLocation: sourceLocation)
            #expect(run.error?.code == code, "\(label): \(run.error.map { "\($0)" } ?? "no error")",
                sourceLocation: sourceLocation)
            if let headEmitted {
                let sawHead = run.events.contains { if case .head = $0 { true } else { false } }
                #expect(sawHead == headEmitted, "\(label): head emitted = \(sawHead)", sourceLocation: sourceLocation)
            }
            if run.error?.code != code { return }
        }
    }

    /// The first head parsed from `text` fed whole (nil on error), for tests of head properties.
    static func head(_ text: String) -> HTTPRequestHead? {
        for event in run([Array(text.utf8)]).events {
            if case .head(let head) = event { return head }
        }
        return nil
    }
}

extension Array where Element == UInt8 {
    init(_ text: String) { self = Array(text.utf8) }
}

@Suite struct HTTPRequestParserHarnessTests {
    @Test func harnessJoinsBodyPiecesAndReportsUnconsumedBytes() {
        let wire = [UInt8]("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nabcdGET")
        let run = HTTPParserHarness.run(FeedSplits.byteByByte(wire), stopAfterEnds: 1)
        #expect(run.error == nil)
        #expect(run.events.count == 3)
        #expect(run.events[1] == .body([UInt8]("abcd")))
        #expect(run.leftover == [UInt8]("GET"))
    }

    @Test func harnessReportsTheErrorAndStopsFeeding() {
        let run = HTTPParserHarness.run([[UInt8]("GET / HTTP/1.1\n"), [UInt8]("more")])
        #expect(run.error == .bareLF)
        #expect(run.events.isEmpty)
    }
}
