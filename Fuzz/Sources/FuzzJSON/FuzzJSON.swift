import FuzzSupport
import HeraldWire

// JSONParser (RFC 8259): what it accepts survives write → parse unchanged and is written the
// same way again; under tight limits it accepts only documents within them, and never a
// document the default limits refuse.
let tight = JSONLimits(maxDepth: 4, maxStringBytes: 16, maxMembers: 8)

func depth(_ value: JSONValue) -> Int {
    switch value {
    case .array(let items): return 1 + (items.map(depth).max() ?? 0)
    case .object(let object): return 1 + (object.members.map { depth($0.value) }.max() ?? 0)
    default: return 0
    }
}

func withinTight(_ value: JSONValue) -> Bool {
    switch value {
    case .string(let s): return s.utf8.count <= tight.maxStringBytes
    case .array(let items): return items.count <= tight.maxMembers && items.allSatisfy(withinTight)
    case .object(let object):
        return object.count <= tight.maxMembers
            && object.members.allSatisfy { $0.key.utf8.count <= tight.maxStringBytes && withinTight($0.value) }
    default: return true
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = Fuzz.bytes(data, size)
    let value: JSONValue?
    do {
        value = try JSONParser.parse(bytes)
    } catch {
        Fuzz.check(error.offset >= 0 && error.offset <= bytes.count, "error offset \(error.offset) of \(bytes.count)")
        value = nil
    }
    if let value {
        Fuzz.check(depth(value) <= JSONLimits.defaultMaxDepth, "depth \(depth(value))")
        let written = JSONWriter.encode(value)
        let again = try? JSONParser.parse(written)
        Fuzz.check(again == value, "write → parse changed the value: \(String(decoding: written, as: UTF8.self))")
        Fuzz.check(again.map(JSONWriter.encode) == written, "written twice differently")
    }
    if let small = try? JSONParser.parse(bytes, limits: tight) {
        Fuzz.check(small == value, "tight limits accepted what the default refused, or read it differently")
        Fuzz.check(depth(small) <= tight.maxDepth && withinTight(small), "tight limits exceeded")
    }
    return 0
}

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: FuzzArgc, _ argv: FuzzArgv) -> Int32 {
    Fuzz.writeSeedsIfAsked {
        [
            #"{"id":"t-1","title":"Build \"x\"","owner":null,"status":"running","stale":false,"done":3,"total":10,"percent":30.5,"message":"step\n3 😀","meta":{"a":[1,2.5e-3,-0,true,null,{}]},"seq":17}"#,
            #"[{"type":"task","topic":"tasks","seq":9007199254740993,"event":"progress","task":{"error":{"code":"x","message":"\u00e9\ud83d\ude00"}}}]"#,
            #"{"op":"subscribe","topic":"task:a.b:c","since":12,"epoch":"e1"}"#,
            #"[[[[[]]]],{"":{"":{"":""}}},"\/\b\f\n\r\t\\\"",1E+2,0.000001,123456789012345678901234567890]"#,
            #"{"title":"deadlines","timeout_s":3600,"stall_s":null,"lease_s":1.5}"#,
            #" [1e308, -1e-308, 5e-324, 1.7976931348623157e308, 0.1, -0.0] "#,
            #""\u0000\u001f\u007f\u0080\u07ff\u0800\uffff\ud800\udc00""#,
            #"{"a":1,"a":2}"#,
            "true", "null", "0",
        ].map { Array($0.utf8) }
    }
    return 0
}

/// The executable's entry as SwiftPM links it (see `Fuzz.runDriver`).
@_cdecl("FuzzJSON_main")
public func fuzzJSONMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    Fuzz.runDriver(argc, argv, fuzz)
}
