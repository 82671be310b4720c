import ArgumentParser
import Glibc
import HeraldClient
import HeraldWire

/// `herald watch`: follows `/ws` topics and shows every task's progress, live.
struct WatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Show live task progress from the server's WebSocket feed.",
        discussion: """
            On a terminal: one line per task (id and title, status, progress bar, percent, \
            done/total, ETA or run time, the countdown to its timeout_s or stall_s ("times out in \
            12m00s", "stalls in 40s"), the error code of a failed task (timeout, stalled, \
            lease_expired or the worker's), rate, STALE when the worker missed its lease), updated in \
            place, under a header with the counts by status and the connection state. At most 20 \
            tasks are shown (fewer on a short terminal): running ones first, then queued ones, \
            then the most recently finished (a quarter of the lines are kept for those).

            When stdout is not a terminal (or with --plain): one line per event, fields in this order:

              seq=12 task=build-7 event=progress status=running 45.0% 450/1000 "copying"
              seq=13 task=build-7 event=stale status=running stale 45.0% 450/1000 "copying"
              seq=20 task=build-7 event=failed status=failed error=lease_expired "gone"
              seq=21 task=build-7 event=removed
              seq=120 event=snapshot topic=tasks epoch=E recovered=true tasks=2
              seq=118 task=a event=snapshot status=running 10.0% 1/10
              seq=120 event=resumed topic=tasks epoch=E
              event=error code=invalid_topic "…"

            After status=, each only when known: `stale`, the percent, done/total (or done \
            alone), error=<code> of a failed task, then the quoted text (a JSON string): the \
            latest message, or a failed task's error message. A snapshot line is followed by one \
            `event=snapshot` line per task in it. An event that arrives on several topics is \
            printed once. Connection notices go to stderr.

            The connection is retried with exponential backoff (1 s doubling to 30 s) and resumes \
            with since=<last seq>&epoch=<epoch>: missed events are replayed, or a fresh snapshot \
            replaces the state when the server's history no longer reaches back. \
            SIGINT or SIGTERM exits with status 0 and restores the terminal.
            """
    )

    @Option(help: ArgumentHelp("Server URL (default: $HERALD_SERVER, else http://127.0.0.1:8080).", valueName: "url"))
    var server: String?

    @Option(name: .customLong("topic"), help: ArgumentHelp(
        "Topic to follow, repeatable: tasks (all, the default), task:<id>, owner:<name>.", valueName: "topic"))
    var topics: [String] = []

    @Option(help: ArgumentHelp(
        "A token for a server that checks them, sent as `Authorization: Bearer` (default: $HERALD_TOKEN, else $HERALD_PUBLISH_TOKEN).",
        valueName: "token"))
    var token: String?

    @Option(help: ArgumentHelp(
        "For an https:// --server: trust the certificate authorities of this PEM file instead of the system's.",
        valueName: "path"))
    var cacert: String?

    @Flag(help: "One plain line per event even when stdout is a terminal.")
    var plain = false

    @Flag(help: "No colours in the terminal view (also when $NO_COLOR is set).")
    var noColor = false

    func validate() throws {
        var options = ClientOptions()
        options.server = server
        _ = try options.baseURL()
        for topic in topics where topic.isEmpty { throw ValidationError("--topic must not be empty") }
    }

    func run() throws {
        var options = ClientOptions()
        options.server = server
        let base = try options.baseURL()
        let terminal = !plain && isatty(1) == 1
        let color = terminal && !noColor && (Environment.value("NO_COLOR") ?? "").isEmpty
        options.token = token
        let session = WatchSession(base: base, topics: topics.isEmpty ? ["tasks"] : topics, token: options.effectiveToken,
                                   screen: terminal ? WatchScreen() : nil, color: color)
        session.tls = ClientTLS(caFile: cacert)
        session.run()
    }
}

/// One `herald watch` run: connect, apply frames, draw or print, reconnect. Never returns;
/// the signal handlers end the process.
final class WatchSession {
    let base: ClientURL
    let topics: [String]
    /// Sent as `Authorization: Bearer` on every (re)connect.
    let token: String?
    /// How an https server's certificate is checked (--cacert).
    var tls = ClientTLS()
    let screen: WatchScreen?
    let color: Bool
    private var state: WatchState
    private var connectionText = "connecting…"
    private var connected = false
    private var serverError: String?
    private var dirty = true
    private var lastDraw: UInt64 = 0
    private var everConnected = false

    /// Reconnect delays: 1 s, doubling, at most 30 s, each ±20 % so many watchers restarted
    /// together do not reconnect in lockstep.
    static let initialBackoff = 1.0
    static let maxBackoff = 30.0
    /// The server pings a silent connection every 30 s (--ping-interval); if nothing at all
    /// arrives for 15 s we ping, and after 35 s of silence the connection is taken as dead.
    static let pingAfterSilence = 15.0
    static let deadAfterSilence = 35.0
    /// Redraws at most 10 times a second, and at least once a second (countdowns, resizes).
    static let minRedrawInterval = 0.1
    static let maxRedrawInterval = 1.0

    init(base: ClientURL, topics: [String], token: String?, screen: WatchScreen?, color: Bool) {
        self.base = base
        self.topics = topics
        self.token = token
        self.screen = screen
        self.color = color
        self.state = WatchState(topics: topics)
    }

    func run() -> Never {
        WatchSignals.install(terminal: screen != nil)
        screen?.begin()
        var backoff = Self.initialBackoff
        while true {
            let url = webSocketURL()
            let resuming = state.resumePoint
            setConnection(resuming.map { "connecting to \(url.origin), resuming after seq \($0.since)…" } ?? "connecting to \(url.origin)…", connected: false)
            do {
                var headers = HTTPHeaders()
                if let token { headers.add(name: "Authorization", value: "Bearer \(token)") }
                let socket = try WebSocketClient.connect(url: url, headers: headers, tls: tls)
                if everConnected && screen == nil {
                    CLIOutput.standardError("herald: connected to \(url.origin)\(resuming.map { " (resuming after seq \($0.since))" } ?? "")\n")
                }
                everConnected = true
                setConnection("connected", connected: true)
                try pump(socket, onFirstMessage: { backoff = Self.initialBackoff })
            } catch {
                let delay = backoff * Double.random(in: 0.8...1.2)
                if screen == nil {
                    CLIOutput.standardError("herald: \(Self.describe(error)); reconnecting in \(HumanNumber.duration(delay))\n")
                }
                countdown(delay, reason: Self.describe(error))
                backoff = min(backoff * 2, Self.maxBackoff)
            }
        }
    }

    /// `ws://host:port/ws?topic=…[&since=N&epoch=E]`.
    func webSocketURL() -> ClientURL {
        var query = topics.map { ("topic", $0) }
        if let point = state.resumePoint {
            query.append(("since", String(point.since)))
            if !point.epoch.isEmpty { query.append(("epoch", point.epoch)) }
        }
        return base.webSocket.appending(path: "/ws", query: PercentEncoding.query(query))
    }

    /// Reads frames until the connection fails (it only returns by throwing).
    private func pump(_ socket: WebSocketClient, onFirstMessage: () -> Void) throws {
        var pinged = false
        var first = true
        while true {
            let tick = Deadline.after(seconds: screen == nil ? 1 : 0.25)
            if let message = try socket.receive(deadline: tick) {
                if first {
                    first = false
                    onFirstMessage()
                }
                pinged = false
                if case .text(let text) = message { handle(text) }
            } else {
                let silence = Double(MonotonicTime.nanoseconds() - socket.lastReceivedNanoseconds) / 1e9
                if silence > Self.deadAfterSilence {
                    socket.close(code: 1001, reason: "no answer", wait: 0)
                    throw ClientError.timedOut("after \(Int(Self.deadAfterSilence)) s without a frame from \(socket.url.origin)")
                }
                if silence > Self.pingAfterSilence && !pinged {
                    try socket.ping()
                    pinged = true
                }
            }
            drawIfDue()
        }
    }

    private func handle(_ text: String) {
        guard let event = WatchEvent.decode(text) else {
            if screen == nil { CLIOutput.standardError("herald: ignoring a frame that is not a task event: \(text.prefix(200))\n") }
            return
        }
        let outcome = state.apply(event)
        switch event {
        case .resumed(_, _, let since): setConnection("connected, resumed after seq \(since)", connected: true)
        case .snapshot(_, _, _, let recovered, _, _) where !recovered:
            setConnection("connected, state reloaded (history gone)", connected: true)
        case .error(let code, let message): serverError = "\(code): \(message)"
        default: break
        }
        dirty = true
        if screen == nil && outcome != .duplicate {
            let lines = WatchEventLine.lines(for: event)
            if !lines.isEmpty { CLIOutput.standardOutput(lines.joined(separator: "\n") + "\n") }
        }
    }

    private func setConnection(_ text: String, connected: Bool) {
        connectionText = text
        self.connected = connected
        dirty = true
        drawIfDue(force: true)
    }

    /// Waits `seconds` before the next attempt, showing the time left on a terminal.
    private func countdown(_ seconds: Double, reason: String) {
        let end = MonotonicTime.seconds() + seconds
        while true {
            let left = end - MonotonicTime.seconds()
            if left <= 0 { return }
            setConnection("reconnecting in \(HumanNumber.duration(left.rounded(.up))): \(reason)", connected: false)
            // Wake when the shown whole number of seconds changes.
            let toNextSecond = left - left.rounded(.down)
            let step = toNextSecond > 0.01 ? toNextSecond : min(1, left)
            usleep(UInt32(step * 1e6))
        }
    }

    private func drawIfDue(force: Bool = false) {
        guard let screen else { return }
        let now = MonotonicTime.nanoseconds()
        let since = Double(now - lastDraw) / 1e9
        guard (dirty && (force || since >= Self.minRedrawInterval)) || since >= Self.maxRedrawInterval else { return }
        lastDraw = now
        dirty = false
        let title = "herald watch \(base.origin) · \(topics.joined(separator: " "))"
        let connection = connectionText + (serverError.map { " · \($0)" } ?? "") + (connected ? " · seq \(state.lastSeq)" : "")
        screen.draw { size in
            WatchRenderer(width: size.columns, height: size.rows, color: color, now: WallClock.milliseconds())
                .frame(state: state, title: title, connection: connection, connected: connected)
        }
    }

    static func describe(_ error: Error) -> String {
        (error as? ClientError)?.description ?? "\(error)"
    }
}
