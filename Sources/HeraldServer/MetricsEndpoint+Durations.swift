import HeraldTasks

extension MetricsEndpoint {
    static let durationMetric = "herald_task_duration_seconds"

    /// `herald_task_duration_seconds{outcome}` as a Prometheus histogram: cumulative
    /// `_bucket{le}` lines (`+Inf` last, equal to `_count`), `_sum` in seconds and `_count`,
    /// for each outcome, even one with no observation yet (so a dashboard's query finds the
    /// series from the start).
    static func renderDurations(_ durations: TaskDurationHistograms) -> String {
        var text = "# HELP \(durationMetric) How long tasks ran (finished_at - started_at) by outcome, "
            + "since the task authority started; tasks cancelled before they started are not counted.\n"
        text += "# TYPE \(durationMetric) histogram\n"
        let bounds = TaskDurationHistogram.bucketBoundsMilliseconds.map(seconds) + ["+Inf"]
        for outcome in TaskDurationHistograms.outcomes {
            let histogram = durations[outcome]
            let label = "outcome=\"\(outcome.rawValue)\""
            for (bound, count) in zip(bounds, histogram.cumulativeCounts) {
                text += "\(durationMetric)_bucket{\(label),le=\"\(bound)\"} \(count)\n"
            }
            text += "\(durationMetric)_sum{\(label)} \(seconds(Int64(clamping: histogram.sumMilliseconds)))\n"
            text += "\(durationMetric)_count{\(label)} \(histogram.count)\n"
        }
        return text
    }

    /// Milliseconds as seconds in the shortest exact decimal: 100 → "0.1", 5000 → "5", 1234 → "1.234".
    static func seconds(_ milliseconds: Int64) -> String {
        let whole = String(milliseconds / 1000)
        let fraction = milliseconds % 1000
        guard fraction != 0 else { return whole }
        var digits = String(fraction)
        digits = String(repeating: "0", count: 3 - digits.count) + digits
        while digits.hasSuffix("0") { digits.removeLast() }
        return "\(whole).\(digits)"
    }
}
