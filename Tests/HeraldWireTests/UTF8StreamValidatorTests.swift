import HeraldTestSupport
import Testing
@testable import HeraldWire

@Suite struct UTF8StreamValidatorTests {
    /// Markus Kuhn's UTF-8 decoder capability and stress test, section by section, as
    /// (label, bytes, valid).
    static let kuhnCases: [(String, [UInt8], Bool)] = {
        var cases: [(String, [UInt8], Bool)] = [
            ("1 kosme", [0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5], true),
            // 2.1 first possible sequence of each length
            ("2.1.1", [0x00], true),
            ("2.1.2", [0xC2, 0x80], true),
            ("2.1.3", [0xE0, 0xA0, 0x80], true),
            ("2.1.4", [0xF0, 0x90, 0x80, 0x80], true),
            ("2.1.5", [0xF8, 0x88, 0x80, 0x80, 0x80], false),
            ("2.1.6", [0xFC, 0x84, 0x80, 0x80, 0x80, 0x80], false),
            // 2.2 last possible sequence of each length
            ("2.2.1", [0x7F], true),
            ("2.2.2", [0xDF, 0xBF], true),
            ("2.2.3", [0xEF, 0xBF, 0xBF], true),
            ("2.2.4", [0xF7, 0xBF, 0xBF, 0xBF], false),
            ("2.2.5", [0xFB, 0xBF, 0xBF, 0xBF, 0xBF], false),
            ("2.2.6", [0xFD, 0xBF, 0xBF, 0xBF, 0xBF, 0xBF], false),
            // 2.3 other boundary conditions
            ("2.3.1", [0xED, 0x9F, 0xBF], true),
            ("2.3.2", [0xEE, 0x80, 0x80], true),
            ("2.3.3", [0xEF, 0xBF, 0xBD], true),
            ("2.3.4", [0xF4, 0x8F, 0xBF, 0xBF], true),
            ("2.3.5", [0xF4, 0x90, 0x80, 0x80], false),
            // 3.1 unexpected continuation bytes
            ("3.1.1", [0x80], false),
            ("3.1.2", [0xBF], false),
            ("3.1.3", [0x80, 0xBF], false),
            ("3.1.4", [0x80, 0xBF, 0x80], false),
            ("3.1.9", Array(0x80...0xBF), false),
            // 3.3 sequences with the last byte missing
            ("3.3.1", [0xC0], false),
            ("3.3.2", [0xE0, 0x80], false),
            ("3.3.3", [0xF0, 0x80, 0x80], false),
            ("3.3.6", [0xDF], false),
            ("3.3.7", [0xEF, 0xBF], false),
            ("3.3.8", [0xF7, 0xBF, 0xBF], false),
            ("3.3 valid starts, truncated", [0xE1, 0x80], false),
            ("3.3 valid starts, truncated 4", [0xF1, 0x80, 0x80], false),
            ("3.4 concatenated truncations", [0xC0, 0xE0, 0x80, 0xF0, 0x80, 0x80, 0xDF, 0xEF, 0xBF, 0xF7, 0xBF, 0xBF], false),
            // 3.5 impossible bytes
            ("3.5.1", [0xFE], false),
            ("3.5.2", [0xFF], false),
            ("3.5.3", [0xFE, 0xFE, 0xFF, 0xFF], false),
            // 4.1 overlong ASCII "/"
            ("4.1.1", [0xC0, 0xAF], false),
            ("4.1.2", [0xE0, 0x80, 0xAF], false),
            ("4.1.3", [0xF0, 0x80, 0x80, 0xAF], false),
            ("4.1.4", [0xF8, 0x80, 0x80, 0x80, 0xAF], false),
            // 4.2 maximum overlong sequences
            ("4.2.1", [0xC1, 0xBF], false),
            ("4.2.2", [0xE0, 0x9F, 0xBF], false),
            ("4.2.3", [0xF0, 0x8F, 0xBF, 0xBF], false),
            // 4.3 overlong NUL
            ("4.3.1", [0xC0, 0x80], false),
            ("4.3.2", [0xE0, 0x80, 0x80], false),
            ("4.3.3", [0xF0, 0x80, 0x80, 0x80], false),
            // 5.1 single UTF-16 surrogates
            ("5.1.1", [0xED, 0xA0, 0x80], false),
            ("5.1.2", [0xED, 0xAD, 0xBF], false),
            ("5.1.3", [0xED, 0xAE, 0x80], false),
            ("5.1.4", [0xED, 0xAF, 0xBF], false),
            ("5.1.5", [0xED, 0xB0, 0x80], false),
            ("5.1.6", [0xED, 0xBE, 0x80], false),
            ("5.1.7", [0xED, 0xBF, 0xBF], false),
            // 5.2 paired UTF-16 surrogates
            ("5.2.1", [0xED, 0xA0, 0x80, 0xED, 0xB0, 0x80], false),
            ("5.2.8", [0xED, 0xAF, 0xBF, 0xED, 0xBF, 0xBF], false),
            // 5.3 noncharacters are valid UTF-8
            ("5.3.1", [0xEF, 0xBF, 0xBE], true),
            ("5.3.2", [0xEF, 0xBF, 0xBF], true),
            ("5.3.4", [0xF4, 0x8F, 0xBF, 0xBE], true),
            // Autobahn 6.4.1: valid text then a code point above U+10FFFF
            ("kosme + F4 90", [0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5, 0xF4, 0x90, 0x80, 0x80, 0x65, 0x64, 0x69, 0x74, 0x65, 0x64], false),
        ]
        // 3.2 lonely start characters, each followed by a space
        for lead in Array(0xC0...0xDF) + Array(0xE0...0xEF) + Array(0xF0...0xF7) {
            cases.append(("3.2 lonely \(lead)", [UInt8(lead), 0x20], false))
        }
        return cases
    }()

    /// `#expect` cannot call a mutating method on its own; this wraps one.
    private func feed(_ v: inout UTF8StreamValidator, _ bytes: some Collection<UInt8>) -> Bool {
        v.feed(bytes)
    }

    /// Feeds `chunks` one by one; whether all were accepted and the end is a boundary.
    private func validate(_ chunks: [[UInt8]]) -> Bool {
        var v = UTF8StreamValidator()
        for chunk in chunks where !v.feed(chunk) { return false }
        return v.isAtBoundary
    }

    @Test func kuhnStressCasesSplitAtEveryPosition() {
        for (label, bytes, valid) in Self.kuhnCases {
            #expect((String(validating: bytes, as: UTF8.self) != nil) == valid, "oracle disagrees on \(label)")
            #expect(validate([bytes]) == valid, "\(label) whole")
            #expect(validate(bytes.map { [$0] }) == valid, "\(label) byte by byte")
            for cut in 0...bytes.count {
                #expect(validate([Array(bytes[..<cut]), Array(bytes[cut...])]) == valid, "\(label) cut at \(cut)")
            }
            for (split, chunks) in FeedSplits.all(bytes) {
                #expect(validate(chunks) == valid, "\(label) \(split)")
            }
        }
    }

    @Test func failsAtTheFirstByteThatCannotBeCompleted() {
        let cases: [([UInt8], Int)] = [
            ([0xF4, 0x90], 1), ([0xE0, 0x80], 1), ([0xE0, 0x9F], 1), ([0xED, 0xA0], 1), ([0xF0, 0x8F], 1),
            ([0xC0], 0), ([0xC1], 0), ([0xF5], 0), ([0xFF], 0), ([0x80], 0),
            ([0x61, 0x62, 0xCE, 0x41], 3), ([0xF0, 0x90, 0x80, 0x41], 3),
            (Array("κόσμε".utf8) + [0xF4, 0x90], Array("κόσμε".utf8).count + 1),
        ]
        for (bytes, failIndex) in cases {
            var v = UTF8StreamValidator()
            for (i, byte) in bytes.enumerated() {
                #expect(feed(&v, [byte]) == (i < failIndex), "\(bytes) at \(i)")
            }
            #expect(v.hasFailed)
        }
    }

    @Test func truncatedSequenceIsNotAtBoundaryButNotFailedYet() {
        var v = UTF8StreamValidator()
        #expect(feed(&v, [0x61, 0xF0, 0x9F]))
        #expect(!v.isAtBoundary)
        #expect(!v.hasFailed)
        #expect(feed(&v, [0x98, 0x80]))
        #expect(v.isAtBoundary)
    }

    @Test func staysFailedUntilReset() {
        var v = UTF8StreamValidator()
        #expect(!feed(&v, [0xFF]))
        #expect(!feed(&v, Array("fine".utf8)))
        #expect(!feed(&v, [UInt8]()))
        v.reset()
        #expect(feed(&v, Array("fine".utf8)))
        #expect(v.isAtBoundary)
    }

    @Test func asciiFastPathFindsAnInvalidByteAtAnyOffset() {
        for length in 0..<40 {
            for position in 0..<length {
                var bytes = Array(repeating: UInt8(ascii: "a"), count: length)
                bytes[position] = 0xFF
                var v = UTF8StreamValidator()
                #expect(!feed(&v, bytes), "length \(length) position \(position)")
                // A valid 2-byte sequence at the same place keeps it valid.
                bytes[position] = 0xC3
                if position + 1 < length { bytes[position + 1] = 0xA9 }
                var w = UTF8StreamValidator()
                let ok = w.feed(bytes) && w.isAtBoundary
                #expect(ok == (position + 1 < length), "length \(length) position \(position) valid")
            }
        }
    }

    @Test func agreesWithTheStandardLibraryOnRandomBytes() {
        var rng = FeedSplits.SeededGenerator(seed: 6455)
        // Bytes drawn mostly from the interesting ranges so that near-valid sequences are common.
        let pool: [UInt8] = [0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF,
                             0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF]
        for round in 0..<20_000 {
            let length = Int.random(in: 0...10, using: &rng)
            let bytes = (0..<length).map { _ in pool.randomElement(using: &rng)! }
            let expected = String(validating: bytes, as: UTF8.self) != nil
            let cut = Int.random(in: 0...length, using: &rng)
            #expect(validate([Array(bytes[..<cut]), Array(bytes[cut...])]) == expected, "round \(round): \(bytes)")
        }
    }

    @Test func acceptsNonContiguousCollections() {
        var v = UTF8StreamValidator()
        #expect(feed(&v, "añ€𝄞".utf8))
        #expect(feed(&v, [0xCE, 0xBA].reversed().reversed()))
        #expect(v.isAtBoundary)
    }
}
