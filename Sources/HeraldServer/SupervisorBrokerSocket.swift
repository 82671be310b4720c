import Glibc
import HeraldLoop

/// Where the supervisor's broker listens: `--broker PATH` if given, else `<data>/broker.sock`
/// (the data directory created 0700 if missing: the lock file sits next to the socket, and only
/// we may connect), else — with `--data :memory:` — a fresh name in Linux's abstract socket
/// namespace, `@herald-broker-PID-RANDOM`.
///
/// Why an abstract name for `:memory:`: it has no file, so there is nothing to remove at exit
/// and nothing is left behind when the supervisor and its broker are killed with -9 (a private
/// temporary directory was, with the socket and its lock file in it: only a graceful exit
/// removed it, and a sweep at the next start could not tell a dead supervisor's directory from
/// one a supervisor had just made). The kernel frees the name with the broker's socket. What a
/// directory of mode 0700 gave, the peers' credentials give now: the broker accepts only our
/// uid, and a worker connects only to a listener of our uid (`UnixSocket.isAbstract`). Two
/// brokers cannot share the name (bind fails with EADDRINUSE), so no lock file is needed; the
/// random part keeps supervisors apart and makes the name unguessable before it is bound.
struct SupervisorBrokerSocket {
    let path: String
    /// `--data` for a broker we start.
    let dataDirectory: String

    static let fileName = "broker.sock"

    /// True for the abstract name of `:memory:`: no lock file, no other broker to share with.
    var isAbstract: Bool { UnixSocket.isAbstract(path) }

    init(brokerPath: String?, dataDirectory: String) throws(ServerStartupError) {
        self.dataDirectory = dataDirectory
        if let brokerPath {
            path = brokerPath
        } else if dataDirectory == ":memory:" {
            path = "@herald-broker-\(getpid())-\(String(UInt64.random(in: 0...UInt64.max), radix: 16))"
        } else {
            try Self.makeDirectories(dataDirectory)
            path = (dataDirectory.hasSuffix("/") ? dataDirectory : dataDirectory + "/") + Self.fileName
        }
        // Checked here, once, rather than as a broker crash loop.
        guard path.utf8.count <= UnixSocket.maxPathBytes else {
            throw ServerStartupError(description: "the broker socket path \(path) is \(path.utf8.count) bytes, more than the \(UnixSocket.maxPathBytes) a Unix socket allows; pass a shorter --broker")
        }
    }

    /// `mkdir -p` with mode 0700 for each directory it creates; existing ones are left as they are.
    private static func makeDirectories(_ path: String) throws(ServerStartupError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += component
            if mkdir(prefix, 0o700) != 0 && errno != EEXIST {
                throw ServerStartupError(description: "cannot create --data \(path): \(SystemError("mkdir(\(prefix))"))")
            }
            prefix += "/"
        }
    }
}
