/// `herald watch`'s output when stdout is not a terminal: one line per event, `key=value`
/// fields in a fixed order, so `grep task=build-7` and `awk` work and the format stays stable:
///
///     seq=12 task=build-7 event=progress status=running 45.0% 450/1000 "copying"
///     seq=13 task=build-7 event=stale status=running stale 45.0% 450/1000 "copying"
///     seq=20 task=build-7 event=failed status=failed 45.0% 450/1000 error=lease_expired "no heartbeat for 300 s"
///     seq=21 task=build-7 event=removed
///     seq=120 event=snapshot topic=tasks epoch=3f2a recovered=true tasks=2
///     seq=118 task=a event=snapshot status=running 10.0% 1/10
///     seq=120 event=resumed topic=tasks epoch=3f2a
///     event=error code=invalid_topic "…"
///
/// Task fields after `status=`, each only when known: `stale`, the percentage, `done/total`
/// (or `done` without a total), `error=<code>` on a failed task, then the quoted text: the
/// task's latest message, or the error message of a failed task. Quoted text is a JSON string
/// (escapes included), so a line never breaks.
public enum WatchEventLine {
    public static func lines(for event: WatchEvent) -> [String] {
        switch event {
        case .snapshot(let topic, let epoch, let seq, let recovered, _, let tasks):
            var out = ["seq=\(seq) event=snapshot topic=\(token(topic)) epoch=\(token(epoch)) recovered=\(recovered) tasks=\(tasks.count)"]
            let ordered = tasks.sorted { ($0.createdAt ?? "", $0.id) < ($1.createdAt ?? "", $1.id) }
            for task in ordered { out.append(taskLine(seq: task.seq, event: "snapshot", task: task)) }
            return out
        case .resumed(let topic, let epoch, let since):
            return ["seq=\(since) event=resumed topic=\(token(topic)) epoch=\(token(epoch))"]
        case .task(_, let seq, let name, let task):
            return [taskLine(seq: seq, event: name, task: task)]
        case .removed(_, let seq, let id):
            return ["seq=\(seq) task=\(token(id)) event=removed"]
        case .error(let code, let message):
            return ["event=error code=\(token(code)) \(quote(message))"]
        case .other:
            return []
        }
    }

    public static func taskLine(seq: Int, event: String, task t: WatchTask) -> String {
        var line = "seq=\(seq) task=\(token(t.id)) event=\(token(event)) status=\(token(t.status))"
        if t.stale { line += " stale" }
        if let p = t.percent { line += " " + HumanNumber.percent(p) }
        if let total = t.total {
            line += " \(HumanNumber.count(t.done))/\(HumanNumber.count(total))"
        } else if t.done > 0 {
            line += " \(HumanNumber.count(t.done))"
        }
        if t.status == "failed", let code = t.errorCode { line += " error=\(token(code))" }
        let text = t.status == "failed" ? (t.errorMessage.flatMap { $0.isEmpty ? nil : $0 } ?? t.message) : t.message
        if !text.isEmpty { line += " " + quote(text) }
        return line
    }

    /// A value that goes unquoted: ids, topics, codes never hold spaces, but whatever the
    /// server sends, a space or control character here must not split the field.
    static func token(_ s: String) -> String {
        s.isEmpty || s.unicodeScalars.contains(where: { $0.value <= 0x20 || $0 == "\"" || (0x7F...0x9F).contains($0.value) })
            ? quote(s) : s
    }

    /// A JSON string literal that also escapes DEL and C1 controls, so no byte of it can act
    /// on a terminal that displays the output.
    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default:
                out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
