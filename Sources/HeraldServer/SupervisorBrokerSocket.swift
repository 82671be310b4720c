import Glibc
import HeraldLoop

/// Where the supervisor's broker listens: `--broker PATH` if given, else `<data>/broker.sock`
/// (the data directory created 0700 if missing: the lock file sits next to the socket, and only
/// we may connect), else — with `--data :memory:` — a fresh private directory removed at exit.
struct SupervisorBrokerSocket {
    let path: String
    /// `--data` for a broker we start.
    let dataDirectory: String
    /// The mkdtemp directory to remove at exit, with `:memory:` and no --broker.
    let temporaryDirectory: String?

    static let fileName = "broker.sock"

    init(brokerPath: String?, dataDirectory: String) throws(ServerStartupError) {
        self.dataDirectory = dataDirectory
        if let brokerPath {
            path = brokerPath
            temporaryDirectory = nil
        } else if dataDirectory == ":memory:" {
            var template = Array("/tmp/herald-XXXXXX".utf8CString)
            guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
                throw ServerStartupError(description: "cannot create a directory for the broker socket: \(SystemError("mkdtemp"))")
            }
            let directory = String(cString: made)  // mkdtemp makes it mode 0700
            path = directory + "/" + Self.fileName
            temporaryDirectory = directory
        } else {
            try Self.makeDirectories(dataDirectory)
            path = (dataDirectory.hasSuffix("/") ? dataDirectory : dataDirectory + "/") + Self.fileName
            temporaryDirectory = nil
        }
        // Checked here, once, rather than as a broker crash loop.
        guard path.utf8.count <= UnixSocket.maxPathBytes else {
            removeTemporaryDirectory()
            throw ServerStartupError(description: "the broker socket path \(path) is \(path.utf8.count) bytes, more than the \(UnixSocket.maxPathBytes) a Unix socket allows; pass a shorter --broker")
        }
    }

    /// Removes the temporary directory with the socket and lock file in it (after the broker stopped).
    func removeTemporaryDirectory() {
        guard let directory = temporaryDirectory else { return }
        unlink(path)
        unlink(path + ".lock")
        rmdir(directory)
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
