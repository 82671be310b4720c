import ArgumentParser
import Glibc
import HeraldAccess
import HeraldTasks

/// `herald token`: mints a JWT for a server started with the same `--auth-secret-file`, for
/// scripts, tests and first steps (an app mints its own with PyJWT or jsonwebtoken: SECURITY.md).
struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Print a token (JWT, HS256) for a server that checks tokens.",
        discussion: """
            The token acts for the owner --sub with --role (viewer: sees and cancels/retries/deletes \
            its own tasks; worker: also creates and reports on them; admin: everything) and expires \
            after --ttl seconds. Send it as `Authorization: Bearer <token>`, `?token=<token>` or the \
            cookie herald_token.
            """
    )

    @Option(name: .customLong("secret-file"), help: ArgumentHelp(
        "The server's --auth-secret-file (default: $HERALD_AUTH_SECRET_FILE).", valueName: "path"))
    var secretFile: String?

    @Option(help: ArgumentHelp("The owner the token acts for: 1–64 characters of A–Z a–z 0–9 . _ -.", valueName: "name"))
    var sub: String

    @Option(help: ArgumentHelp("viewer, worker or admin.", valueName: "role"))
    var role: String = Role.viewer.rawValue

    @Option(help: ArgumentHelp("Seconds until the token expires.", valueName: "seconds"))
    var ttl: Double = 3600

    /// A token is for a session, not a credential kept for years (the note: 15 min for browsers).
    static let maxTTL = 366.0 * 24 * 3600

    /// --secret-file, else $HERALD_AUTH_SECRET_FILE (as `serve` reads it).
    private var secretPath: String? { secretFile ?? Environment.nonEmpty("HERALD_AUTH_SECRET_FILE") }

    func validate() throws {
        guard TaskValidation.isValidOwner(sub) else { throw ValidationError("--sub must be 1–64 characters of A–Z a–z 0–9 . _ -") }
        guard Role(rawValue: role) != nil else { throw ValidationError("--role must be viewer, worker or admin") }
        guard ttl > 0, ttl <= Self.maxTTL else { throw ValidationError("--ttl must be between 1 second and 366 days") }
        guard secretPath != nil else {
            throw ValidationError("--secret-file is needed (or $HERALD_AUTH_SECRET_FILE)")
        }
    }

    func run() throws {
        let path = secretPath ?? ""
        do {
            let verifier = try TokenVerifier(key: AuthSecret.load(path: path))
            let now = Double(TaskHub.wallClockMilliseconds()) / 1000
            print(verifier.mint(subject: sub, role: Role(rawValue: role)!, ttl: ttl, now: now))
        } catch {
            FileDescriptorOutput.standardError("herald: \(error.description)\n")
            throw ExitCode(1)
        }
    }
}
