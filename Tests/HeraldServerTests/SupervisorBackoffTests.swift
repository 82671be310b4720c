import Testing
@testable import HeraldServer

@Suite struct SupervisorBackoffTests {
    @Test func quickDeathsDoubleTheWaitFromATenthUpToFiveSeconds() {
        var backoff = SupervisorBackoff()
        let waits = (0..<9).map { _ in backoff.delay(afterRunning: 0.5) }
        #expect(waits == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5, 5, 5])
    }

    @Test func aRunOfTenSecondsResetsTheWait() {
        var backoff = SupervisorBackoff()
        for _ in 0..<5 { _ = backoff.delay(afterRunning: 1) }
        #expect(backoff.delay(afterRunning: SupervisorBackoff.healthyRun) == 0.1)
        #expect(backoff.delay(afterRunning: 1) == 0.2)
    }

    @Test func aRunJustShortOfTenSecondsKeepsDoubling() {
        var backoff = SupervisorBackoff()
        _ = backoff.delay(afterRunning: 1)
        #expect(backoff.delay(afterRunning: SupervisorBackoff.healthyRun.nextDown) == 0.2)
    }
}
