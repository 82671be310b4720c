/// Draws `herald watch`'s terminal UI as lines of text: a header, then one line per task
///
///     build-7 Copy files   running    ██████████▌░░░░░░░░░░  45.0%  450/1000  ETA 45s  12.3/s  copying
///
/// Pure (no terminal, no clock), so it is tested with exact strings; the command measures the
/// terminal and moves the cursor. Every line fits `width` columns, so none wraps.
public struct WatchRenderer: Sendable {
    public var width: Int
    public var height: Int
    /// ANSI colours (SGR) around the status, the bar and the markers.
    public var color: Bool
    /// Task lines at most, whatever the terminal height.
    public var maxTasks: Int
    /// The wall clock (ms since 1970) the deadline countdowns count to; nil: none shown. Passed
    /// in, so the drawing stays pure. The client's clock against the server's: a skew of a few
    /// seconds shows as such, harmless for minutes-long deadlines.
    public var now: Int64?
    /// Set by `frame` when any shown row counts down to a deadline, so every row gives its bar
    /// the same width and the bars stay aligned.
    var deadlineRows = false

    /// ~20 lines: enough to follow a batch, few enough to read at a glance and to redraw cheaply.
    public static let defaultMaxTasks = 20
    /// "cancelling", the longest status.
    static let statusColumns = 10
    /// " 45.0%", "100.0%".
    static let percentColumns = 6
    /// What the columns after the bar want at most before the bar may grow:
    /// "1000/1000  ETA 1m05s  12.3/s" is 28.
    static let tailTargetColumns = 28
    /// More for rows that count down to a deadline: "  times out in 12m00s" is 21.
    static let deadlineColumns = 21
    static let minBarColumns = 8
    static let maxBarColumns = 40

    public init(width: Int, height: Int = 50, color: Bool = false, maxTasks: Int = defaultMaxTasks, now: Int64? = nil) {
        self.width = width
        self.height = height
        self.color = color
        self.maxTasks = maxTasks
        self.now = now
    }

    /// A countdown under this is painted yellow: the task is about to fail.
    static let deadlineWarningMilliseconds: Int64 = 60_000

    // MARK: - Frame

    /// The header (title and connection, counts), the chosen task lines, and a footer when
    /// tasks were left out.
    public func frame(state: WatchState, title: String, connection: String, connected: Bool) -> [String] {
        var lines: [String] = []
        let w = max(width, 10)
        let titleText = TerminalText.truncate(TerminalText.sanitize(title), to: w)
        let room = w - TerminalText.width(titleText) - 2
        let conn = room >= 4 ? TerminalText.truncate(TerminalText.sanitize(connection), to: room) : ""
        lines.append(conn.isEmpty ? paint(titleText, "1") : paint(titleText, "1") + "  " + paint(conn, connected ? "32" : "33"))
        lines.append(countsLine(state, width: w))

        let rows = max(1, min(maxTasks, height - 4))
        let (shown, hidden) = Self.choose(Array(state.tasks.values), rows: rows)
        var rowRenderer = self
        rowRenderer.deadlineRows = now != nil && shown.contains { $0.nextDeadline != nil }
        for task in shown { lines.append(rowRenderer.taskLine(task)) }
        if hidden > 0 {
            lines.append(paint(TerminalText.truncate("… \(hidden) more not shown", to: w), "2"))
        }
        return lines
    }

    /// "3 running · 1 queued · 8 succeeded · 1 stale", or "no tasks".
    func countsLine(_ state: WatchState, width w: Int) -> String {
        let counts = state.counts
        var parts: [(String, String)] = []
        for status in WatchTask.statuses {
            if let n = counts[status], n > 0 { parts.append(("\(n) \(status)", Self.statusColor(status))) }
        }
        for (status, n) in counts.sorted(by: { $0.key < $1.key }) where !WatchTask.statuses.contains(status) && n > 0 {
            parts.append(("\(n) \(TerminalText.sanitize(status))", ""))
        }
        let stale = state.tasks.values.filter { $0.stale && !$0.isTerminal }.count
        if stale > 0 { parts.append(("\(stale) stale", "33")) }
        if parts.isEmpty { return paint(TerminalText.truncate("no tasks", to: w), "2") }
        var out = ""
        var used = 0
        for (i, (text, code)) in parts.enumerated() {
            let sep = i == 0 ? "" : " · "
            guard used + sep.count + text.count <= w else { break }
            out += sep + paint(text, code)
            used += sep.count + text.count
        }
        return out
    }

    /// Which tasks get a line when there are more than `rows`: running (and cancelling) ones
    /// first, newest first, then queued ones, then the most recently finished, with a quarter
    /// of the rows kept for finished tasks so a completion stays visible in a busy batch.
    /// Shown oldest first, so a line keeps its place while its task runs and when it ends.
    static func choose(_ all: [WatchTask], rows: Int) -> (shown: [WatchTask], hidden: Int) {
        let newestFirst: (WatchTask, WatchTask) -> Bool = { a, b in
            let x = a.createdAt ?? "", y = b.createdAt ?? ""
            return x != y ? x > y : a.id > b.id
        }
        let running = all.filter { !$0.isTerminal && $0.status != "queued" }.sorted(by: newestFirst)
        let queued = all.filter { $0.status == "queued" }.sorted(by: newestFirst)
        let finished = all.filter(\.isTerminal).sorted { a, b in
            let x = a.finishedAt ?? a.updatedAt ?? "", y = b.finishedAt ?? b.updatedAt ?? ""
            return x != y ? x > y : a.id > b.id
        }
        let reserved = min(finished.count, rows / 4)
        var picked = Array(running.prefix(rows - reserved))
        picked += queued.prefix(max(0, rows - reserved - picked.count))
        picked += finished.prefix(max(0, rows - picked.count))
        let shown = picked.sorted { newestFirst($1, $0) }
        return (shown, all.count - shown.count)
    }

    // MARK: - One task

    public func taskLine(_ t: WatchTask) -> String {
        let w = max(width, 1)
        let nameColumns = min(max(w / 4, 12), 32)
        let label = t.title.isEmpty || t.title == t.id ? t.id : "\(t.id) \(t.title)"
        let name = TerminalText.fit(TerminalText.sanitize(label), to: nameColumns)
        let status = TerminalText.fit(TerminalText.sanitize(t.status), to: Self.statusColumns)
        let percentText = TerminalText.padLeft(t.percent.map { HumanNumber.percent(min(100, max(0, $0))) } ?? "-", to: Self.percentColumns)
        let statusCode = t.stale && !t.isTerminal ? "33" : Self.statusColor(t.status)

        // name SP status SP bar SP percent SP SP tail
        let available = w - nameColumns - Self.statusColumns - Self.percentColumns - 5
        guard available >= Self.minBarColumns else {
            let plain = "\(name) \(status) \(percentText)"
            guard TerminalText.width(plain) <= w else { return TerminalText.truncate(trimEnd(plain), to: w) }
            return trimEnd("\(name) \(paint(status, statusCode)) \(percentText)")
        }
        let tailTarget = Self.tailTargetColumns + (now != nil && (deadlineRows || t.nextDeadline != nil) ? Self.deadlineColumns : 0)
        let barColumns = min(max(available - tailTarget, Self.minBarColumns), Self.maxBarColumns)
        let tailColumns = available - barColumns
        let fraction = t.percent.map { $0 / 100 } ?? (t.status == "succeeded" ? 1 : nil)
        let bar = Self.bar(fraction: fraction, columns: barColumns)
        let tail = self.tail(t, columns: tailColumns)
        let line = "\(name) \(paint(status, statusCode)) \(paint(bar, statusCode)) \(percentText)" + (tail.isEmpty ? "" : "  " + tail)
        return trimEnd(line)
    }

    /// After the percentage, in order of importance, each only when it fits: STALE, done/total,
    /// ETA and the nearest deadline (running) or run time (finished) or the error code (failed:
    /// `timeout`, `stalled`, `lease_expired`, the worker's), rate, message.
    func tail(_ t: WatchTask, columns: Int) -> String {
        var pieces: [(text: String, code: String, cuttable: Bool)] = []
        if t.stale && !t.isTerminal { pieces.append(("STALE", "1;33", false)) }
        if let total = t.total {
            pieces.append(("\(HumanNumber.count(t.done))/\(HumanNumber.count(total))", "", false))
        } else if t.done > 0 {
            pieces.append((HumanNumber.count(t.done), "", false))
        }
        let active = t.status == "running" || t.status == "cancelling"
        if active, let eta = t.etaSeconds { pieces.append(("ETA \(HumanNumber.duration(eta))", "", false)) }
        if let now, let deadline = t.nextDeadline {
            pieces.append((deadline.text(now: now), deadline.at - now < Self.deadlineWarningMilliseconds ? "33" : "", false))
        }
        if t.status == "failed", let code = t.errorCode { pieces.append((TerminalText.sanitize(code), "31", false)) }
        if t.isTerminal, let run = t.runSeconds { pieces.append(("in \(HumanNumber.duration(run))", "2", false)) }
        if active, let rate = t.rate, rate > 0 { pieces.append((HumanNumber.rate(rate), "", false)) }
        let message = t.status == "failed" ? (t.errorMessage.flatMap { $0.isEmpty ? nil : $0 } ?? t.message) : t.message
        if !message.isEmpty { pieces.append((TerminalText.sanitize(message), "2", true)) }

        var out = ""
        var used = 0
        for piece in pieces {
            let sep = used == 0 ? 0 : 2
            let w = TerminalText.width(piece.text)
            var text = piece.text
            if used + sep + w > columns {
                // Only the message is cut, and only when a useful part of it fits.
                let room = columns - used - sep
                guard piece.cuttable, room >= 6 else { continue }
                text = TerminalText.truncate(text, to: room)
            }
            out += (sep == 0 ? "" : "  ") + paint(text, piece.code)
            used += sep + TerminalText.width(text)
        }
        return out
    }

    /// A bar of `columns` cells: full blocks, one eighth-block for the fraction of a cell, light
    /// shade for the rest; all shade when the fraction is unknown.
    public static func bar(fraction: Double?, columns: Int) -> String {
        guard columns > 0 else { return "" }
        guard let f = fraction, f.isFinite else { return String(repeating: "░", count: columns) }
        let eighths = Int((min(1, max(0, f)) * Double(columns * 8)).rounded(.down))
        let full = eighths / 8
        let partial = eighths % 8
        var out = String(repeating: "█", count: full)
        if partial > 0 { out += String(Array("▏▎▍▌▋▊▉")[partial - 1]) }
        let rest = columns - full - (partial > 0 ? 1 : 0)
        if rest > 0 { out += String(repeating: "░", count: rest) }
        return out
    }

    static func statusColor(_ status: String) -> String {
        switch status {
        case "running": "36"
        case "queued": "2"
        case "cancelling": "33"
        case "succeeded": "32"
        case "failed": "31"
        case "cancelled": "35"
        default: ""
        }
    }

    func paint(_ text: String, _ code: String) -> String {
        guard color, !code.isEmpty, !text.isEmpty else { return text }
        return "\u{1B}[\(code)m\(text)\u{1B}[0m"
    }

    private func trimEnd(_ s: String) -> String {
        var t = Substring(s)
        while t.hasSuffix(" ") { t = t.dropLast() }
        return String(t)
    }
}
