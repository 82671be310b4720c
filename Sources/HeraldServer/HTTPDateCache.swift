import Glibc
import HeraldWire

/// The `Date` header value, formatted at most once per second per loop.
final class HTTPDateCache {
    private var second = -1
    private var cached = ""

    var current: String {
        let now = Int(time(nil))
        if now != second {
            second = now
            cached = HTTPDate.format(secondsSince1970: now)
        }
        return cached
    }
}
