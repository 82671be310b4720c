import Glibc
import HeraldWire

/// The `Date` header value, formatted at most once per second per loop, and the pre-encoded
/// heads of the hot replies that carry it.
final class HTTPDateCache {
    private var second = -1
    private var cached = ""

    var current: String {
        let now = Int(time(nil))
        if now != second {
            second = now
            cached = HTTPDate.format(secondsSince1970: now)
            replyHeads = nil
        }
        return cached
    }

    /// Everything of a hot reply's head up to the digits of its `Content-Length`, for the
    /// current `Date` and `server` (issue 18: S2's 202 to `POST /pub`, S7's 200 JSON answer
    /// to a progress report). Built through the general encoder once a second.
    private struct ReplyHeads {
        let server: String
        let accepted: [UInt8]  // 202, no fields of its own
        let okJSON: [UInt8]  // 200, Content-Type: application/json
    }

    private var replyHeads: ReplyHeads?

    /// The head of `kind` up to and including `Content-Length: ` (the caller appends the
    /// digits, CRLF CRLF and the body); the same bytes as `ResponseSerializer`'s general path.
    func replyHead(_ kind: ResponseSerializer.HotReply, server: String) -> [UInt8] {
        let date = current
        if replyHeads == nil || replyHeads?.server != server {
            replyHeads = ReplyHeads(
                server: server,
                accepted: ResponseSerializer.headPrefix(status: 202, headers: HTTPHeaders(), date: date, server: server),
                okJSON: ResponseSerializer.headPrefix(status: 200, headers: HTTPResponse.jsonHeaders, date: date, server: server))
        }
        switch kind {
        case .accepted: return replyHeads!.accepted
        case .okJSON: return replyHeads!.okJSON
        }
    }
}
