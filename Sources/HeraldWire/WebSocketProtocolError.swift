/// Why a peer's bytes broke RFC 6455, with the close code the connection must be failed with
/// (RFC 6455 §7.1.7, §7.4.1): 1002 protocol error, 1007 invalid payload data, 1009 too big.
public struct WebSocketProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    public var closeCode: UInt16
    /// A short reason for the close frame and the log; ASCII, well under 123 bytes.
    public var reason: String

    public init(closeCode: UInt16, reason: String) {
        self.closeCode = closeCode
        self.reason = reason
    }

    public static func protocolError(_ reason: String) -> Self {
        Self(closeCode: WebSocketCloseCode.protocolError, reason: reason)
    }

    public static func invalidPayload(_ reason: String) -> Self {
        Self(closeCode: WebSocketCloseCode.invalidPayload, reason: reason)
    }

    public static func messageTooBig(_ reason: String) -> Self {
        Self(closeCode: WebSocketCloseCode.messageTooBig, reason: reason)
    }

    public var description: String { "WebSocket \(closeCode): \(reason)" }
}
