import ArgumentParser
@testable import HeraldServer
import Testing
@testable import herald

/// `HERALD_<FLAG>` for `herald serve`: every option has its variable (derived from
/// ArgumentParser, checked here against two other sources), the command line wins, values are
/// parsed and validated like flags, and workers get them through their arguments once.
@Suite struct EnvironmentOptionsTests {
    static func lookup(_ variables: [String: String]) -> (String) -> String? {
        { variables[$0] }
    }

    static func serve(_ commandLine: [String] = [], _ variables: [String: String]) throws -> Serve {
        try Serve.parse(EnvironmentOptions.serveArguments(commandLine, variableNames: variables.keys, lookup: lookup(variables)))
    }

    // MARK: Coverage

    @Test func everyServeOptionHasAVariable() throws {
        let (options, unmapped) = EnvironmentOptions.options(of: Serve.self)
        #expect(unmapped.isEmpty, "serve arguments no variable can set: \(unmapped)")

        // Source 2: every `--name` the help screen shows (hidden ones too).
        let help = Serve.helpMessage(includeHidden: true, columns: 10_000)
        var shown = Set<String>()
        var rest = Substring(help)
        while let range = rest.range(of: "--") {
            let name = rest[range.upperBound...].prefix { $0.isLetter || $0.isNumber || $0 == "-" }
            if let first = name.first, first.isLetter { shown.insert(String(name)) }
            rest = rest[range.upperBound...]
        }
        shown.subtract(EnvironmentOptions.excluded)
        // The discussion quotes other commands' flags (`herald worker --port PORT …`): only
        // the options section counts.
        let listed = Set(help.components(separatedBy: "\n").compactMap { line -> String? in
            let trimmed = line.drop { $0 == " " }
            guard trimmed.hasPrefix("--"), line.hasPrefix("  ") else { return nil }
            return String(trimmed.dropFirst(2).prefix { $0.isLetter || $0.isNumber || $0 == "-" })
        }).subtracting(EnvironmentOptions.excluded)
        #expect(!listed.isEmpty)
        #expect(listed.isSubset(of: shown))
        #expect(Set(options.map(\.name)) == listed, "help lists \(listed.subtracting(options.map(\.name))) without a variable")

        // Source 3: the property wrappers themselves, counted through every @OptionGroup.
        let parsed = try Serve.parse([])
        #expect(Self.countOptionWrappers(in: parsed) == options.count)

        // The option groups are in: a few from each.
        let names = Set(options.map(\.name))
        for name in ["workers", "port", "max-connections", "allow-origin", "echo", "log-level", "log-format", "access-log",
                     "history", "task-stall", "publish-token", "auth-secret-file"] {
            #expect(names.contains(name), "\(name)")
        }
    }

    /// `@Option`/`@Flag` wrappers reachable from `value`, descending into `@OptionGroup`s.
    static func countOptionWrappers(in value: Any) -> Int {
        var count = 0
        for child in Mirror(reflecting: value).children {
            let type = String(describing: Swift.type(of: child.value))
            if type.hasPrefix("Option<") || type.hasPrefix("Flag<") {
                count += 1
            } else if type.hasPrefix("OptionGroup<") {
                // OptionGroup's storage holds the parsed group; find the ParsableArguments in it.
                count += countInsideGroup(child.value)
            }
        }
        return count
    }

    private static func countInsideGroup(_ group: Any) -> Int {
        for child in Mirror(reflecting: group).children {
            if child.value is ParsableArguments { return countOptionWrappers(in: child.value) }
            let inner = countInsideGroup(child.value)
            if inner > 0 { return inner }
        }
        return 0
    }

    @Test(arguments: [("max-connections", "HERALD_MAX_CONNECTIONS"), ("allow-origin", "HERALD_ALLOW_ORIGIN"),
                      ("echo", "HERALD_ECHO"), ("port", "HERALD_PORT"), ("max-connections-per-ip", "HERALD_MAX_CONNECTIONS_PER_IP")])
    func variableNameIsTheFlagInCapitalsWithUnderscores(flag: String, variable: String) {
        #expect(EnvironmentOptions.variable(forOption: flag) == variable)
    }

    // MARK: Values

    @Test func variablesSetOptionsOfEveryGroup() throws {
        let serve = try Self.serve([], [
            "HERALD_PORT": "9123", "HERALD_DATA": ":memory:", "HERALD_MAX_CONNECTIONS": "50",
            "HERALD_ALLOW_ORIGIN": "https://a.example, https://b.example,", "HERALD_ECHO": "yes", "HERALD_BENCH": "0",
            "HERALD_LOG_FORMAT": "json", "HERALD_LOG_LEVEL": "debug", "HERALD_ACCESS_LOG": "off",
            "HERALD_HISTORY": "77", "HERALD_TASK_STALL": "30", "HERALD_WORKERS": "3", "HERALD_PING_INTERVAL": "2.5",
        ])
        #expect(serve.workers == 3)
        #expect(serve.options.port == 9123)
        #expect(serve.options.dataDirectory == ":memory:")
        #expect(serve.options.maxConnections == 50)
        #expect(serve.options.allowedOrigins == ["https://a.example", "https://b.example"])
        #expect(serve.options.echo)
        #expect(!serve.options.bench)
        #expect(serve.options.log.logFormat == .json)
        #expect(serve.options.log.logLevel == .debug)
        #expect(serve.options.accessLog == .off)
        #expect(serve.options.tasks.history == 77)
        #expect(serve.options.tasks.taskStall == 30)
        #expect(serve.options.pingInterval == 2.5)
    }

    @Test func theCommandLineWinsOverTheEnvironment() throws {
        let serve = try Self.serve(["--port", "7000", "--allow-origin=https://c.example", "--log-format", "text"], [
            "HERALD_PORT": "9123", "HERALD_ALLOW_ORIGIN": "https://a.example", "HERALD_LOG_FORMAT": "json",
            "HERALD_MAX_BODY": "2048",
        ])
        #expect(serve.options.port == 7000)
        #expect(serve.options.allowedOrigins == ["https://c.example"])  // not merged with the variable's
        #expect(serve.options.log.logFormat == .text)
        #expect(serve.options.maxBody == 2048)
    }

    @Test func anEmptyVariableIsUnsetAndAFalseFlagIsOff() throws {
        let serve = try Self.serve([], ["HERALD_PORT": "", "HERALD_ECHO": "false", "HERALD_PUBLISH_TOKEN": ""])
        #expect(serve.options.port == 8080)
        #expect(!serve.options.echo)
        #expect(serve.options.publishToken == nil)
    }

    /// `--deflate/--no-deflate` is one option: HERALD_DEFLATE=0 turns it off, the command line wins.
    @Test func anInvertedFlagIsTurnedOffByItsVariable() throws {
        #expect(try Self.serve([], [:]).options.configuration.deflate)
        #expect(try Self.serve([], ["HERALD_DEFLATE": "0"]).options.configuration.deflate == false)
        #expect(try Self.serve(["--deflate"], ["HERALD_DEFLATE": "off"]).options.configuration.deflate)
        #expect(try Self.serve(["--no-deflate"], ["HERALD_DEFLATE": "1"]).options.configuration.deflate == false)
    }

    @Test(arguments: [
        ("HERALD_PORT", "abc", "'abc'"),
        ("HERALD_PORT", "70000", "--port must be between 0 and 65535"),
        ("HERALD_MAX_CONNECTIONS", "0", "--max-connections must be a positive whole number"),
        ("HERALD_ECHO", "maybe", "'maybe'"),
        ("HERALD_LOG_FORMAT", "yaml", "'yaml'"),
        ("HERALD_ALLOW_ORIGIN", "ftp://x", "--allow-origin"),
        ("HERALD_WORKERS", "99", "--workers must be between 1 and"),
    ])
    func aBadValueIsRefusedNamingItsVariable(variable: String, value: String, says: String) {
        do {
            _ = try EnvironmentOptions.serveArguments([], variableNames: [variable, "HERALD_HOST"], lookup: Self.lookup([variable: value, "HERALD_HOST": "0.0.0.0"]))
            Issue.record("\(variable)=\(value) was accepted")
        } catch {
            #expect(error.variable == variable)
            #expect(error.message.contains(says), "\(error.message)")
            #expect(!error.description.contains("\n"))
        }
    }

    /// Without a `HERALD_` variable the command line is taken as it is, without looking the
    /// options up; with one, even one that names no option, they are looked up and read.
    @Test func anEnvironmentWithoutHeraldVariablesAddsNothing() throws {
        let variables = ["HERALD_PORT": "9001"]
        #expect(try EnvironmentOptions.serveArguments(["--host", "::1"], variableNames: ["PATH", "HOME", "HERALDPORT"],
                                                      lookup: Self.lookup(variables)) == ["--host", "::1"])
        #expect(try EnvironmentOptions.serveArguments(["--host", "::1"], variableNames: ["PATH", "HERALD_PORT"],
                                                      lookup: Self.lookup(variables)) == ["--port", "9001", "--host", "::1"])
        #expect(Herald.environmentNames().contains("PATH"))
    }

    @Test func helpWorksWhateverTheEnvironmentSays() throws {
        #expect(try EnvironmentOptions.serveArguments(["--help"], variableNames: ["HERALD_PORT"], lookup: Self.lookup(["HERALD_PORT": "abc"])) == ["--help"])
        let help = Serve.helpMessage(columns: 200)
        #expect(help.contains("HERALD_MAX_CONNECTIONS"))
        #expect(help.contains("HERALD_ALLOW_ORIGIN=https://a.example,https://b.example"))
    }

    // MARK: Workers

    @Test func workersGetEnvironmentValuesThroughTheirArgumentsOnce() throws {
        let serve = try Self.serve(["--workers", "2"], [
            "HERALD_ALLOW_ORIGIN": "https://a.example,https://b.example", "HERALD_MAX_CONNECTIONS": "9",
            "HERALD_LOG_FORMAT": "json", "HERALD_ACCESS_LOG": "off", "HERALD_ECHO": "1", "HERALD_HISTORY": "5",
        ])
        let launch = WorkerLaunch(index: 1, restarts: 0, port: 4242, brokerPath: "/tmp/b.sock", readyFD: 3, supervisorPID: 1)
        let arguments = serve.options.workerArguments(launch)
        #expect(arguments.filter { $0 == "--allow-origin" }.count == 2)
        #expect(arguments.filter { $0 == "--max-connections" }.count == 1)
        #expect(arguments.contains("--echo"))
        #expect(!arguments.contains("--history"), "task limits go to the broker")

        // The worker parses exactly that, with the environment ignored (it is `herald worker`).
        let worker = try WorkerCommand.parse(Array(arguments.dropFirst(2)))
        #expect(worker.options.allowedOrigins == ["https://a.example", "https://b.example"])
        #expect(worker.options.maxConnections == 9)
        #expect(worker.options.log.logFormat == .json)
        #expect(worker.options.accessLog == .off)
        #expect(worker.options.echo)
        #expect(worker.options.port == 4242)

        let broker = serve.options.brokerArguments(BrokerLaunch(socketPath: "/tmp/b.sock", dataDirectory: ":memory:", supervisorPID: 1))
        #expect(broker.contains("--log-format") && broker.contains("json"))
        #expect(broker.filter { $0 == "--history" }.count == 1)
    }

    /// Guards the hand-written `workerArguments` against drift: every serve option reaches the
    /// workers, or the broker, or is one of the few that stay with the supervisor.
    @Test func everyServeOptionReachesTheWorkersOrTheBrokerOrIsTheSupervisors() throws {
        let options = EnvironmentOptions.options(of: Serve.self).options
        // A value for each option without a default, so that it is set and must be passed on.
        let values = ["workers": "2", "max-connections": "5", "max-connections-per-ip": "2", "broker": "/tmp/b.sock",
                      "publish-token": "t", "auth-secret-file": "/tmp/secret", "allow-origin": "https://a.example",
                      "owner-max-active": "3", "owner-max-rate": "4", "task-timeout": "60", "task-stall": "30",
                      "public": "/srv/public", "tls-cert": "/tmp/cert.pem", "tls-key": "/tmp/key.pem"]
        // --broker and --redis exclude each other: the options are checked once with each.
        func commandLine(_ values: [String: String]) -> [String] {
            var line: [String] = []
            for option in options {
                if option.kind == .flag { line.append("--" + option.name) }
                if let value = values[option.name] { line += ["--" + option.name, value] }
            }
            return line
        }
        var redisValues = values
        redisValues["broker"] = nil
        redisValues["redis"] = "redis://127.0.0.1:6379/1"
        redisValues["redis-prefix"] = "p"
        redisValues["redis-timeout"] = "2"
        let serve = try Serve.parse(commandLine(values))
        let serveOnRedis = try Serve.parse(commandLine(redisValues))
        let launch = WorkerLaunch(index: 1, restarts: 0, port: 1, brokerPath: "/tmp/b.sock", readyFD: 3, supervisorPID: 1)
        let flags = { (argv: [String]) in Set(argv.filter { $0.hasPrefix("--") }.map { String($0.dropFirst(2)) }) }
        let toRedisWorkers = flags(serveOnRedis.options.workerArguments(launch))
        #expect(!toRedisWorkers.contains("broker") && toRedisWorkers.isSuperset(of: ["redis", "redis-prefix", "redis-timeout", "history"]))
        let toWorkers = flags(serve.options.workerArguments(launch)).union(toRedisWorkers)
        let toBroker = flags(serve.options.brokerArguments(BrokerLaunch(socketPath: "/tmp/b.sock", dataDirectory: "/d", supervisorPID: 1)))
        // The supervisor's own; the data directory goes to the broker as --data; the publish
        // token reaches the workers through the environment (kept out of `ps`).
        let supervisors: Set = ["workers", "publish-token"]
        let missing = Set(options.map(\.name)).subtracting(toWorkers).subtracting(toBroker).subtracting(supervisors)
        #expect(missing.isEmpty, "serve options that reach neither the workers nor the broker: \(missing.sorted())")
    }
}
