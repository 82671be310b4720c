import HeraldLoop
import Testing
@testable import HeraldServer

@Suite struct SupervisorRosterTests {
    @Test func workersAreReadyOnlyWhenEveryOneIsRunningAndHasSaidSo() {
        var roster = SupervisorRoster(workers: 2)
        roster.started(.worker(1), pid: 101, at: 0)
        #expect(roster.markReady(pid: 101) == .worker(1))
        #expect(!roster.allWorkersReady)
        roster.started(.worker(2), pid: 102, at: 0)
        #expect(!roster.allWorkersReady)
        #expect(roster.markReady(pid: 102) == .worker(2))
        #expect(roster.allWorkersReady)
        #expect(roster.liveWorkerPIDs == [101, 102])
    }

    @Test func anEndedProcessIsForgottenWithHowLongItRanAndWhetherItWasReady() {
        var roster = SupervisorRoster(workers: 1)
        roster.started(.worker(1), pid: 7, at: 100)
        _ = roster.markReady(pid: 7)
        #expect(roster.ended(pid: 7, at: 112.5) == .init(role: .worker(1), ranFor: 12.5, wasReady: true))
        #expect(roster.pid(of: .worker(1)) == nil)
        #expect(roster.liveWorkerPIDs.isEmpty)
        #expect(!roster.allWorkersReady)
    }

    @Test func unknownPIDsAreIgnored() {
        var roster = SupervisorRoster(workers: 1)
        roster.started(.broker, pid: 50, at: 0)
        #expect(roster.ended(pid: 51, at: 1) == nil)
        #expect(roster.markReady(pid: 51) == nil)
        #expect(roster.role(of: 50) == .broker)
        #expect(roster.liveWorkerPIDs.isEmpty)  // the broker is not a worker
    }

    @Test func eachSlotHasItsOwnBackoffAndRestartCount() {
        var roster = SupervisorRoster(workers: 2)
        #expect(roster.scheduleRestart(.worker(1), ranFor: 0.2) == 0.1)
        #expect(roster.scheduleRestart(.worker(1), ranFor: 0.2) == 0.2)
        #expect(roster.scheduleRestart(.worker(2), ranFor: 0.2) == 0.1)
        #expect(roster.scheduleRestart(.broker, ranFor: 0.2) == 0.1)
        #expect(roster.restarts(of: .worker(1)) == 2)
        #expect(roster.restarts(of: .worker(2)) == 1)
        #expect(roster.restarts(of: .broker) == 1)
        // A restart keeps the count: the next start of the slot passes it as --restarts.
        roster.started(.worker(1), pid: 9, at: 3)
        #expect(roster.restarts(of: .worker(1)) == 2)
    }

    @Test func restartLinesNameTheRoleThePIDTheCauseAndTheWait() {
        #expect(SupervisorRoster.restartLine(.worker(2), pid: 1234, cause: ChildExit.killed(signal: 9).description, delay: 0.1)
            == "worker 2 (pid 1234) killed by signal 9; restarting in 0.1 s")
        #expect(SupervisorRoster.restartLine(.broker, pid: 88, cause: ChildExit.exited(status: 1).description, delay: 5)
            == "broker (pid 88) exited with status 1; restarting in 5 s")
        #expect(SupervisorRoster.restartLine(.worker(1), pid: nil, cause: "could not be started: posix_spawn: No such file", delay: 1.6)
            == "worker 1 could not be started: posix_spawn: No such file; restarting in 1.6 s")
    }

    @Test(arguments: [
        (Int32(0), ChildExit.exited(status: 0)),
        (Int32(1 << 8), ChildExit.exited(status: 1)),
        (Int32(64 << 8), ChildExit.exited(status: 64)),
        (Int32(9), ChildExit.killed(signal: 9)),
        (Int32(15 | 0x80), ChildExit.killed(signal: 15)),  // 0x80: a core was dumped
    ])
    func waitStatusesDecodeAsTheWaitMacrosDo(status: Int32, exit: ChildExit) {
        #expect(ChildExit(waitStatus: status) == exit)
    }
}
