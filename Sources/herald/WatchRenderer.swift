import Glibc
import HeraldClient

// The terminal side of `herald watch`: the pure line drawing is `WatchRenderer` (HeraldClient,
// tested with exact strings); this file measures the terminal, redraws the lines in place and
// puts the terminal back as it was on exit.

/// Redraws a block of lines in place with ANSI sequences: cursor up over the previous frame,
/// clear and rewrite each line, clear what is left below. No full-screen clear (no flicker),
/// except once after the width changed, when the old lines may have wrapped.
final class WatchScreen {
    private var drawnLines = 0
    private var lastSize: TerminalSize?

    /// Hides the cursor (it would blink over the bars); `end` and the signal handlers show it again.
    func begin() {
        CLIOutput.standardOutput(ANSI.hideCursor)
    }

    func draw(_ makeLines: (TerminalSize) -> [String]) {
        let size = TerminalSize.current()
        var out = ""
        if let last = lastSize, last.columns != size.columns {
            out += ANSI.home + ANSI.clearScreen
        } else if drawnLines > 0 {
            out += "\r" + ANSI.cursorUp(drawnLines)
        }
        lastSize = size
        // One column short of the edge: a line that reaches the last column leaves some
        // terminals' cursor past it, and the next newline would then skip a line.
        let lines = makeLines(TerminalSize(columns: max(1, size.columns - 1), rows: size.rows))
        for line in lines { out += ANSI.clearLine + line + "\n" }
        out += ANSI.clearToEnd
        drawnLines = lines.count
        CLIOutput.standardOutput(out)
    }

    func end() {
        CLIOutput.standardOutput(ANSI.reset + ANSI.showCursor)
    }
}

struct TerminalSize: Equatable {
    var columns: Int
    var rows: Int

    /// TIOCGWINSZ on stdout; `$COLUMNS`/`$LINES`, then 80×24, when the terminal does not say.
    static func current() -> TerminalSize {
        var size = winsize()
        if ioctl(1, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0, size.ws_row > 0 {
            return TerminalSize(columns: Int(size.ws_col), rows: Int(size.ws_row))
        }
        let columns = Environment.value("COLUMNS").flatMap { Int($0) } ?? 80
        let rows = Environment.value("LINES").flatMap { Int($0) } ?? 24
        return TerminalSize(columns: max(20, columns), rows: max(5, rows))
    }
}

/// The few ECMA-48 / xterm sequences the screen uses.
enum ANSI {
    static let hideCursor = "\u{1B}[?25l"
    static let showCursor = "\u{1B}[?25h"
    static let reset = "\u{1B}[0m"
    static let clearLine = "\u{1B}[2K"
    static let clearToEnd = "\u{1B}[J"
    static let home = "\u{1B}[H"
    static let clearScreen = "\u{1B}[2J"
    static func cursorUp(_ n: Int) -> String { "\u{1B}[\(n)A" }
}

/// SIGINT and SIGTERM end `herald watch` with status 0. The handler only calls
/// async-signal-safe functions: write(2) of a static string (colours off, cursor back) and _exit.
enum WatchSignals {
    static func install(terminal: Bool) {
        let restoreAndExit: @convention(c) (Int32) -> Void = { _ in
            let restore: StaticString = "\u{1B}[0m\u{1B}[?25h\n"
            _ = write(1, restore.utf8Start, restore.utf8CodeUnitCount)
            _exit(0)
        }
        let exitQuietly: @convention(c) (Int32) -> Void = { _ in _exit(0) }
        let handler = terminal ? restoreAndExit : exitQuietly
        signal(SIGINT, handler)
        signal(SIGTERM, handler)
        // A parent may have started us with these signals blocked (the mask is inherited
        // across exec); then the handler would never run and the watch could not be stopped.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        sigprocmask(SIG_UNBLOCK, &set, nil)
    }
}
