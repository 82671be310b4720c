import CHeraldZlib
import FuzzSupport
import HeraldWire

// The inflate path of permessage-deflate (RFC 7692 §7.2.2): raw DEFLATE with the 00 00 FF FF
// tail appended, inflated with an output cap so a small message cannot expand without bound.
// Checked: never more than the cap; an inflated message deflates and inflates back to itself.
//
let cap = 64 * 1024

enum InflateResult: Equatable {
    case message([UInt8])
    case tooBig
    case invalid
}

/// Herald's own inflate (HeraldWire `PerMessageDeflate.inflate`, what `/ws` and `/echo` use):
/// 1009 past the cap, 1007 for what is not DEFLATE.
func inflateCapped(_ input: [UInt8], cap: Int) -> InflateResult {
    do {
        return .message(try PerMessageDeflate.inflate(message: input, cap: cap))
    } catch {
        Fuzz.check(error.closeCode == 1009 || error.closeCode == 1007, "inflate threw \(error)")
        return error.closeCode == 1009 ? .tooBig : .invalid
    }
}

func deflateRaw(_ input: [UInt8]) -> [UInt8] {
    var stream = z_stream()
    precondition(herald_zlib_deflate_init2(&stream, 6, -15, 8) == Z_OK)
    defer { deflateEnd(&stream) }
    var data = input
    var out = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(input.count))) + 16)
    // Sound: both buffers outlive the deflate call, which stays within their counts.
    let written = data.withUnsafeMutableBufferPointer { inBuf in
        out.withUnsafeMutableBufferPointer { outBuf in
            stream.next_in = inBuf.baseAddress
            stream.avail_in = UInt32(inBuf.count)
            stream.next_out = outBuf.baseAddress
            stream.avail_out = UInt32(outBuf.count)
            precondition(deflate(&stream, Z_SYNC_FLUSH) == Z_OK)
            return outBuf.count - Int(stream.avail_out)
        }
    }
    // RFC 7692 §7.2.1: the sender removes the 00 00 FF FF the sync flush ends with.
    return Array(out[..<(written - 4)])
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = Fuzz.bytes(data, size)
    guard case .message(let message) = inflateCapped(bytes, cap: cap) else { return 0 }
    Fuzz.check(message.count <= cap, "\(message.count) bytes past the cap")
    let back = inflateCapped(deflateRaw(message), cap: cap)
    Fuzz.check(back == .message(message), "deflate → inflate changed the message")
    return 0
}

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: FuzzArgc, _ argv: FuzzArgv) -> Int32 {
    Fuzz.writeSeedsIfAsked {
        [
            Array("Hello".utf8),
            Array(#"{"type":"task","topic":"tasks","seq":12,"event":"progress","task":{"id":"a","done":3}}"#.utf8),
            Array(repeating: UInt8(ascii: "a"), count: 4000),
            [],
            (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7919) },
        ].map(deflateRaw) + [
            [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],  // RFC 7692 §7.2.3.1: "Hello"
            [0xf2, 0x00, 0x11, 0x00, 0x00],  // §7.2.3.2: "Hello" twice with a back-reference
            [0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00],  // §7.2.3.3: stored block
        ]
    }
    return 0
}

/// The executable's entry as SwiftPM links it (see `Fuzz.runDriver`).
@_cdecl("FuzzInflate_main")
public func fuzzInflateMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    Fuzz.runDriver(argc, argv, fuzz)
}
