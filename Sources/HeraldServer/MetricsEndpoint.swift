import Glibc
import HeraldBroker
import HeraldLoop
import HeraldTasks

/// `/metrics` in the Prometheus text format (version 0.0.4).
enum MetricsEndpoint {
    struct LoopFigures {
        var connections: Int
        var webSockets: Int
        var subscribers: Int
        var subscriptions: Int
        var framesDelivered: UInt64
        var slowSubscribersClosed: UInt64
        var progressConflated: UInt64 = 0
        var longPolls: Int
        var actorBatches: UInt64
        var actorRequests: UInt64
        /// This process's link to `herald broker`; nil when it owns the tasks itself.
        var broker: BrokerStatus?
        /// The last seq this process applied to its subscribers.
        var appliedSeq: UInt64
        /// "herald" for a single process, "worker-N" under `--workers`, and how many times the
        /// supervisor restarted this worker's slot.
        var processName: String
        var restarts: Int
        /// Requests and sockets refused by access control, by reason.
        var authRefusals: [AccessRefusal: UInt64] = [:]
        /// Sockets turned away at accept: past `--max-connections`, past `--max-connections-per-ip`.
        var refusedServerBusy: UInt64 = 0
        var refusedTooManyConnections: UInt64 = 0
        /// Times accepting paused (100 ms each) because the process was out of fds or memory.
        var acceptPauses: UInt64 = 0
        /// With --tls-cert: handshakes by result.
        var tls: TLSStatistics? = nil
    }

    static func render(_ stats: TaskHubStats?, _ loop: LoopFigures) -> [UInt8] {
        var text = ""
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(String, String)]) {
            text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for (labels, value) in samples { text += "\(name)\(labels) \(value)\n" }
        }
        metric("herald_process_info", "gauge", "Which process answered: its name (worker-N under --workers) and pid.",
               [("{process=\"\(loop.processName)\",pid=\"\(getpid())\"}", "1")])
        metric("herald_process_restarts_total", "counter", "Times the supervisor restarted this worker's slot before this process.",
               [("", "\(loop.restarts)")])
        metric("herald_connections", "gauge", "Open client connections (HTTP and WebSocket).", [("", "\(loop.connections)")])
        metric("herald_connections_refused_total", "counter",
               "Connections refused at accept: server_busy past --max-connections, too_many_connections past --max-connections-per-ip.",
               [("{reason=\"server_busy\"}", "\(loop.refusedServerBusy)"),
                ("{reason=\"too_many_connections\"}", "\(loop.refusedTooManyConnections)")])
        metric("herald_accept_pauses_total", "counter",
               "Times accepting paused for 100 ms because the process was out of file descriptors or memory; new connections wait in the backlog meanwhile.",
               [("", "\(loop.acceptPauses)")])
        if let tls = loop.tls {
            metric("herald_tls_handshakes_total", "counter",
                   "TLS handshakes: full, resumed (a session ticket), failed (garbage, a refused version or protocol, a stall past --header-timeout).",
                   [("{result=\"full\"}", "\(tls.fullHandshakes)"), ("{result=\"resumed\"}", "\(tls.resumedHandshakes)"),
                    ("{result=\"failed\"}", "\(tls.failedHandshakes)")])
        }
        metric("herald_websockets", "gauge", "Open WebSocket connections.", [("", "\(loop.webSockets)")])
        metric("herald_subscribers", "gauge", "WebSocket connections subscribed to at least one topic.", [("", "\(loop.subscribers)")])
        metric("herald_subscriptions", "gauge", "Topic subscriptions over all connections.", [("", "\(loop.subscriptions)")])
        metric("herald_events_delivered_total", "counter", "Event frames queued to subscribers.", [("", "\(loop.framesDelivered)")])
        metric("herald_progress_conflated_total", "counter",
               "Progress events a subscriber far behind never got because a newer one of the same task superseded it.",
               [("", "\(loop.progressConflated)")])
        metric("herald_slow_subscribers_closed_total", "counter", "Subscribers closed with 1008 for not reading.", [("", "\(loop.slowSubscribersClosed)")])
        metric("herald_auth_refusals_total", "counter",
               "Requests refused by access control: no token, expired, invalid; upgrades from a refused Origin; sockets closed at expiry (4001).",
               AccessRefusal.allCases.map { ("{reason=\"\($0.rawValue)\"}", "\(loop.authRefusals[$0] ?? 0)") })
        metric("herald_long_polls", "gauge", "Long-poll requests waiting for a change.", [("", "\(loop.longPolls)")])
        metric("herald_actor_batches_total", "counter", "Batches of requests sent from the loop to the task actor.", [("", "\(loop.actorBatches)")])
        metric("herald_actor_requests_total", "counter", "Requests sent to the task actor.", [("", "\(loop.actorRequests)")])
        if let broker = loop.broker {
            metric("herald_broker_connected", "gauge", "1 while this process is connected to the broker.", [("", broker.connected ? "1" : "0")])
            metric("herald_broker_lag_seq", "gauge", "Events the broker has published that this process has not applied yet.",
                   [("", "\(broker.headSeq > loop.appliedSeq ? broker.headSeq - loop.appliedSeq : 0)")])
            metric("herald_broker_reconnects_total", "counter", "Connections to the broker lost and made again.", [("", "\(broker.reconnects)")])
            metric("herald_broker_resyncs_total", "counter",
                   "Reconnects whose missed events could not be replayed (subscribers closed with 1012 to resume).", [("", "\(broker.resyncs)")])
            metric("herald_broker_replayed_events_total", "counter", "Events replayed to this process on reconnects.", [("", "\(broker.replayedEvents)")])
        }
        if let stats {
            metric("herald_events_published_total", "counter", "Task events published by the task actor.", [("", "\(stats.eventsPublished)")])
            metric("herald_seq", "gauge", "The latest event sequence number.", [("", "\(stats.seq)")])
            metric("herald_tasks", "gauge", "Tasks held, by status.",
                   TaskStatus.allCases.map { ("{status=\"\($0.rawValue)\"}", "\(max(0, stats.countsByStatus[$0] ?? 0))") })
            metric("herald_store_failing", "gauge",
                   "1 while the task authority's store refuses writes (changes get 503 storage_unavailable).",
                   [("", stats.storeFailing ? "1" : "0")])
            text += renderDurations(stats.durations)
        }
        return Array(text.utf8)
    }
}
