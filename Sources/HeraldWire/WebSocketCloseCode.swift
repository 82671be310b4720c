/// Close status codes (RFC 6455 §7.4.1 and the IANA "WebSocket Close Code Number" registry).
public enum WebSocketCloseCode {
    public static let normal: UInt16 = 1000
    public static let goingAway: UInt16 = 1001
    public static let protocolError: UInt16 = 1002
    public static let unsupportedData: UInt16 = 1003
    /// Never on the wire: "no status code was present" (RFC 6455 §7.4.1).
    public static let noStatusReceived: UInt16 = 1005
    /// Never on the wire: "closed abnormally, without a close frame".
    public static let abnormalClosure: UInt16 = 1006
    public static let invalidPayload: UInt16 = 1007
    public static let policyViolation: UInt16 = 1008
    public static let messageTooBig: UInt16 = 1009
    public static let mandatoryExtension: UInt16 = 1010
    public static let internalError: UInt16 = 1011
    public static let serviceRestart: UInt16 = 1012
    public static let tryAgainLater: UInt16 = 1013
    public static let badGateway: UInt16 = 1014

    /// Whether a close frame from the peer may carry `code`.
    /// RFC 6455 §7.4.1–§7.4.2: 0–999 are unused, 1004 is reserved, 1005/1006/1015 must never be
    /// sent, the rest of 1000–2999 is for the protocol (IANA has assigned up to 1014), 3000–3999
    /// is registered for libraries and 4000–4999 is private use; 5000 and up are undefined.
    public static func isValidReceived(_ code: UInt16) -> Bool {
        switch code {
        case 1000...1003, 1007...1014: true
        case 3000...4999: true
        default: false
        }
    }
}
