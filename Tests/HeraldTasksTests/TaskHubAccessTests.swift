import HeraldWire
import Testing
@testable import HeraldTasks

/// Requests scoped to one owner: another owner's task is missing on every path, topics beyond
/// the owner's own are forbidden, and nothing changes on a refusal.
@Suite struct TaskHubAccessTests {
    static func create(_ id: String, owner: String?) throws -> TaskRequest {
        let ownerField = owner.map { #","owner":"\#($0)""# } ?? ""
        return .operation(.create(try TaskValidation.create(Array(#"{"id":"\#(id)","title":"T \#(id)"\#(ownerField)}"#.utf8))))
    }

    static func seeded() async throws -> TaskHub {
        let (hub, _) = TaskHubTests.make()
        _ = await hub.handle([try create("a1", owner: "alice"), try create("b1", owner: "bob"), try create("n1", owner: nil),
                              .operation(.start(id: "b1")), .operation(.fail(id: "b1", TaskFailure(code: "x", message: "secret of bob")))])
        return hub
    }

    static func reply(_ hub: TaskHub, _ request: TaskRequest) async -> TaskReply {
        TaskHubTests.replies(await hub.handle([request]))[0]
    }

    static func failure(_ reply: TaskReply) -> TaskError? {
        if case .failure(let error) = reply { return error }
        return nil
    }

    @Test func anotherOwnersTaskIsNotFoundLikeAMissingOne() async throws {
        let hub = try await Self.seeded()
        let missing = Self.failure(await Self.reply(hub, .scoped(owner: "alice", .get(id: "zz"))))
        let bobs = Self.failure(await Self.reply(hub, .scoped(owner: "alice", .get(id: "b1"))))
        #expect(missing?.status == 404 && bobs?.status == 404)
        #expect(bobs?.message == missing?.message.replacingOccurrences(of: "zz", with: "b1"))
        guard case .task = await Self.reply(hub, .scoped(owner: "alice", .get(id: "a1"))) else { Issue.record("own task hidden"); return }
    }

    @Test func changesToAnotherOwnersTaskAreNotFoundAndChangeNothing() async throws {
        let hub = try await Self.seeded()
        let seq = await hub.seq
        for op: TaskOperation in [.retry(id: "b1"), .delete(id: "b1"), .cancel(id: "b1"), .start(id: "n1")] {
            let out = await hub.handle([.scoped(owner: "alice", .operation(op))])
            #expect(TaskHubTests.events(out).isEmpty)
            #expect(Self.failure(TaskHubTests.replies(out)[0])?.status == 404)
        }
        #expect(await hub.seq == seq)
    }

    @Test func createsForAnotherOwnerAreForbidden() async throws {
        let hub = try await Self.seeded()
        #expect(Self.failure(await Self.reply(hub, .scoped(owner: "alice", try Self.create("a2", owner: "bob"))))?.status == 403)
        #expect(Self.failure(await Self.reply(hub, .scoped(owner: "alice", try Self.create("a3", owner: nil))))?.status == 403)
        guard case .task = await Self.reply(hub, .scoped(owner: "alice", try Self.create("a4", owner: "alice"))) else {
            Issue.record("own create refused")
            return
        }
    }

    @Test func listsShowOnlyTheOwnersTasksWhateverOwnerSays() async throws {
        let hub = try await Self.seeded()
        for asked in [nil, "bob", "alice"] as [String?] {
            guard case .list(let json) = await Self.reply(hub, .scoped(owner: "alice", .list(owner: asked, statuses: [], limit: nil))) else {
                Issue.record("no list")
                return
            }
            let text = String(decoding: json, as: UTF8.self)
            #expect(text.contains(#""id":"a1""#))
            #expect(!text.contains("b1") && !text.contains("n1") && !text.contains("bob"))
        }
    }

    @Test func topicsBeyondTheOwnersOwnAreForbidden() async throws {
        let hub = try await Self.seeded()
        for topic: TaskTopic in [.all, .owner("bob"), .task("b1"), .task("n1"), .task("zz")] {
            #expect(Self.failure(await Self.reply(hub, .scoped(owner: "alice", .subscribe(topic: topic, since: nil, epoch: nil))))?.code == "forbidden")
        }
        #expect(Self.failure(await Self.reply(hub, .scoped(owner: "alice", .stats)))?.status == 403)
        guard case .subscription(let messages) = await Self.reply(hub, .scoped(owner: "alice", .subscribe(topic: .owner("alice"), since: nil, epoch: nil))) else {
            Issue.record("own topic refused")
            return
        }
        let snapshot = try TaskHubTests.json(messages[0])
        #expect(snapshot["tasks"]?.arrayValue?.count == 1)
        #expect(snapshot["counts"]?["failed"]?.numberValue == 0)  // bob's failure is not counted
    }

    @Test func aResumeOfTaskTopicReplaysOnlyTheOwnersEvents() async throws {
        // bob's x is deleted, then alice creates a task with the same id: alice resuming task:x
        // from before must not receive bob's events.
        let hub = try await Self.seeded()
        _ = await hub.handle([try Self.create("x", owner: "bob"), .operation(.cancel(id: "x")), .operation(.delete(id: "x"))])
        let before = await hub.seq
        _ = await hub.handle([try Self.create("x", owner: "alice")])
        guard case .subscription(let messages) = await Self.reply(hub, .scoped(owner: "alice", .subscribe(topic: .task("x"), since: before - 3, epoch: nil))) else {
            Issue.record("resume refused")
            return
        }
        let types = try messages.map { try TaskHubTests.json($0)["type"]?.stringValue ?? "" }
        #expect(types == ["resumed", "task"])
        #expect(!messages.contains { String(decoding: $0, as: UTF8.self).contains("bob") })
    }
}
