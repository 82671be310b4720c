import ArgumentParser

@main
struct Herald: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "herald",
        abstract: "A live-progress push server: workers report task progress over HTTP, dashboards receive it over WebSocket.",
        discussion: """
            Start the server with `herald serve`, then open http://127.0.0.1:8080/. \
            See docs/protocol.md for the HTTP and WebSocket protocol.
            """,
        version: "herald \(HeraldVersionString.value)",
        subcommands: [Serve.self, TaskCommand.self, WatchCommand.self, TokenCommand.self, BrokerCommand.self, WorkerCommand.self]
    )
}
