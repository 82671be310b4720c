/// The frame types of the broker ↔ server-process protocol (issue 6). On the wire each frame is
/// a 4-byte big-endian length N, then this type byte, then N − 1 payload bytes.
public enum BrokerFrameType: UInt8, Sendable, CaseIterable {
    /// server → broker: protocol version u16, process name, last seq it has u64, its epoch.
    case hello = 1
    /// broker → server: protocol version u16, epoch, current seq u64, resumed u8 (1: the events
    /// after the hello's last seq follow at once, so the server missed nothing; 0: it must resync
    /// its subscribers).
    case welcome = 2
    /// broker → server: why the connection is refused (version mismatch, wrong uid…).
    case refuse = 3
    /// server → broker: batch id u64, then opaque request bytes.
    case requests = 4
    /// broker → server: batch id u64, then opaque output bytes (the answers to a batch).
    case outputs = 5
    /// broker → server: opaque encoded events.
    case events = 6
    /// Either way: a u64 token the peer echoes in a pong.
    case ping = 7
    /// The echoed token and the sender's latest seq u64 (the broker's head, so a server can
    /// tell how far behind it is; 0 from a server).
    case pong = 8
    /// Either way: a piece of a frame too large for one (see `BrokerFrame.maxFragmentBytes`).
    /// Payload: last u8 (1 on the final piece, else 0), then raw bytes of the big frame's body
    /// (its type byte and payload, without its length prefix). The pieces are sent back to back,
    /// nothing between them, and their bytes concatenated are the body. Never nested, and never
    /// seen above the codec: the encoder splits, the decoder reassembles. (9 was version 1's
    /// unused resync frame; a peer of another version is refused at hello, before any fragment.)
    case fragment = 9

    /// The name used in error messages ("hello frame ends inside its epoch").
    public var name: String {
        switch self {
        case .hello: "hello"
        case .welcome: "welcome"
        case .refuse: "refuse"
        case .requests: "requests"
        case .outputs: "outputs"
        case .events: "events"
        case .ping: "ping"
        case .pong: "pong"
        case .fragment: "fragment"
        }
    }
}

/// One frame of the broker protocol, with its fields decoded. Strings are validated UTF-8;
/// opaque payloads are left to the layer above (the broker, the task engine). A frame of any
/// size up to `maxMessageBytes` can be sent: the codec fragments and reassembles it, so there is
/// no fragment case here.
public enum BrokerFrame: Equatable, Sendable {
    case hello(version: UInt16, processName: String, lastSeq: UInt64, epoch: String)
    case welcome(version: UInt16, epoch: String, currentSeq: UInt64, resumed: Bool)
    case refuse(reason: String)
    case requests(batchID: UInt64, payload: [UInt8])
    case outputs(batchID: UInt64, payload: [UInt8])
    case events(payload: [UInt8])
    case ping(token: UInt64)
    case pong(token: UInt64, seq: UInt64)

    /// Sent in hello and welcome; a broker refuses a server speaking another version.
    /// 3: scoped requests (access control) and failures with Retry-After (owner limits).
    /// 4: an event carries its shared body once, not one text per topic (issue 18).
    public static let protocolVersion: UInt16 = 4

    /// The largest N (type byte + payload) of one frame on the wire that a decoder accepts by
    /// default, checked from the length prefix so a peer cannot make the other buffer without
    /// bound. Larger frames travel as fragments of `maxFragmentBytes`, so this only has to
    /// exceed a fragment; 16 MiB leaves room for a peer that fragments at a larger size.
    public static let maxFrameBytes = 16 * 1024 * 1024

    /// A frame whose body (type byte + payload) is larger than this is sent as fragment frames
    /// carrying at most this many body bytes each. Why 1 MiB: an outputs frame can carry a whole
    /// `tasks` topic snapshot (a typical task is ~450 bytes of JSON as `TaskRecord.encodeJSON`
    /// writes it, so 100,000 tasks are ~43 MiB), and pieces of this size cost the receiver
    /// one bounded read each, with a 2-byte header per MiB.
    public static let maxFragmentBytes = 1024 * 1024

    /// The largest body a decoder reassembles from fragments by default; a fragment stream over
    /// it is an error as soon as the piece that would pass it announces its length, before that
    /// piece is buffered. Why 1 GiB: the peer is a process of the same uid (`UnixListener`
    /// checks SO_PEERCRED), so this bounds bugs rather than attacks; it is ~20× the
    /// 100,000-task snapshot and still keeps a runaway stream from taking the machine's memory.
    public static let maxMessageBytes = 1024 * 1024 * 1024

    /// The big-endian u32 length in front of every frame.
    public static let lengthPrefixBytes = 4

    /// A fragment frame's N beyond its piece: the type byte and the last flag.
    public static let fragmentHeaderBytes = 2

    public var type: BrokerFrameType {
        switch self {
        case .hello: .hello
        case .welcome: .welcome
        case .refuse: .refuse
        case .requests: .requests
        case .outputs: .outputs
        case .events: .events
        case .ping: .ping
        case .pong: .pong
        }
    }
}

/// Why the bytes from a broker peer are not a valid frame stream. The connection must be
/// dropped: after an error the stream has no frame boundary to resume from.
public struct BrokerFrameError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { "broker frame: \(message)" }
}
