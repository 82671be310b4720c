/// The frame types of the broker ↔ server-process protocol (issue 6). On the wire each frame is
/// a 4-byte big-endian length N, then this type byte, then N − 1 payload bytes.
public enum BrokerFrameType: UInt8, Sendable, CaseIterable {
    /// server → broker: protocol version u16, process name, last seq it has u64, its epoch.
    case hello = 1
    /// broker → server: protocol version u16, epoch, current seq u64.
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
    case pong = 8
    /// broker → server: an opaque snapshot replacing the server's read copy.
    case resync = 9

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
        case .resync: "resync"
        }
    }
}

/// One frame of the broker protocol, with its fields decoded. Strings are validated UTF-8;
/// opaque payloads are left to the layer above (the broker, the task engine).
public enum BrokerFrame: Equatable, Sendable {
    case hello(version: UInt16, processName: String, lastSeq: UInt64, epoch: String)
    case welcome(version: UInt16, epoch: String, currentSeq: UInt64)
    case refuse(reason: String)
    case requests(batchID: UInt64, payload: [UInt8])
    case outputs(batchID: UInt64, payload: [UInt8])
    case events(payload: [UInt8])
    case ping(token: UInt64)
    case pong(token: UInt64)
    case resync(snapshot: [UInt8])

    /// Sent in hello and welcome; a broker refuses a server speaking another version.
    public static let protocolVersion: UInt16 = 1

    /// The largest N (type byte + payload) a decoder accepts by default. Why 16 MiB: a resync
    /// frame carries a whole snapshot, and the target is that a snapshot of 100,000 tasks' JSON
    /// fits in one frame, while a peer still cannot make the other buffer without bound.
    /// Measured against `TaskRecord.encodeJSON`, a typical running task is ~450 bytes (every
    /// field and key present), so 16 MiB holds ~37,000 tasks in that shape; 100,000 tasks
    /// (~43 MiB) need a compact snapshot encoding (≤ 167 bytes a task) or a snapshot split over
    /// several frames — the broker layer's choice, the frame layer only enforces the bound.
    public static let maxFrameBytes = 16 * 1024 * 1024

    /// The big-endian u32 length in front of every frame.
    public static let lengthPrefixBytes = 4

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
        case .resync: .resync
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
