import Testing
@testable import HeraldClient

/// `herald watch`'s terminal lines, as exact strings at several widths.
@Suite struct WatchRendererTests {
    static let running = WatchTask(
        id: "build-7", title: "Copy files", status: "running", done: 450, total: 1000, percent: 45, message: "copying",
        rate: 12.3, etaSeconds: 45, createdAt: "2026-11-23T20:10:01.000Z", seq: 12)
    static let queued = WatchTask(id: "q-1", status: "queued", createdAt: "2026-11-23T20:10:02.000Z", seq: 3)
    static let stale = WatchTask(
        id: "stale-3", title: "Long export of the whole customer database", status: "running", stale: true, done: 10,
        total: 80, percent: 12.5, createdAt: "2026-11-23T20:10:00.000Z", seq: 9)
    static let succeeded = WatchTask(
        id: "ok-2", title: "Thumbnails", status: "succeeded", done: 80, total: 80, percent: 100,
        createdAt: "2026-11-23T20:09:00.000Z", startedAt: "2026-11-23T20:09:00.000Z", finishedAt: "2026-11-23T20:10:05.500Z", seq: 20)
    static let failed = WatchTask(
        id: "bad-9", title: "Upload", status: "failed", done: 3, total: 10, percent: 30, message: "uploading",
        errorCode: "lease_expired", errorMessage: "no heartbeat for 300 s", createdAt: "2026-11-23T20:08:00.000Z", seq: 21)
    static let all = [running, queued, stale, succeeded, failed]

    static func lines(width: Int) -> [String] {
        let r = WatchRenderer(width: width)
        return all.map(r.taskLine)
    }

    @Test func eightyColumns() {
        #expect(Self.lines(width: 80) == [
            "build-7 Copy files   running    ████▉░░░░░░  45.0%  450/1000  ETA 45s  12.3/s",
            "q-1                  queued     ░░░░░░░░░░░      -",
            "stale-3 Long export… running    █▍░░░░░░░░░  12.5%  STALE  10/80",
            "ok-2 Thumbnails      succeeded  ███████████ 100.0%  80/80  in 1m06s",
            "bad-9 Upload         failed     ███▎░░░░░░░  30.0%  3/10  lease_expired  no hea…",
        ])
    }

    @Test func oneHundredTwentyColumns() {
        #expect(Self.lines(width: 120) == [
            "build-7 Copy files             running    ██████████████████░░░░░░░░░░░░░░░░░░░░░░  45.0%  450/1000  ETA 45s  12.3/s",
            "q-1                            queued     ░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░      -",
            "stale-3 Long export of the wh… running    █████░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░  12.5%  STALE  10/80",
            "ok-2 Thumbnails                succeeded  ████████████████████████████████████████ 100.0%  80/80  in 1m06s",
            "bad-9 Upload                   failed     ████████████░░░░░░░░░░░░░░░░░░░░░░░░░░░░  30.0%  3/10  lease_expired  no hear…",
        ])
    }

    @Test func wideTerminalsShowTheMessage() {
        #expect(WatchRenderer(width: 200).taskLine(Self.running)
            == "build-7 Copy files               running    ██████████████████░░░░░░░░░░░░░░░░░░░░░░  45.0%  450/1000  ETA 45s  12.3/s  copying")
        #expect(WatchRenderer(width: 200).taskLine(Self.failed)
            == "bad-9 Upload                     failed     ████████████░░░░░░░░░░░░░░░░░░░░░░░░░░░░  30.0%  3/10  lease_expired  no heartbeat for 300 s")
    }

    @Test func sixtyColumnsDropWhatDoesNotFit() {
        #expect(Self.lines(width: 60) == [
            "build-7 Copy f… running    ███▌░░░░  45.0%  450/1000  12.3/s",
            "q-1             queued     ░░░░░░░░      -",
            "stale-3 Long e… running    █░░░░░░░  12.5%  STALE  10/80",
            "ok-2 Thumbnails succeeded  ████████ 100.0%  80/80  in 1m06s",
            "bad-9 Upload    failed     ██▍░░░░░  30.0%  3/10  no heartb…",
        ])
    }

    @Test func narrowTerminalsLoseTheBar() {
        #expect(Self.lines(width: 40) == [
            "build-7 Cop… running     45.0%",
            "q-1          queued          -",
            "stale-3 Lon… running     12.5%",
            "ok-2 Thumbn… succeeded  100.0%",
            "bad-9 Upload failed      30.0%",
        ])
        #expect(WatchRenderer(width: 20).taskLine(Self.running) == "build-7 Cop… runnin…")
    }

    @Test func everyLineFitsItsWidth() {
        for width in 1...220 {
            let r = WatchRenderer(width: width)
            for task in Self.all {
                #expect(TerminalText.width(r.taskLine(task)) <= max(width, 1), "width \(width) \(task.id)")
            }
        }
    }

    @Test func barsUseEighthBlocks() {
        #expect(WatchRenderer.bar(fraction: 0, columns: 8) == "░░░░░░░░")
        #expect(WatchRenderer.bar(fraction: 1, columns: 8) == "████████")
        #expect(WatchRenderer.bar(fraction: 0.5, columns: 8) == "████░░░░")
        #expect(WatchRenderer.bar(fraction: 1.0 / 64, columns: 8) == "▏░░░░░░░")
        #expect(WatchRenderer.bar(fraction: 7.0 / 64, columns: 8) == "▉░░░░░░░")
        #expect(WatchRenderer.bar(fraction: 2, columns: 4) == "████")
        #expect(WatchRenderer.bar(fraction: -1, columns: 4) == "░░░░")
        #expect(WatchRenderer.bar(fraction: nil, columns: 4) == "░░░░")
        #expect(WatchRenderer.bar(fraction: .nan, columns: 4) == "░░░░")
    }

    @Test func controlCharactersInTitlesCannotReachTheTerminal() {
        let evil = WatchTask(id: "x", title: "a\u{1B}[2Jb\nc\u{9B}d", status: "queued")
        #expect(WatchRenderer(width: 60).taskLine(evil) == "x a [2Jb c d    queued     ░░░░░░░░      -")
    }

    @Test func wideCharactersCountTwoColumns() {
        let task = WatchTask(id: "j", title: "日本語のタイトル", status: "queued")
        let line = WatchRenderer(width: 60).taskLine(task)
        #expect(line == "j 日本語のタイ… queued     ░░░░░░░░      -")
        #expect(TerminalText.width(line) == 42)
    }

    @Test func colorsWrapStatusBarAndMarkers() {
        let r = WatchRenderer(width: 80, color: true)
        #expect(r.taskLine(Self.stale)
            == "stale-3 Long export… \u{1B}[33mrunning   \u{1B}[0m \u{1B}[33m█▍░░░░░░░░░\u{1B}[0m  12.5%  \u{1B}[1;33mSTALE\u{1B}[0m  10/80")
    }

    @Test func frameHasHeaderCountsAndTasksOldestFirst() {
        var state = WatchState(topics: ["tasks"])
        _ = state.apply(.snapshot(topic: "tasks", epoch: "e", seq: 21, recovered: true,
                                  counts: ["running": 2, "queued": 1, "succeeded": 40, "failed": 1], tasks: Self.all))
        let frame = WatchRenderer(width: 80, height: 30).frame(
            state: state, title: "herald watch http://h:1 · tasks", connection: "connected · seq 21", connected: true)
        #expect(frame == [
            "herald watch http://h:1 · tasks  connected · seq 21",
            "2 running · 1 queued · 40 succeeded · 1 failed · 1 stale",
            "bad-9 Upload         failed     ███▎░░░░░░░  30.0%  3/10  lease_expired  no hea…",
            "ok-2 Thumbnails      succeeded  ███████████ 100.0%  80/80  in 1m06s",
            "stale-3 Long export… running    █▍░░░░░░░░░  12.5%  STALE  10/80",
            "build-7 Copy files   running    ████▉░░░░░░  45.0%  450/1000  ETA 45s  12.3/s",
            "q-1                  queued     ░░░░░░░░░░░      -",
        ])
    }

    @Test func manyTasksShowRunningThenQueuedThenRecentlyFinished() {
        var tasks: [WatchTask] = []
        for i in 0..<30 {
            let created = "2026-11-23T20:10:\(i < 10 ? "0" : "")\(i).000Z"
            tasks.append(WatchTask(id: "t\(i)", status: i % 3 == 0 ? "succeeded" : "running", createdAt: created, finishedAt: i % 3 == 0 ? created : nil))
        }
        let (shown, hidden) = WatchRenderer.choose(tasks, rows: 22)
        // A quarter of the rows (5) for the finished tasks t27…t15, the 17 newest running ones.
        #expect(hidden == 8)
        #expect(shown.filter(\.isTerminal).map(\.id) == ["t15", "t18", "t21", "t24", "t27"])
        #expect(shown.count == 22 && shown.first?.id == "t5")
        let (few, rest) = WatchRenderer.choose(tasks, rows: 5)
        #expect(few.map(\.id) == ["t25", "t26", "t27", "t28", "t29"] && rest == 25)

        // An old running task is not pushed out by many newer queued ones.
        var batch = [WatchTask(id: "old", status: "running", createdAt: "2026-11-23T20:00:00.000Z")]
        for i in 10..<40 { batch.append(WatchTask(id: "q\(i)", status: "queued", createdAt: "2026-11-23T20:10:\(i).000Z")) }
        let (picked, _) = WatchRenderer.choose(batch, rows: 4)
        #expect(picked.map(\.id) == ["old", "q37", "q38", "q39"])

        var state = WatchState(topics: ["tasks"])
        _ = state.apply(.snapshot(topic: "tasks", epoch: "e", seq: 1, recovered: true, counts: ["running": 20, "succeeded": 10], tasks: tasks))
        let frame = WatchRenderer(width: 60, height: 10).frame(state: state, title: "t", connection: "c", connected: true)
        #expect(frame.count == 2 + 6 + 1)
        #expect(frame.last == "… 24 more not shown")
    }

    @Test func headerWithoutTasksOrRoom() {
        let state = WatchState(topics: ["tasks"])
        let frame = WatchRenderer(width: 30).frame(state: state, title: "herald watch http://127.0.0.1:8080", connection: "connecting…", connected: false)
        #expect(frame == ["herald watch http://127.0.0.1…", "no tasks"])
    }
}
