import FuzzSupport
import HeraldWire
@testable import HeraldTasks  // the seeds build events and stats with their internal initializers

// TaskBatchCodec (the payloads of the broker's requests, outputs and events frames). The first
// byte picks the decoder, the rest is the payload. Whatever decodes must encode to bytes that
// decode again and encode to the same bytes (one canonical form; the decoders validate what
// the task engine would, so an accepted payload is one a server could have sent).
enum Kind: UInt8, CaseIterable { case requests, outputs, events }

func reencode(_ kind: Kind, _ payload: [UInt8]) -> [UInt8]? {
    switch kind {
    case .requests: return (try? TaskBatchCodec.decodeRequests(payload)).map { TaskBatchCodec.encode(requests: $0) }
    case .outputs: return (try? TaskBatchCodec.decodeOutputs(payload)).map { TaskBatchCodec.encode(outputs: $0) }
    case .events: return (try? TaskBatchCodec.decodeEvents(payload)).map { TaskBatchCodec.encode(events: $0) }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = Fuzz.bytes(data, size)
    guard let first = bytes.first else { return 0 }
    let kind = Kind.allCases[Int(first) % Kind.allCases.count]
    guard let encoded = reencode(kind, Array(bytes.dropFirst())) else { return 0 }
    let again = reencode(kind, encoded)
    Fuzz.check(again != nil, "\(kind): the encoder's bytes do not decode")
    Fuzz.check(again == encoded, "\(kind): encode(decode(encoded)) differs")
    return 0
}

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: FuzzArgc, _ argv: FuzzArgv) -> Int32 {
    Fuzz.writeSeedsIfAsked {
        func create(_ json: String) -> CreateInput { try! TaskValidation.create(Array(json.utf8)) }
        func progress(_ json: String) -> ProgressInput { try! TaskValidation.progress(Array(json.utf8)) }
        let requests: [TaskRequest] = [
            .operation(.create(create(#"{"id":"a","title":"Ä title","owner":"bob","total":10,"lease_s":1.5,"meta":{"k":[1,"x",null]}}"#))),
            .operation(.create(create(#"{"title":"deadlines","timeout_s":3600,"stall_s":null}"#))),
            .operation(.start(id: "a")),
            .operation(.progress(id: "a", progress(#"{"done":3,"total":null,"message":"m"}"#))),
            .operation(.progress(id: "a", progress(#"{"done":4,"total":20,"percent":5}"#))),
            .operation(.heartbeat(id: "a")),
            .operation(.complete(id: "a", message: "done", result: .object(JSONObject([("path", .string("/x"))])))),
            .operation(.fail(id: "a", TaskFailure(code: "io", message: "disk"))),
            .operation(.cancel(id: "a")), .operation(.confirmCancelled(id: "a")), .operation(.retry(id: "a")),
            .operation(.delete(id: "a")),
            .get(id: "a"),
            .list(owner: "bob", statuses: [.running], limit: 5),
            .list(owner: nil, statuses: [], limit: nil),
            .subscribe(topic: .owner("bob"), since: 7, epoch: "e1"),
            .subscribe(topic: .all, since: nil, epoch: nil),
            .stats,
            .statistics(owner: "bob", windowSeconds: 3600),
            .scoped(owner: "bob", .get(id: "a")),
            .batch(.create([create(#"{"id":"c","title":"C","owner":"bob"}"#)])),
            .batch(.change(.retry, .ids(["a", "b"]))),
            .batch(.change(.cancel, .filter(owner: "bob", statuses: [.failed]))),
        ]
        let event = PublishedEvent(
            seq: 9, taskID: "a", isProgress: true, taskJSON: Array(#"{"id":"a"}"#.utf8),
            messages: [(topic: "tasks", json: Array(#"{"type":"task"}"#.utf8)), (topic: "task:a", json: [])])
        let removed = PublishedEvent(seq: 10, taskID: "a", isProgress: false, taskJSON: nil, messages: [])
        let stats = TaskHubStats(
            seq: 10, epoch: "e1", countsByStatus: [.running: 2], eventsPublished: 10, taskCount: 2)
        let outputs: [HubOutput] = [
            .event(event),
            .reply(index: 0, .task(json: Array(#"{"id":"a"}"#.utf8), seq: 9, status: .running)),
            .reply(index: 1, .deleted(id: "a", seq: 10)),
            .reply(index: 2, .list(json: Array("[]".utf8))),
            .reply(index: 3, .subscription(messages: [Array("{}".utf8)])),
            .reply(index: 4, .stats(stats)),
            .reply(index: 5, .batch(json: Array(#"{"results":[]}"#.utf8))),
            .reply(index: 6, .statistics(json: Array("{}".utf8))),
            .reply(index: 7, .failure(TaskError(status: 429, code: "owner_limit", message: "slow down", retryAfterSeconds: 3))),
        ]
        var seeds: [[UInt8]] = requests.map { [Kind.requests.rawValue] + TaskBatchCodec.encode(requests: [$0]) }
        seeds.append([Kind.requests.rawValue] + TaskBatchCodec.encode(requests: requests))
        seeds += outputs.map { [Kind.outputs.rawValue] + TaskBatchCodec.encode(outputs: [$0]) }
        seeds.append([Kind.events.rawValue] + TaskBatchCodec.encode(events: [event, removed]))
        return seeds
    }
    return 0
}

/// The executable's entry as SwiftPM links it (see `Fuzz.runDriver`).
@_cdecl("FuzzTaskBatch_main")
public func fuzzTaskBatchMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    Fuzz.runDriver(argc, argv, fuzz)
}
