import Glibc
import HeraldTasks
import Testing
@testable import HeraldServer

/// The bridge's queue of batches to the broker (issue 18 replaced an AsyncStream with it): the
/// same contract — every batch handed out once, in the order pushed, including those pushed
/// while the consumer waits and from another thread, those pushed before `finish`, and none
/// after it.
@Suite struct BatchQueueTests {
    static func batch(_ id: UInt64) -> BatchQueue.Batch { (id: id, requests: [.get(id: "t\(id)")]) }

    @Test func batchesComeOutInOrderAndEndAfterFinish() async {
        let queue = BatchQueue()
        for id in 0..<3 { queue.push(Self.batch(UInt64(id))) }
        let first = await queue.next()
        #expect(first?.map(\.id) == [0, 1, 2])
        queue.push(Self.batch(3))
        queue.finish()
        queue.push(Self.batch(4))  // after finish: dropped
        let second = await queue.next()
        #expect(second?.map(\.id) == [3])
        let end = await queue.next()
        #expect(end == nil)
    }

    @Test func aWaitingConsumerGetsEveryBatchPushedFromAnotherThreadInOrder() async {
        let queue = BatchQueue()
        let count: UInt64 = 20_000
        let consumer = Task {
            var seen: [UInt64] = []
            while let sent = await queue.next() { seen += sent.map(\.id) }
            return seen
        }
        let producer = Thread { (queue, count) in
            for id in 0..<count {
                queue.push(BatchQueueTests.batch(id))
                if id % 1_000 == 0 { usleep(200) }  // let the consumer catch up and wait
            }
            queue.finish()
        }
        producer.start(queue, count)
        let seen = await consumer.value
        producer.join()
        #expect(seen == Array(0..<count))
    }
}

/// A plain pthread, so the pushes come from outside Swift's cooperative pool (as the loop's do).
private final class Thread: @unchecked Sendable {
    private let body: (BatchQueue, UInt64) -> Void
    private var thread = pthread_t()
    private var arguments: (BatchQueue, UInt64)?

    init(_ body: @escaping (BatchQueue, UInt64) -> Void) { self.body = body }

    func start(_ queue: BatchQueue, _ count: UInt64) {
        arguments = (queue, count)
        let unmanaged = Unmanaged.passRetained(self)
        pthread_create(&thread, nil, { raw in
            let me = Unmanaged<Thread>.fromOpaque(raw!).takeRetainedValue()
            me.body(me.arguments!.0, me.arguments!.1)
            return nil
        }, unmanaged.toOpaque())
    }

    func join() { pthread_join(thread, nil) }
}
