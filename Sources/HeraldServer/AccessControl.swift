import HeraldAccess
import HeraldTasks
import HeraldWire

/// The one place where requests to `/api`, `/ws` and `/metrics` are authenticated (contract v2,
/// "Access"). With `--auth-secret-file`, each needs a valid token — a JWT (HS256) or the
/// `--publish-token` (acting as admin) — from `Authorization: Bearer`, `?token=` or the
/// `herald_token` cookie, in that order. Without it, everyone is unrestricted, except that
/// with a publish token alone, changes under /api need it (the v1 behaviour).
struct AccessControl: Sendable {
    let verifier: TokenVerifier?
    let publishToken: [UInt8]?
    /// Unix seconds; tests move it.
    var now: @Sendable () -> Double = { Double(TaskHub.wallClockMilliseconds()) / 1000 }

    static let cookieName = "herald_token"

    var isEnabled: Bool { verifier != nil }

    enum Decision {
        case allow(Principal)
        case refuse(HTTPResponse, AccessRefusal)
    }

    /// Who `head` acts for, or the 401 to answer.
    func authenticate(_ head: HTTPRequestHead) -> Decision {
        guard let verifier else { return legacyDecision(head) }
        guard let credential = Self.credential(in: head) else { return .refuse(Self.unauthorized(presented: false), .missing) }
        switch principal(for: credential, verifier: verifier) {
        case .success(let principal): return .allow(principal)
        case .failure(.expired): return .refuse(Self.unauthorized(presented: true), .expired)
        case .failure: return .refuse(Self.unauthorized(presented: true), .invalid)
        }
    }

    /// Verifies a token sent on an open socket (`{"op":"auth"}`).
    func verify(token: String) -> Result<Principal, TokenError> {
        guard let verifier else { return .failure(.malformed("access control is off")) }
        return principal(for: Array(token.utf8), verifier: verifier)
    }

    /// The moment a principal's token stops being accepted (`exp` plus the leeway), Unix seconds.
    func deadline(of principal: Principal) -> Double? {
        principal.expiresAt.map { $0 + (verifier?.leeway ?? 0) }
    }

    private func principal(for credential: [UInt8], verifier: TokenVerifier) -> Result<Principal, TokenError> {
        if let publishToken, ConstantTime.equal(credential, publishToken) {
            return .success(Principal(subject: nil, role: .admin, expiresAt: nil))
        }
        do throws(TokenError) {
            return .success(try verifier.verify(credential, now: now()))
        } catch {
            return .failure(error)
        }
    }

    /// v1: `--publish-token` alone guards changes (POST, DELETE) under /api; the rest is open.
    private func legacyDecision(_ head: HTTPRequestHead) -> Decision {
        guard let publishToken, head.path.hasPrefix("/api"), head.method == "POST" || head.method == "DELETE" else {
            return .allow(.unrestricted)
        }
        let presented = head.headers["authorization"].flatMap(Self.bearer) ?? []
        if ConstantTime.equal(presented, publishToken) { return .allow(.unrestricted) }
        var response = HTTPResponse.error(
            status: 401, code: "unauthorized",
            message: presented.isEmpty ? "this server needs the publish token: Authorization: Bearer <token>" : "the publish token is not right")
        response.headers.add(name: "WWW-Authenticate", value: "Bearer realm=\"herald\"")
        return .refuse(response, presented.isEmpty ? .missing : .invalid)
    }

    // MARK: Where a token comes from

    /// The first credential present: the Authorization header, then `?token=`, then the cookie.
    /// A header that is present but not `Bearer …` counts as a bad credential, not as none.
    static func credential(in head: HTTPRequestHead) -> [UInt8]? {
        if let header = head.headers["authorization"] { return bearer(header) ?? [] }
        if let token = head.queryValue("token") { return Array(token.utf8) }
        if let cookie = head.headers["cookie"], let token = cookieValue(named: cookieName, in: cookie) { return Array(token.utf8) }
        return nil
    }

    static func bearer(_ value: String) -> [UInt8]? {
        let parts = value.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return Array(parts[1].trimmingHTTPWhitespace().utf8)
    }

    /// RFC 6265 §5.4: `name=value` pairs separated by `;`.
    static func cookieValue(named name: String, in header: String) -> String? {
        for pair in header.split(separator: ";") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, parts[0].trimmingHTTPWhitespace() == name else { continue }
            var value = parts[1].trimmingHTTPWhitespace()
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            return value
        }
        return nil
    }

    // MARK: Refusals

    /// One answer for every bad token (RFC 6750 §3): which check failed is not said.
    static func unauthorized(presented: Bool) -> HTTPResponse {
        let message = presented ? "the token is not valid (expired, not yet valid, wrongly signed or malformed)"
                                : "a token is needed: Authorization: Bearer <jwt>, ?token=<jwt> or the herald_token cookie"
        var response = HTTPResponse.error(status: 401, code: "unauthorized", message: message)
        response.headers.add(name: "WWW-Authenticate", value: presented ? "Bearer realm=\"herald\", error=\"invalid_token\"" : "Bearer realm=\"herald\"")
        response.headers.replaceOrAdd(name: "Cache-Control", value: "no-store")
        return response
    }

    static func forbidden(_ message: String) -> HTTPResponse {
        .error(status: 403, code: "forbidden", message: message)
    }
}

/// Why a request or socket was refused, counted per process for /metrics
/// (`herald_auth_refusals_total{reason}`): a wave of `expired` is clients looping on a dead token,
/// seen without logging a single token.
enum AccessRefusal: String, CaseIterable {
    case missing, expired, invalid
    /// A refused `/ws` upgrade (`--allow-origin`).
    case origin
    /// An open socket closed with 4001.
    case socketExpired = "socket_expired"
}

/// The refusal counters of one loop (loop thread only).
final class AccessRefusalCounter {
    private(set) var counts: [AccessRefusal: UInt64] = [:]

    func count(_ reason: AccessRefusal) {
        counts[reason, default: 0] += 1
    }
}
