/// What `herald watch` keeps of a task: the fields of the contract's task object it shows.
public struct WatchTask: Equatable, Sendable {
    public var id: String
    public var title: String
    public var owner: String?
    public var status: String
    public var stale: Bool
    public var done: Double
    public var total: Double?
    public var percent: Double?
    public var message: String
    public var rate: Double?
    public var etaSeconds: Double?
    public var errorCode: String?
    public var errorMessage: String?
    public var attempt: Int
    public var createdAt: String?
    public var updatedAt: String?
    public var startedAt: String?
    public var finishedAt: String?
    public var seq: Int
    /// `timeout_s`, `stall_s` and `progress_at` (contract v2 "Deadlines").
    public var timeoutSeconds: Double?
    public var stallSeconds: Double?
    public var progressAt: String?

    public init(
        id: String, title: String = "", owner: String? = nil, status: String = "queued", stale: Bool = false,
        done: Double = 0, total: Double? = nil, percent: Double? = nil, message: String = "", rate: Double? = nil,
        etaSeconds: Double? = nil, errorCode: String? = nil, errorMessage: String? = nil, attempt: Int = 1,
        createdAt: String? = nil, updatedAt: String? = nil, startedAt: String? = nil, finishedAt: String? = nil, seq: Int = 0,
        timeoutSeconds: Double? = nil, stallSeconds: Double? = nil, progressAt: String? = nil
    ) {
        self.id = id
        self.title = title
        self.owner = owner
        self.status = status
        self.stale = stale
        self.done = done
        self.total = total
        self.percent = percent
        self.message = message
        self.rate = rate
        self.etaSeconds = etaSeconds
        self.errorCode = errorCode
        self.errorMessage = errorMessage
        self.attempt = attempt
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.seq = seq
        self.timeoutSeconds = timeoutSeconds
        self.stallSeconds = stallSeconds
        self.progressAt = progressAt
    }

    /// The contract's statuses, in the order the header counts them.
    public static let statuses = ["running", "queued", "cancelling", "succeeded", "failed", "cancelled"]

    /// `succeeded`, `failed` and `cancelled` never change except by retry or delete.
    public var isTerminal: Bool { status == "succeeded" || status == "failed" || status == "cancelled" }

    /// Seconds between `started_at` and `finished_at`, when both are known.
    public var runSeconds: Double? {
        guard let s = startedAt.flatMap(Timestamp.milliseconds), let f = finishedAt.flatMap(Timestamp.milliseconds) else { return nil }
        return Double(f - s) / 1000
    }
}

/// One server frame of `/ws` (contract, "WebSocket"), decoded.
public enum WatchEvent: Equatable, Sendable {
    case snapshot(topic: String, epoch: String, seq: Int, recovered: Bool, counts: [String: Int], tasks: [WatchTask])
    case resumed(topic: String, epoch: String, since: Int)
    case task(topic: String, seq: Int, event: String, task: WatchTask)
    case removed(topic: String, seq: Int, id: String)
    case error(code: String, message: String)
    /// `pong`, `unsubscribed` and types a newer server may add: nothing to show.
    case other(type: String)
}

/// RFC 3339 UTC timestamps as the server writes them (`2026-11-23T20:10:05.123Z`).
enum Timestamp {
    /// Milliseconds since 1970, or nil for anything else.
    static func milliseconds(_ s: String) -> Int64? {
        let b = Array(s.utf8)
        guard b.count >= 20, b.last == UInt8(ascii: "Z"), b[4] == 0x2D, b[7] == 0x2D, b[10] == 0x54, b[13] == 0x3A, b[16] == 0x3A
        else { return nil }
        func num(_ r: Range<Int>) -> Int? {
            var v = 0
            for i in r {
                guard (0x30...0x39).contains(b[i]) else { return nil }
                v = v * 10 + Int(b[i] - 0x30)
            }
            return v
        }
        guard let y = num(0..<4), let mo = num(5..<7), let d = num(8..<10), let h = num(11..<13), let mi = num(14..<16),
            let sec = num(17..<19), (1...12).contains(mo), (1...31).contains(d)
        else { return nil }
        var millis = 0
        if b.count > 20 {
            guard b[19] == 0x2E, b.count - 21 >= 1, let frac = num(20..<min(23, b.count - 1)), num(20..<(b.count - 1)) != nil else { return nil }
            var f = frac
            for _ in 0..<(3 - min(3, b.count - 21)) { f *= 10 }
            millis = f
        }
        // Days from civil (Howard Hinnant's algorithm), proleptic Gregorian.
        let yy = mo <= 2 ? y - 1 : y
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return Int64(days * 86_400 + h * 3600 + mi * 60 + sec) * 1000 + Int64(millis)
    }
}
