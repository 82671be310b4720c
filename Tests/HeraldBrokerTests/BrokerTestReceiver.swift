import Dispatch
import Foundation
import HeraldBroker
import HeraldTasks
import Testing

extension BrokerConformanceTests {
    /// Records everything a broker tells it, in the order it was told, and turns `submit` back
    /// into a call that returns the batch's outputs (or throws when the batch failed).
    final class Receiver: BrokerReceiver, @unchecked Sendable {
        private let lock = NSLock()
        private var events: [PublishedEvent] = []
        private var seen: [UInt64] = []
        private var waiting: [UInt64: CheckedContinuation<[HubOutput], Error>] = [:]
        private var nextBatch: UInt64 = 0
        private var resyncCount = 0

        private func locked<T>(_ body: () -> T) -> T {
            lock.lock()
            defer { lock.unlock() }
            return body()
        }

        func publish(_ batch: [PublishedEvent]) {
            locked {
                events += batch
                seen += batch.map(\.seq)
            }
        }

        func complete(batch: UInt64, _ outputs: [HubOutput]) {
            let waiter = locked { () -> CheckedContinuation<[HubOutput], Error>? in
                seen += BrokerConformanceTests.events(outputs).map(\.seq)
                return waiting.removeValue(forKey: batch)
            }
            waiter?.resume(returning: outputs)
        }

        func batchFailed(_ batch: UInt64, reason: String) {
            locked { waiting.removeValue(forKey: batch) }?.resume(throwing: BrokerUnavailable(reason))
        }

        func attached(epoch: String, seq: UInt64, missed: [PublishedEvent]?) {
            locked {
                if let missed { seen += missed.map(\.seq) } else { resyncCount += 1 }
            }
        }

        /// Events of others, as published.
        var published: [PublishedEvent] { locked { events } }
        /// Every seq heard, from any call, in the order heard.
        var seqsSeen: [UInt64] { locked { seen } }
        var resyncs: Int { locked { resyncCount } }

        func submit(_ requests: [TaskRequest], to broker: Broker) async throws -> [HubOutput] {
            try await withCheckedThrowingContinuation { (answer: CheckedContinuation<[HubOutput], Error>) in
                let batch = locked { () -> UInt64 in
                    nextBatch += 1
                    waiting[nextBatch] = answer
                    return nextBatch
                }
                Task { await broker.submit(requests, batch: batch, from: self) }
            }
        }
    }
}
