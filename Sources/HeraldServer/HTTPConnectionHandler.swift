import HeraldLoop
import HeraldWire

/// Carries out the HTTP state machine's actions on a loop connection, keeps its one timer
/// pointed at the machine's deadline, and stops reading pipelined requests while the peer is
/// not reading our responses.
final class HTTPConnectionHandler: ConnectionDelegate, LoopTimerTarget, RosterMember {
    private unowned let connection: Connection
    private let context: ServerContext
    private var machine: HTTPConnectionStateMachine
    /// The idle, request-head or body timeout, whichever the machine is in: armed in the loop's
    /// timer table with this handler as its target (no timer object, closure or weak reference
    /// per connection). The loop holds the handler while armed; it is disarmed when the
    /// connection closes or is upgraded, as `context.httpConnections` lets go of it.
    private var timer = TargetDeadlineTimer()
    private var waitingForDrain = false
    var rosterIndex: Int32 = -1
    /// The client's address for access lines, worked out on the first one.
    private lazy var remoteAddress = LogLineEncoder.address(ofPeer: connection.peer)

    init(connection: Connection, context: ServerContext) {
        self.connection = connection
        self.context = context
        machine = HTTPConnectionStateMachine(
            settings: context.connectionSettings, router: context.router, dates: context.dates, now: connection.loop.now)
        context.httpConnections.insert(self)
        rearmTimer()
    }

    var isIdle: Bool { machine.isIdle }

    /// Graceful shutdown: idle connections close now, busy ones after their current response.
    func shutdown() {
        machine.closeAfterCurrentRequest = true
        if machine.isIdle { connection.closeAfterFlush() }
    }

    func connection(_ connection: Connection, didRead bytes: UnsafeRawBufferPointer) {
        machine.received(bytes)
        drive()
    }

    func connectionDidReadEOF(_ connection: Connection) {
        drive()  // answer complete requests that are already buffered
        perform(machine.readEOF())
    }

    func connectionDidDrain(_ connection: Connection) {
        guard waitingForDrain else { return }
        waitingForDrain = false
        connection.resumeReading()
        drive()
    }

    func connectionDidClose(_ connection: Connection) {
        timer.cancel(loop: connection.loop)
        context.httpConnections.remove(self)
    }

    /// An asynchronous handler answered: write it and go on with pipelined requests.
    private func deliver(slot: UInt64, _ response: HTTPResponse) {
        guard connection.isOpen else { return }
        var actions: [HTTPConnectionStateMachine.Action] = []
        machine.respond(slot: slot, response, now: connection.loop.now, into: &actions)
        if perform(actions) { return }
        if !driving { drive() }
    }

    private var driving = false

    private func drive() {
        driving = true
        defer { driving = false }
        // One array for every request of this read (pipelined ones too), not one per request,
        // and the loop's from read to read: taken from the context and given back emptied.
        var actions = context.actionScratch
        context.actionScratch = []
        defer {
            actions.empty()
            context.actionScratch = actions
        }
        while connection.isOpen {
            actions.empty()
            machine.step(now: connection.loop.now, into: &actions)
            if actions.isEmpty { break }
            if perform(actions) { return }  // upgraded: this handler is finished
            if machine.hasBufferedInput && connection.pendingOutputBytes > context.configuration.maxPipelinedOutputBytes {
                waitingForDrain = true
                connection.pauseReading()
                break
            }
        }
        rearmTimer()
    }

    /// Returns true when the connection was handed to a WebSocket.
    @discardableResult
    private func perform(_ actions: [HTTPConnectionStateMachine.Action]) -> Bool {
        for action in actions {
            switch action {
            case .write(let bytes): connection.write(bytes)
            case .writeFile(let region): connection.write(region)
            case .closeAfterFlush: connection.closeAfterFlush()
            case .accessLog(var record, let startedAt):
                // The loop's time is the turn's start: measure the end now, or a response made
                // in the turn its request arrived would always take 0 ms.
                let now = MonotonicClock.now()
                if now > startedAt { record.durationNanos = now - startedAt }
                context.accessLog?.http(record, remote: remoteAddress)
            case .dispatch(let request):
                request.run(request.head, request.body) { [weak self] response in
                    self?.deliver(slot: request.slot, response)
                }
            case .upgrade(let route, let head, let leftover):
                // Disarmed: the timer slot lets go of this handler now. Its heap entry (16 bytes,
                // lazy deletion) stays until it reaches the top or the heap's next rebuild, which
                // keeps dead entries under a third and checks each by a slot lookup, not a hash.
                timer.cancel(loop: connection.loop)
                context.httpConnections.remove(self)
                let socket = WebSocketConnection(connection: connection, context: context, route: route, head: head)
                connection.delegate = socket  // releases this handler
                socket.start(leftover: leftover)
                return true
            }
        }
        return false
    }

    /// The machine's deadline passed (or an earlier one it no longer has): act on what is due.
    func loopTimerFired() {
        perform(machine.timerFired(now: MonotonicClock.now()))
        rearmTimer()
    }

    private func rearmTimer() {
        timer.aim(at: machine.deadline(), target: self, loop: connection.loop)
    }
}
