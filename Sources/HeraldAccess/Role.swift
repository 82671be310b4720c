import HeraldTasks

/// What a token's holder may do (contract v2, "Access"): the `role` claim.
public enum Role: String, Sendable, CaseIterable, Comparable {
    /// Sees its own tasks; may cancel, retry and delete them.
    case viewer
    /// A viewer that also creates its own tasks and makes every change to them (the app's workers).
    case worker
    /// Everything, every owner (the app's backend; `--publish-token`).
    case admin

    public static func < (a: Role, b: Role) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}
