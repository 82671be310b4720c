import HeraldTasks

/// Who a request acts for, once its token is verified.
public struct Principal: Sendable, Equatable {
    /// The owner the token acts for (the `sub` claim); nil for the publish token, which is no user.
    public var subject: String?
    public var role: Role
    /// The token's `exp` (Unix seconds; `AccessControl.deadline(of:)` adds the leeway); nil: never (the publish token).
    public var expiresAt: Double?

    public init(subject: String?, role: Role, expiresAt: Double?) {
        self.subject = subject
        self.role = role
        self.expiresAt = expiresAt
    }

    /// Access control off: everyone may do everything (Herald before v2, and the default).
    public static let unrestricted = Principal(subject: nil, role: .admin, expiresAt: nil)

    /// The only owner whose tasks this principal sees; nil: every owner.
    public var visibleOwner: String? { role == .admin ? nil : subject }

    /// `request` as the task actor must see it: restricted to the caller's own tasks unless admin.
    public func scoped(_ request: TaskRequest) -> TaskRequest {
        guard let owner = visibleOwner else { return request }
        return .scoped(owner: owner, request)
    }
}
