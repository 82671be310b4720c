import HeraldAccess
import HeraldTasks
import HeraldWire

/// `GET /api/stats?owner=&window=S`: success rate, durations, errors and a timeline of the
/// tasks finished within the window. The query is checked here on the loop (bad input never
/// reaches the actor); the figures come from the authority, so every process of `--workers`
/// answers the same.
enum StatsEndpoint {
    static let path = "/api/stats"

    static func route(_ head: HTTPRequestHead, as principal: Principal, bridge: TaskBridge) -> RouteDecision {
        guard head.method == "GET" || head.method == "HEAD" else { return .respond(.methodNotAllowed(allow: "GET, HEAD")) }
        let request: TaskRequest
        do throws(TaskError) {
            request = try Self.request(head, as: principal)
        } catch {
            return .respond(TaskAPI.response(for: error))
        }
        return .readBodyAsync { _, _, respond in
            bridge.request(request) { reply in
                var response = TaskAPI.response(for: reply, status: 200)
                // Figures of a moment: a cache must not answer the next poll with them.
                response.headers.replaceOrAdd(name: "Cache-Control", value: "no-store")
                respond(response)
            }
        }
    }

    /// The actor's request for `head`. A viewer's or worker's goes out scoped, and the actor
    /// answers with that owner's figures whatever `owner=` says, so `owner=` is not even read
    /// for it; an admin (or anyone, without access control) may name any owner, or none for all.
    static func request(_ head: HTTPRequestHead, as principal: Principal) throws(TaskError) -> TaskRequest {
        let window = try TaskStatsQuery.window(head.queryValue("window"))
        let owner = principal.visibleOwner == nil ? try TaskStatsQuery.owner(head.queryValue("owner")) : nil
        return principal.scoped(.statistics(owner: owner, windowSeconds: window))
    }
}
