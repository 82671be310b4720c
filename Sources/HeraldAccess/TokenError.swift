/// Why a token was refused. The client only ever hears "401 unauthorized" (telling it which
/// check failed helps an attacker more than a user); the reason goes to the debug log.
public enum TokenError: Error, Equatable, Sendable, CustomStringConvertible {
    case malformed(String)
    case unsupportedAlgorithm(String)
    case badSignature
    case invalidClaim(String)
    case expired
    case notYetValid

    public var description: String {
        switch self {
        case .malformed(let why): return "malformed token: \(why)"
        case .unsupportedAlgorithm(let alg): return "algorithm \(alg) is refused (HS256 only)"
        case .badSignature: return "the signature does not match"
        case .invalidClaim(let why): return "invalid claim: \(why)"
        case .expired: return "the token has expired"
        case .notYetValid: return "the token is not valid yet"
        }
    }
}
