import HeraldTasks

extension Role {
    /// The changes a viewer may make to its own tasks (contract v2: cancel, retry, delete).
    static let viewerActions: Set<String> = ["cancel", "retry", "delete"]

    /// Whether this role may ask for the named action (`create`, `start`, `progress`, …, the
    /// last segment of `/api/tasks/{id}/<action>`, or `delete`) at all. Ownership is checked
    /// by the task actor; a refusal here does not depend on any task, so it reveals nothing.
    public func may(action: String) -> Bool {
        self != .viewer || Self.viewerActions.contains(action)
    }
}
