import HeraldAccess
import HeraldLoop
import HeraldTasks
import HeraldWire

/// `/api/tasks…`: validates each request on the loop (bad input never reaches the actor),
/// forwards it through the bridge, and turns the actor's reply into the contract's JSON.
final class TaskAPI {
    private let bridge: TaskBridge
    private let longPolls: LongPollRegistry
    /// The contract caps a long-poll at 60 s.
    static let maxWaitSeconds = 60.0
    typealias MakeOperation = @Sendable (String, [UInt8]) throws(TaskError) -> TaskOperation

    /// The operation of `POST /api/tasks/{id}/{action}`, nil for an unknown action. A switch,
    /// not a dictionary: hashing the action's name showed in S7's profile (callgrind).
    static func action(_ name: Substring) -> MakeOperation? {
        switch name {
        case "start": return { id, _ in .start(id: id) }
        case "progress": return { id, body throws(TaskError) in .progress(id: id, try TaskValidation.progress(body)) }
        case "heartbeat": return { id, _ in .heartbeat(id: id) }
        case "complete":
            return { id, body throws(TaskError) in
                let (message, result) = try TaskValidation.complete(body)
                return .complete(id: id, message: message, result: result)
            }
        case "fail": return { id, body throws(TaskError) in .fail(id: id, try TaskValidation.fail(body)) }
        case "cancel": return { id, _ in .cancel(id: id) }
        case "cancelled": return { id, _ in .confirmCancelled(id: id) }
        case "retry": return { id, _ in .retry(id: id) }
        default: return nil
        }
    }

    init(bridge: TaskBridge, longPolls: LongPollRegistry) {
        self.bridge = bridge
        self.longPolls = longPolls
    }

    /// Routes `head` for `principal`: a role that may never make a change is refused here (403,
    /// which depends on no task), and every request goes to the actor scoped to the principal's
    /// own tasks, where another owner's task is 404 like a missing one.
    func route(_ head: HTTPRequestHead, as principal: Principal) -> RouteDecision {
        if head.path == "/api/batch" { return batchRoute(head, as: principal) }
        guard let rest = Self.taskSegments(head.path) else {
            return .respond(.error(status: 404, code: "not_found", message: "no such endpoint: \(head.path)"))
        }
        switch rest.count {
        case _ where rest.count == 0 || (rest.count == 1 && rest[0].isEmpty):  // /api/tasks and /api/tasks/
            switch head.method {
            case "POST":
                guard principal.role.may(action: "create") else { return .respond(Self.forbidden("create", principal)) }
                return async(status: 201, as: principal) { body throws(TaskError) in
                    .operation(.create(try Self.owned(TaskValidation.create(body), by: principal)))
                }
            case "GET", "HEAD": return listRoute(head, as: principal)
            default: return .respond(.methodNotAllowed(allow: "GET, HEAD, POST"))
            }
        case 1:
            guard let id = Self.decodeID(rest[0]) else { return .respond(Self.badID) }
            switch head.method {
            case "GET", "HEAD": return getRoute(head, id: id, as: principal)
            case "DELETE":
                guard principal.role.may(action: "delete") else { return .respond(Self.forbidden("delete", principal)) }
                return async(as: principal) { _ in .operation(.delete(id: id)) }
            default: return .respond(.methodNotAllowed(allow: "GET, HEAD, DELETE"))
            }
        case 2:
            guard let id = Self.decodeID(rest[0]) else { return .respond(Self.badID) }
            guard let makeOperation = Self.action(rest[1]) else {
                return .respond(.error(status: 404, code: "not_found", message: "no such action: \(rest[1])"))
            }
            guard head.method == "POST" else { return .respond(.methodNotAllowed(allow: "POST")) }
            let action = String(rest[1])
            guard principal.role.may(action: action) else { return .respond(Self.forbidden(action, principal)) }
            // Workers learn that someone asked to cancel from their progress and heartbeat answers.
            let tellsWorker = action == "progress" || action == "heartbeat"
            return async(flagCancelRequest: tellsWorker, as: principal) { body throws(TaskError) in .operation(try makeOperation(id, body)) }
        default:
            return .respond(.error(status: 404, code: "not_found", message: "no such endpoint: \(head.path)"))
        }
    }

    // MARK: Routes

    /// Reads the body, validates it into a request here on the loop, and answers with the
    /// actor's reply.
    private func async(status: Int = 200, flagCancelRequest: Bool = false, as principal: Principal,
                       _ makeRequest: @escaping ([UInt8]) throws(TaskError) -> TaskRequest) -> RouteDecision {
        .readBodyAsync { [bridge] head, body, respond in
            if let refusal = Self.checkContentType(head, body: body) {
                respond(refusal)
                return
            }
            let request: TaskRequest
            do throws(TaskError) {
                request = try makeRequest(body)
            } catch {
                respond(Self.response(for: error))
                return
            }
            bridge.request(principal.scoped(request)) { reply in
                respond(Self.response(for: reply, status: status, flagCancelRequest: flagCancelRequest))
            }
        }
    }

    /// `POST /api/batch`: the whole body validated here (nothing applied on a malformed item),
    /// then one request to the actor, applied in one turn and one store transaction.
    private func batchRoute(_ head: HTTPRequestHead, as principal: Principal) -> RouteDecision {
        guard head.method == "POST" else { return .respond(.methodNotAllowed(allow: "POST")) }
        return async(as: principal) { body throws(TaskError) in
            var batch = try TaskValidation.batch(body, mayCreate: principal.role.may(action: "create"))
            switch batch {
            case .create(let inputs):
                guard principal.role.may(action: "create") else {
                    throw .forbidden("a \(principal.role.rawValue) token may not create tasks")
                }
                // A worker's items without owner are its own; another owner's stay as given
                // and are refused per item by the actor.
                batch = .create(inputs.map { Self.defaultingOwner($0, to: principal) })
            case .change(let action, _):
                guard principal.role.may(action: action.rawValue) else {
                    throw .forbidden("a \(principal.role.rawValue) token may not \(action.rawValue) tasks")
                }
            }
            return .batch(batch)
        }
    }

    private func listRoute(_ head: HTTPRequestHead, as principal: Principal) -> RouteDecision {
        var statuses = Set<TaskStatus>()
        for value in head.queryValues("status") {
            for part in value.split(separator: ",") {
                guard let status = TaskStatus(rawValue: String(part)) else {
                    return .respond(Self.response(for: .invalidField("status", "unknown status \(part)")))
                }
                statuses.insert(status)
            }
        }
        var limit: Int?
        if let text = head.queryValue("limit") {
            guard let value = Int(text), value >= 0 else {
                return .respond(Self.response(for: .invalidField("limit", "must be a non-negative integer")))
            }
            limit = value
        }
        let owner = head.queryValue("owner").flatMap { $0.isEmpty ? nil : $0 }
        // A viewer's list is its own whatever `owner=` says (the actor applies the scope).
        return async(as: principal) { _ in .list(owner: owner, statuses: statuses, limit: limit) }
    }

    private func getRoute(_ head: HTTPRequestHead, id: String, as principal: Principal) -> RouteDecision {
        var wait: Double?
        var after: UInt64?
        if let text = head.queryValue("wait") {
            guard let value = Double(text), value.isFinite, value >= 0 else {
                return .respond(Self.response(for: .invalidField("wait", "must be a number of seconds")))
            }
            wait = min(value, Self.maxWaitSeconds)
        }
        if let text = head.queryValue("after") {
            guard let value = UInt64(text) else {
                return .respond(Self.response(for: .invalidField("after", "must be a non-negative integer (a seq)")))
            }
            after = value
        }
        return .readBodyAsync { [bridge, longPolls] _, _, respond in
            bridge.request(principal.scoped(.get(id: id))) { reply in
                // Wait only when asked to and the task has not changed since `after`.
                guard let wait, wait > 0, case .task(let json, let seq, _) = reply, seq <= (after ?? seq) else {
                    respond(Self.response(for: reply, status: 200))
                    return
                }
                longPolls.wait(for: id, after: after ?? seq, seconds: wait, current: json, respond: respond)
            }
        }
    }

    // MARK: Replies

    static func response(for reply: TaskReply, status: Int, flagCancelRequest: Bool = false) -> HTTPResponse {
        switch reply {
        case .task(let json, _, let taskStatus):
            guard taskStatus == .cancelling, flagCancelRequest else { return .json(status: status, json) }
            var body = json
            body.removeLast()
            body.append(contentsOf: #","cancel_requested":true}"#.utf8)
            return .json(status: status, body)
        case .deleted(let id, let seq):
            var body = Array(#"{"deleted":"#.utf8)
            JSONWriter.writeString(id, into: &body)
            body.append(contentsOf: ",\"seq\":\(seq)}".utf8)
            return .json(status: 200, body)
        case .list(let json), .batch(let json), .statistics(let json):
            return .json(status: 200, json)
        case .subscription, .stats:
            return .error(status: 500, code: "internal_error", message: "unexpected reply")
        case .failure(let error):
            return response(for: error)
        }
    }

    static func response(for error: TaskError) -> HTTPResponse {
        var response = HTTPResponse.error(status: error.status, code: error.code, message: error.message)
        // RFC 9110 §10.2.3: delay-seconds, a whole number; RFC 6585 §4 lets a 429 carry it.
        if let seconds = error.retryAfterSeconds { response.headers.add(name: "Retry-After", value: String(seconds)) }
        return response
    }

    /// Bodies must be JSON. Accepted: application/json, any `+json` type, no Content-Type at
    /// all, and text/plain (what simple clients and load generators such as wsbench send; the
    /// body must still parse as JSON). Forms, multipart and other types are refused with 415.
    static func checkContentType(_ head: HTTPRequestHead, body: [UInt8]) -> HTTPResponse? {
        guard !body.isEmpty, let type = head.headers["content-type"] else { return nil }
        // What nearly every client sends, compared byte by byte (any case): no split, trim or
        // lower-cased copy per request.
        if Self.isBare(type, "application/json") || Self.isBare(type, "text/plain") { return nil }
        let mediaType = type.split(separator: ";").first.map { $0.trimmingHTTPWhitespace().lowercased() } ?? ""
        if mediaType == "application/json" || mediaType.hasSuffix("+json") || mediaType == "text/plain" { return nil }
        return .error(status: 415, code: "unsupported_media_type", message: "send the body as Content-Type: application/json (got \(type))")
    }

    /// `type` is `expected` (lower-case ASCII) in any case, with nothing around it.
    static func isBare(_ type: String, _ expected: StaticString) -> Bool {
        expected.withUTF8Buffer { expected in
            guard type.utf8.count == expected.count else { return false }
            // A plain loop: `zip(…).allSatisfy` ran unspecialized, ~0.8k instructions a request.
            var k = 0
            for byte in type.utf8 {
                let want = expected[k]
                guard byte == want || (want >= UInt8(ascii: "a") && want <= UInt8(ascii: "z") && byte == want - 0x20) else { return false }
                k += 1
            }
            return true
        }
    }

    /// A create by a viewer's or worker's token: its tasks are its own (none given → its `sub`).
    static func owned(_ input: CreateInput, by principal: Principal) throws(TaskError) -> CreateInput {
        let input = defaultingOwner(input, to: principal)
        if let owner = principal.visibleOwner, input.owner != owner {
            throw .forbidden("this token creates tasks owned by \(owner) only")
        }
        return input
    }

    /// A viewer's or worker's create without `owner` is for its own `sub`.
    static func defaultingOwner(_ input: CreateInput, to principal: Principal) -> CreateInput {
        guard let owner = principal.visibleOwner, input.owner == nil else { return input }
        var input = input
        input.owner = owner
        return input
    }

    static func forbidden(_ action: String, _ principal: Principal) -> HTTPResponse {
        AccessControl.forbidden("a \(principal.role.rawValue) token may not \(action) tasks")
    }

    /// The segments of `path` after `/api/tasks` (split at every `/`, empty ones kept): what
    /// `path.split("/", omittingEmptySubsequences: false)` gives after "", "api", "tasks", nil
    /// when the path does not start so. On the bytes, without arrays (a request target is
    /// visible ASCII only, HTTPRequestParser.parseTarget): the split and its arrays were most
    /// of a progress report's routing (callgrind, S7). Only the first two are kept (`count` is
    /// exact): the route answers 404 to more.
    struct TaskSegments {
        var count = 0
        var first: Substring = ""
        var second: Substring = ""
        subscript(_ i: Int) -> Substring { i == 0 ? first : second }
    }

    static func taskSegments(_ path: String) -> TaskSegments? {
        let utf8 = path.utf8
        // Plain loops over the bytes: `starts(with:)` and `firstIndex(of:)` on the views ran
        // unspecialized (~2k instructions a request, callgrind S7).
        var start = utf8.startIndex
        let prefix: StaticString = "/api/tasks"
        let matched = prefix.withUTF8Buffer { prefix in
            for want in prefix {
                guard start != utf8.endIndex, utf8[start] == want else { return false }
                utf8.formIndex(after: &start)
            }
            return true
        }
        guard matched else { return nil }
        var segments = TaskSegments()
        guard start != utf8.endIndex else { return segments }  // "/api/tasks"
        guard utf8[start] == UInt8(ascii: "/") else { return nil }  // "/api/tasksX": its second part is not "tasks"
        start = utf8.index(after: start)
        while true {
            var end = start
            while end != utf8.endIndex, utf8[end] != UInt8(ascii: "/") { utf8.formIndex(after: &end) }
            if segments.count == 0 { segments.first = path[start..<end] }
            if segments.count == 1 { segments.second = path[start..<end] }
            segments.count += 1
            guard end != utf8.endIndex else { return segments }
            start = utf8.index(after: end)
        }
    }

    private static func decodeID(_ segment: Substring) -> String? {
        // Without an escape, decoding is the identity (the path is ASCII): no byte array.
        if !segment.utf8.contains(UInt8(ascii: "%")) {
            let id = String(segment)
            return TaskValidation.isValidID(id) ? id : nil
        }
        guard let bytes = PercentDecoding.decode(segment), let id = String(validating: bytes, as: UTF8.self),
              TaskValidation.isValidID(id) else { return nil }
        return id
    }

    private static let badID = HTTPResponse.error(
        status: 400, code: "invalid_field", message: "id: must be 1–128 characters of A–Z a–z 0–9 . _ : - and not \".\" or \"..\"")
}
