import Foundation
import HeraldTestSupport
import HeraldWire
import Testing
@testable import HeraldClient

/// The real `herald` binary (built next to this test bundle) against a real `herald serve`:
/// the task commands' output and exit statuses, and `herald watch` through a pipe. Skipped
/// when the binary is not there (a `--filter` build of this target alone).
@Suite(.serialized, .enabled(if: CLI.binary != nil, "the herald binary is not built next to the tests"))
struct CLIEndToEndTests {
    @Test func taskLifecycleThroughTheCommands() throws {
        let server = try CLI.Server()
        defer { server.stop() }
        guard server.hasTaskAPI else { return }
        let s = ["--server", server.url]

        let created = try CLI.run(["task", "create", "--title", "Nightly export", "--id", "e2e-1", "--total", "100", "--meta", "{\"k\":[1,2]}"] + s)
        #expect(created.status == 0 && created.stderr.isEmpty)
        #expect(created.stdout.hasSuffix("\n") && created.stdout.filter { $0 == "\n" }.count == 1, "one line")
        let task = try JSONParser.parse(created.stdout)
        #expect(task["id"]?.stringValue == "e2e-1" && task["status"]?.stringValue == "queued")
        #expect(task["meta"]?["k"] == [1, 2])

        #expect(try CLI.run(["task", "start", "e2e-1"] + s).status == 0)
        let progress = try CLI.run(["task", "progress", "e2e-1", "--done", "40", "--message", "copying"] + s)
        #expect(try JSONParser.parse(progress.stdout)["percent"] == 40)

        let backwards = try CLI.run(["task", "progress", "e2e-1", "--done", "10"] + s)
        #expect(backwards.status == 1 && backwards.stdout.isEmpty)
        #expect(backwards.stderr.hasPrefix("herald: ") && backwards.stderr.hasSuffix(" (done_decreased, HTTP 409)\n"))

        // Cancel asked: the worker's next report still exits 0 and says so in the JSON.
        #expect(try CLI.run(["task", "cancel", "e2e-1"] + s).status == 0)
        let asked = try CLI.run(["task", "progress", "e2e-1", "--done", "50"] + s)
        #expect(asked.status == 0)
        #expect(try JSONParser.parse(asked.stdout)["cancel_requested"] == true)
        #expect(try JSONParser.parse(try CLI.run(["task", "cancelled", "e2e-1"] + s).stdout)["status"] == "cancelled")

        #expect(try JSONParser.parse(try CLI.run(["task", "retry", "e2e-1"] + s).stdout)["attempt"] == 2)
        _ = try CLI.run(["task", "start", "e2e-1"] + s)
        let failed = try CLI.run(["task", "fail", "e2e-1", "--code", "invalid_url", "--message", "no such host"] + s)
        #expect(try JSONParser.parse(failed.stdout)["error"]?["code"] == "invalid_url")
        _ = try CLI.run(["task", "retry", "e2e-1"] + s)
        _ = try CLI.run(["task", "start", "e2e-1"] + s)
        _ = try CLI.run(["task", "heartbeat", "e2e-1"] + s)
        let done = try CLI.run(["task", "complete", "e2e-1", "--result", "\"/tmp/out.csv\""] + s)
        #expect(try JSONParser.parse(done.stdout)["result"] == "/tmp/out.csv")

        let pretty = try CLI.run(["task", "get", "e2e-1", "--pretty"] + s)
        #expect(pretty.stdout.hasPrefix("{\n  \"id\": \"e2e-1\",\n"))
        let list = try JSONParser.parse(try CLI.run(["task", "list", "--status", "succeeded", "--limit", "5"] + s).stdout)
        #expect(list["tasks"]?.arrayValue?.count == 1)
        #expect(try CLI.run(["task", "delete", "e2e-1"] + s).stdout == "{\"deleted\":\"e2e-1\",\"seq\":13}\n")
        let gone = try CLI.run(["task", "get", "e2e-1"] + s)
        #expect(gone.status == 1 && gone.stderr == "herald: no task with id e2e-1 (not_found, HTTP 404)\n")
    }

    @Test func longPollAnswersWhenTheTaskChanges() throws {
        let server = try CLI.Server()
        defer { server.stop() }
        guard server.hasTaskAPI else { return }
        let s = ["--server", server.url]
        let created = try JSONParser.parse(try CLI.run(["task", "create", "--title", "lp", "--id", "lp"] + s).stdout)
        let seq = created["seq"]?.intValue ?? 0
        let poll = try CLI.start(["task", "get", "lp", "--wait", "10", "--after", String(seq)] + s)
        Thread.sleep(forTimeInterval: 0.3)
        let start = Date()
        _ = try CLI.run(["task", "start", "lp"] + s)
        let answer = poll.finish()
        #expect(Date().timeIntervalSince(start) < 3)
        #expect(try JSONParser.parse(answer.stdout)["status"] == "running")
    }

    @Test func localChecksAndUnreachableServers() throws {
        let badMeta = try CLI.run(["task", "create", "--title", "x", "--meta", "{\"a\":"])
        #expect(badMeta.status != 0 && badMeta.stderr.contains("--meta is not valid JSON"))
        let notObject = try CLI.run(["task", "create", "--title", "x", "--meta", "[1]"])
        #expect(notObject.stderr.contains("--meta must be a JSON object"))
        let nan = try CLI.run(["task", "progress", "a", "--done", "nan"])
        #expect(nan.status != 0 && nan.stderr.contains("--done must be a finite number"))
        // A port nobody listens on.
        let port = CLI.freePort()
        let refused = try CLI.run(["task", "list", "--server", "http://127.0.0.1:\(port)"])
        #expect(refused.status == 1 && refused.stderr == "herald: cannot reach http://127.0.0.1:\(port): Connection refused\n")
        let fromEnvironment = try CLI.run(["task", "list"], environment: ["HERALD_SERVER": "http://127.0.0.1:\(port)"])
        #expect(fromEnvironment.stderr == "herald: cannot reach http://127.0.0.1:\(port): Connection refused\n")
    }

    @Test func watchThroughAPipePrintsOneLinePerEvent() throws {
        let server = try CLI.Server()
        defer { server.stop() }
        guard server.hasTaskAPI else { return }
        let s = ["--server", server.url]
        _ = try CLI.run(["task", "create", "--title", "before", "--id", "w0"] + s)
        let watch = try CLI.start(["watch", "--topic", "tasks", "--topic", "task:w1"] + s)
        Thread.sleep(forTimeInterval: 0.5)
        _ = try CLI.run(["task", "create", "--title", "Copy", "--id", "w1", "--total", "10"] + s)
        _ = try CLI.run(["task", "start", "w1"] + s)
        _ = try CLI.run(["task", "progress", "w1", "--done", "4", "--message", "copying \"a\""] + s)
        _ = try CLI.run(["task", "complete", "w1"] + s)
        _ = try CLI.run(["task", "delete", "w1"] + s)
        Thread.sleep(forTimeInterval: 0.5)
        kill(watch.process.processIdentifier, SIGINT)
        let out = watch.finish()
        #expect(out.status == 0)
        let lines = out.stdout.split(separator: "\n").map(String.init)
        let epoch = lines.first.flatMap { $0.split(separator: " ").first { $0.hasPrefix("epoch=") } } ?? "?"
        #expect(lines == [
            "seq=1 event=snapshot topic=tasks \(epoch) recovered=true tasks=1",
            "seq=1 task=w0 event=snapshot status=queued",
            "seq=1 event=snapshot topic=task:w1 \(epoch) recovered=true tasks=0",
            "seq=2 task=w1 event=created status=queued 0.0% 0/10",
            "seq=3 task=w1 event=started status=running 0.0% 0/10",
            "seq=4 task=w1 event=progress status=running 40.0% 4/10 \"copying \\\"a\\\"\"",
            "seq=5 task=w1 event=succeeded status=succeeded 100.0% 10/10 \"copying \\\"a\\\"\"",
            "seq=6 task=w1 event=removed",
        ])
    }
}

/// A `herald serve` started by these tests dies with the test process, however that ends: a
/// crashed or kill -9'd `swift test` must not leave servers behind holding ports.
@Suite(.serialized, .enabled(if: CLI.binary != nil, "the herald binary is not built next to the tests"))
struct TestServerLifetimeTests {
    static let reportVariable = "HERALD_TEST_SERVER_HELPER_REPORT"

    /// This test binary is run again (as the store's crash test does) to run only
    /// `helperStartsAServerAndWaits`, which starts a server through `CLI.Server` — the fixture
    /// every test here uses — and writes its pid. The helper is killed with SIGKILL: no defer,
    /// no atexit runs in it. Its server must be gone within seconds.
    @Test func aServerStartedByAKilledTestProcessDiesWithIt() throws {
        let report = NSTemporaryDirectory() + "herald-helper-\(getpid())-\(UUID().uuidString)"
        defer { unlink(report) }
        let helper = Process()
        helper.executableURL = URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
        helper.arguments = ["--testing-library", "swift-testing", "--filter", "helperStartsAServerAndWaits"]
        helper.environment = ProcessInfo.processInfo.environment.merging([Self.reportVariable: report]) { $1 }
        helper.standardOutput = FileHandle.nullDevice
        helper.standardError = FileHandle.nullDevice
        try DieWithTestProcess.run(helper)
        var server: pid_t = 0
        for _ in 0..<600 where server == 0 {  // 60 s: the helper loads the whole test bundle
            if let text = try? String(contentsOfFile: report, encoding: .utf8), let pid = pid_t(text) { server = pid }
            else { usleep(100_000) }
        }
        kill(helper.processIdentifier, SIGKILL)
        helper.waitUntilExit()
        try #require(server > 0, "the helper did not start a server")
        var gone = false
        for _ in 0..<100 where !gone {  // 10 s
            gone = !Self.isAlive(server)
            if !gone { usleep(100_000) }
        }
        if !gone { kill(server, SIGKILL) }
        #expect(gone, "herald serve (pid \(server)) outlived the test process that started it")
    }

    /// The child half of the test above; does nothing in a normal run.
    @Test func helperStartsAServerAndWaits() throws {
        guard let report = ProcessInfo.processInfo.environment[Self.reportVariable] else { return }
        let server = try CLI.Server()
        let pid = String(server.process.processIdentifier)
        try pid.write(toFile: report + ".tmp", atomically: false, encoding: .utf8)
        rename(report + ".tmp", report)
        while true { pause() }  // until SIGKILL
    }

    /// Running, or a zombie nobody reaped yet counts as dead (its parent is gone; init reaps it).
    static func isAlive(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(close, offsetBy: 2)]
        return state != "Z" && state != "X"
    }
}

/// Running the binary.
enum CLI {
    /// `herald` in the directory of the running test bundle (`.build/debug`).
    static let binary: String? = {
        guard let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return nil }
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        if dir.lastPathComponent.hasSuffix(".xctest") { dir = dir.deletingLastPathComponent() }
        let path = dir.appendingPathComponent("herald").path
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }()

    final class ProcessBox: @unchecked Sendable {
        let process: Process
        init(process: Process) { self.process = process }
    }

    /// Longest any one command may run (the long poll waits at most 10 s).
    static let watchdogSeconds = 30.0

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    final class Running {
        let process: Process
        let out = Pipe()
        let err = Pipe()

        init(_ arguments: [String], environment: [String: String]) throws {
            process = Process()
            process.executableURL = URL(fileURLWithPath: CLI.binary!)
            process.arguments = arguments
            var env = ProcessInfo.processInfo.environment
            env["HERALD_SERVER"] = nil
            for (k, v) in environment { env[k] = v }
            process.environment = env
            process.standardOutput = out
            process.standardError = err
            try DieWithTestProcess.run(process)
            // A command that hangs must fail the test, not the whole run.
            // isRunning stays true until the child is reaped, so the pid is still this child's.
            let box = ProcessBox(process: process)
            DispatchQueue.global().asyncAfter(deadline: .now() + CLI.watchdogSeconds) {
                if box.process.isRunning { kill(box.process.processIdentifier, SIGKILL) }
            }
        }

        func finish() -> Result {
            let stdout = out.fileHandleForReading.readDataToEndOfFile()
            let stderr = err.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                          stderr: String(decoding: stderr, as: UTF8.self))
        }
    }

    static func start(_ arguments: [String], environment: [String: String] = [:]) throws -> Running {
        try Running(arguments, environment: environment)
    }

    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Result {
        try start(arguments, environment: environment).finish()
    }

    /// `herald serve --data :memory: --port 0`, up once it printed its `listening on` line.
    final class Server {
        let process = Process()
        let url: String

        init() throws {
            process.executableURL = URL(fileURLWithPath: CLI.binary!)
            process.arguments = ["serve", "--data", ":memory:", "--port", "0", "--log-level", "error"]
            let err = Pipe()
            process.standardError = err
            process.standardOutput = FileHandle.nullDevice
            try DieWithTestProcess.run(process)
            var text = ""
            let handle = err.fileHandleForReading
            while !text.contains("\n") {
                let data = handle.availableData
                if data.isEmpty { break }
                text += String(decoding: data, as: UTF8.self)
            }
            guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("listening on ") }) else {
                process.terminate()
                throw ClientError.io("herald serve did not start: \(text)")
            }
            url = String(line.dropFirst("listening on ".count))
        }

        /// False for a server built before the task API (these tests then check nothing).
        var hasTaskAPI: Bool {
            guard let url = try? ClientURL(parsing: url + "/api/tasks"),
                let response = try? HTTPClient.request(method: "GET", url: url, timeout: 5)
            else { return false }
            return response.status == 200
        }

        func stop() {
            process.terminate()
            process.waitUntilExit()
        }
    }

    /// A port that was free a moment ago (bound, then released).
    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var bound = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: bound.sin_port))
    }
}
