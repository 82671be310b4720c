import ArgumentParser
import HeraldClient
import HeraldWire

/// `herald task …`: the HTTP task API for shell scripts and workers. Each subcommand is one
/// request; the server's JSON answer goes to stdout, errors to stderr with exit status 1.
struct TaskCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "task",
        abstract: "Create, move and read tasks through the HTTP API (for shell scripts and workers).",
        discussion: """
            Every subcommand sends one request to --server (default: $HERALD_SERVER, else \
            http://127.0.0.1:8080) and prints the server's JSON answer on one line to stdout \
            (--pretty indents it), exit status 0. On an error it prints \
            `herald: <message> (<code>, HTTP <status>)` to stderr and exits 1; when the server \
            cannot be reached, `herald: cannot reach <url>: <reason>`, exit 1.

            A worker reports with `progress` and reads the answer: once someone asked to cancel, \
            it carries "cancel_requested":true (exit status still 0), and the worker should stop \
            and confirm with `herald task cancelled ID`.

              id=$(herald task create --title "Nightly export" --total 1000 | jq -r .id)
              herald task start "$id"
              herald task progress "$id" --done 450 --message "copying"
              herald task complete "$id" --result '{"path":"/exports/nightly.csv"}'
            """,
        subcommands: [
            TaskCreate.self, TaskStart.self, TaskProgress.self, TaskHeartbeat.self, TaskComplete.self, TaskFail.self,
            TaskCancel.self, TaskCancelled.self, TaskRetry.self, TaskDelete.self, TaskGet.self, TaskList.self,
        ]
    )
}

/// What every `task` subcommand shares: where the server is, how to print, how long to wait.
struct ClientOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Server URL (default: $HERALD_SERVER, else http://127.0.0.1:8080).", valueName: "url"))
    var server: String?

    @Flag(help: "Indent the JSON answer instead of printing it on one line.")
    var pretty = false

    @Option(help: ArgumentHelp("Seconds to wait for the server's answer.", valueName: "seconds"))
    var timeout = HTTPClient.defaultTimeout

    @Option(help: ArgumentHelp(
        "For an https:// --server: trust the certificate authorities of this PEM file instead of the system's.",
        valueName: "path"))
    var cacert: String?

    var tls: ClientTLS { ClientTLS(caFile: cacert) }

    @Option(help: ArgumentHelp(
        "A token from `herald token` (or your app), or the publish token, sent as `Authorization: Bearer` (default: $HERALD_TOKEN, else $HERALD_PUBLISH_TOKEN).",
        valueName: "token"))
    var token: String?

    /// --token, else $HERALD_TOKEN, else $HERALD_PUBLISH_TOKEN.
    var effectiveToken: String? {
        token ?? Environment.nonEmpty("HERALD_TOKEN") ?? Environment.nonEmpty("HERALD_PUBLISH_TOKEN")
    }

    func validate() throws {
        guard timeout > 0, timeout.isFinite else { throw ValidationError("--timeout must be a positive number of seconds") }
        _ = try baseURL()
    }

    /// --server, else $HERALD_SERVER, else the default port on this machine.
    func baseURL() throws -> ClientURL {
        let text = server ?? Environment.nonEmpty("HERALD_SERVER") ?? "http://127.0.0.1:8080"
        do {
            let url = try ClientURL(parsing: text)
            guard url.scheme == .http || url.scheme == .https else {
                throw ValidationError("--server must be an http:// or https:// URL, not \(text)")
            }
            return url
        } catch let error as ClientError {
            throw ValidationError("--server: \(error.description)")
        }
    }
}

/// A task id as the path segment of /api/tasks/{id} (percent-encoded: the server checks it).
struct TaskIDArgument: ParsableArguments {
    @Argument(help: ArgumentHelp("The task's id.", valueName: "id"))
    var id: String
}

/// Sends a request to the task API and turns the answer into output and an exit status.
enum TaskAPI {
    static func call(
        _ options: ClientOptions, method: String, path: String, query: [(String, String)] = [], body: JSONBody? = nil,
        extraWait: Double = 0
    ) throws {
        let base = try options.baseURL()
        let url = base.appending(path: path, query: query.isEmpty ? nil : PercentEncoding.query(query))
        var headers = HTTPHeaders()
        if body != nil { headers.add(name: "Content-Type", value: "application/json") }
        if let token = options.effectiveToken { headers.add(name: "Authorization", value: "Bearer \(token)") }
        let response: HTTPClientResponse
        do {
            response = try HTTPClient.request(
                method: method, url: url, body: body.map { Array($0.text.utf8) }, headers: headers,
                timeout: options.timeout + extraWait, tls: options.tls)
        } catch {
            throw CLIOutput.failure(error.description)
        }
        guard (200..<300).contains(response.status) else {
            throw CLIOutput.failure(errorMessage(response))
        }
        CLIOutput.standardOutput(JSONOutput.format(response.body, pretty: options.pretty) + "\n")
    }

    /// `<message> (<code>, HTTP <status>)` from the contract's error shape, or the status and
    /// the start of whatever the body was.
    static func errorMessage(_ response: HTTPClientResponse) -> String {
        if let error = JSONOutput.errorObject(response.body) {
            return "\(error.message) (\(error.code), HTTP \(response.status))"
        }
        let text = response.bodyText.trimmingHTTPWhitespace()
        let excerpt = text.count > 200 ? String(text.prefix(200)) + "…" : text
        return "HTTP \(response.status)" + (excerpt.isEmpty ? "" : ": \(excerpt)")
    }

    static func taskPath(_ id: String, _ action: String? = nil) -> String {
        "/api/tasks/" + PercentEncoding.encode(id) + (action.map { "/" + $0 } ?? "")
    }
}

/// A JSON object written field by field for a request body; JSON-valued arguments are checked
/// before they are embedded.
struct JSONBody {
    private var fields: [String] = []

    mutating func string(_ key: String, _ value: String?) {
        guard let value else { return }
        fields.append("\(JSONText.quote(key)):\(JSONText.quote(value))")
    }

    mutating func number(_ key: String, _ value: Double?) {
        guard let value else { return }
        fields.append("\(JSONText.quote(key)):\(JSONOutput.number(value))")
    }

    /// Already-validated JSON text, embedded as is.
    mutating func raw(_ key: String, _ json: String?) {
        guard let json else { return }
        fields.append("\(JSONText.quote(key)):\(json)")
    }

    var text: String { "{" + fields.joined(separator: ",") + "}" }
}

/// Checks of option values that the server would refuse less clearly.
enum ArgumentCheck {
    static func finite(_ value: Double?, _ option: String, min: Double? = nil, max: Double? = nil) throws {
        guard let value else { return }
        guard value.isFinite else { throw ValidationError("\(option) must be a finite number") }
        if let min, value < min { throw ValidationError("\(option) must be at least \(JSONOutput.number(min))") }
        if let max, value > max { throw ValidationError("\(option) must be at most \(JSONOutput.number(max))") }
    }

    /// `text` parsed as JSON (and, when `objectOnly`, as an object); returns it compact.
    static func json(_ text: String?, _ option: String, objectOnly: Bool = false) throws -> String? {
        guard let text else { return nil }
        switch JSONOutput.validate(text, objectOnly: objectOnly) {
        case .valid(let compact): return compact
        case .notJSON(let message): throw ValidationError("\(option) is not valid JSON: \(message)")
        case .notObject: throw ValidationError("\(option) must be a JSON object, like '{\"key\":\"value\"}'")
        case .duplicateKeys: throw ValidationError("\(option) has a key twice")
        }
    }
}
