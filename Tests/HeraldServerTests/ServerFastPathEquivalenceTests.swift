import HeraldLoop
import HeraldWire
import Testing
@testable import HeraldServer

/// The server-side fast paths of issue 18, each held to the code it replaced (kept here as the
/// reference): response serialization, content types, entity tags, static path splitting.
@Suite struct ServerFastPathEquivalenceTests {
    /// The previous ResponseSerializer: replaceOrAdd on a copy of the headers, then encode.
    static func referenceSerialize(
        _ response: HTTPResponse, method: String, version: HTTPVersion, keepAlive: Bool, date: String, server: String
    ) -> [UInt8] {
        var headers = response.headers
        headers.replaceOrAdd(name: "Date", value: date)
        headers.replaceOrAdd(name: "Server", value: server)
        let bodyless = response.status < 200 || response.status == 204 || response.status == 304
        if !bodyless { headers.replaceOrAdd(name: "Content-Length", value: String(response.body.count)) }
        if !keepAlive {
            headers.replaceOrAdd(name: "Connection", value: "close")
        } else if version == .http1_0 {
            headers.replaceOrAdd(name: "Connection", value: "keep-alive")
        }
        var bytes = HTTPResponseEncoder.encode(HTTPResponseHead(status: response.status, headers: headers))
        guard method != "HEAD" && !bodyless else { return bytes }
        if case .bytes(let body) = response.body { bytes.append(contentsOf: body) }
        return bytes
    }

    static func written(_ actions: [HTTPConnectionStateMachine.Action]) -> [UInt8] {
        var bytes: [UInt8] = []
        for case .write(let chunk) in actions { bytes += chunk }
        return bytes
    }

    @Test func serializesAsBefore() {
        var responses: [HTTPResponse] = [
            HTTPResponse(status: 202),
            HTTPResponse(status: 204),
            HTTPResponse(status: 304, headers: ["ETag": "\"1\"", "Content-Length": "5"]),
            HTTPResponse(status: 101, headers: ["Upgrade": "websocket"]),
            HTTPResponse.json(status: 200, Array("{\"a\":1}".utf8)),
            HTTPResponse.error(status: 404, code: "not_found", message: "no"),
        ]
        var odd = HTTPResponse(status: 200, headers: [:], body: .bytes([1, 2, 3]))
        odd.headers.add(name: "date", value: "old")
        odd.headers.add(name: "X-A", value: "a\r\nInjected: yes")
        odd.headers.add(name: "SERVER", value: "other")
        odd.headers.add(name: "content-length", value: "99")
        odd.headers.add(name: "Connection", value: "upgrade")
        odd.headers.add(name: "X-B", value: "b\u{7F}\t")
        odd.headers.add(name: "Server", value: "again")
        responses.append(odd)
        responses.append(HTTPResponse(status: 599, headers: ["Connection": "x"], body: .bytes(Array(repeating: 65, count: 3000))))
        for response in responses {
            for method in ["GET", "HEAD", "POST"] {
                for version in [HTTPVersion.http1_1, .http1_0] {
                    for keepAlive in [true, false] {
                        for server in ["herald", "her\nald"] {
                            let fast = Self.written(ResponseSerializer.serialize(
                                response, method: method, version: version, keepAlive: keepAlive,
                                date: "Fri, 04 Dec 2026 14:28:55 GMT", server: server))
                            let reference = Self.referenceSerialize(
                                response, method: method, version: version, keepAlive: keepAlive,
                                date: "Fri, 04 Dec 2026 14:28:55 GMT", server: server)
                            #expect(fast == reference, "\(response.status) \(method) \(version) \(keepAlive)")
                        }
                    }
                }
            }
        }
    }

    /// Issue 18: the hot replies (S2's 202, S7's 200 JSON) are written from a pre-encoded head;
    /// the bytes are the general path's, for every method, version, keep-alive and length.
    @Test func preEncodedHeadsWriteTheGeneralPathsBytes() {
        let dates = HTTPDateCache()
        var responses: [HTTPResponse] = [HTTPResponse(status: 202), HTTPResponse(status: 202, body: .bytes([1, 2]))]
        for n in [0, 1, 9, 10, 99, 100, 1234, 65_536] {
            responses.append(HTTPResponse.json(status: 200, Array(repeating: UInt8(ascii: "x"), count: n)))
        }
        var other = HTTPResponse.json(status: 200, Array("{}".utf8))
        other.headers.add(name: "Vary", value: "Origin")
        responses += [other, HTTPResponse.json(status: 201, Array("{}".utf8)), HTTPResponse(status: 202, headers: ["X": "y"])]
        var hot = 0
        for response in responses {
            for method in ["GET", "HEAD", "POST"] {
                for version in [HTTPVersion.http1_1, .http1_0] {
                    for keepAlive in [true, false] {
                        for server in ["herald", "her\nald", "herald"] {
                            if ResponseSerializer.hotReply(response, method: method, version: version, keepAlive: keepAlive) != nil {
                                hot += 1
                            }
                            var actions: [HTTPConnectionStateMachine.Action] = []
                            let before = dates.current  // the second may turn during the call
                            ResponseSerializer.serialize(response, method: method, version: version, keepAlive: keepAlive,
                                                         dates: dates, server: server, into: &actions)
                            let references = [before, dates.current].map {
                                Self.referenceSerialize(response, method: method, version: version, keepAlive: keepAlive, date: $0, server: server)
                            }
                            #expect(references.contains(Self.written(actions)), "\(response.status) \(response.body.count) \(method) \(version) \(keepAlive) \(server)")
                        }
                    }
                }
            }
        }
        #expect(hot == 10 * 6)  // two 202s and eight JSON 200s, each by GET and POST, 1.1 kept alive, 3 servers
    }

    @Test func decimalDigitsAsAString() {
        for n in [0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 65_535, 1 << 20, Int.max / 10, Int.max] {
            var out: [UInt8] = []
            HTTPResponseEncoder.appendDecimal(n, to: &out)
            #expect(out == Array(String(n).utf8), "\(n)")
        }
    }

    /// Issue 18: the task API splits its path on the bytes without arrays, as the split did.
    @Test func taskSegmentsAsTheSplit() {
        func reference(_ path: String) -> [Substring]? {
            let parts = path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).dropFirst()
                .map { Substring($0) }
            guard parts.count >= 2, parts.first == "api", parts.dropFirst().first == "tasks" else { return nil }
            return Array(parts.dropFirst(2))
        }
        let paths = ["/api/tasks", "/api/tasks/", "/api/tasks/b1", "/api/tasks/b1/", "/api/tasks/b1/progress",
                     "/api/tasks/b1/progress/", "/api/tasks//progress", "/api/tasks/a/b/c", "/api/tasks///", "/api/tasksX",
                     "/api/tasksX/1", "/api/task", "/api", "/api/", "/API/tasks/1", "//api/tasks/1", "api/tasks/1", "/",
                     "", "/api/tasks/%41/start", "/x/api/tasks/1", "/api/tasks/caf\u{E9}/d\u{E9}j\u{E0}"]
        for path in paths {
            let fast = TaskAPI.taskSegments(path)
            let slow = reference(path)
            #expect((fast == nil) == (slow == nil), "\(path)")
            guard let fast, let slow else { continue }
            #expect(fast.count == slow.count, "\(path)")
            for i in 0..<min(2, slow.count) { #expect(fast[i] == slow[i], "\(path) \(i)") }
        }
        for name in ["start", "progress", "heartbeat", "complete", "fail", "cancel", "cancelled", "retry"] {
            #expect(TaskAPI.action(Substring(name)) != nil, "\(name)")
        }
        for name in ["", "Progress", "progres", "progress ", "delete", "create"] { #expect(TaskAPI.action(Substring(name)) == nil) }
    }

    @Test func contentTypesAsBefore() {
        let names = ["index.html", "a/b/APP.JS", "x.Mjs", ".env", "dir.d/file", "noext", "file.", "a.b.css", "a/.hidden.js",
                     "caf\u{E9}.html", "e\u{301}.JSON", "x.htm\u{301}", "/", "", "a/", "x.webmanifest", "icon.SVG", "K.\u{212A}"]
        for name in names {
            #expect(MIMETypes.contentType(forFileName: name) == MIMETypes.contentType(forFileName: Substring(name)), "\(name)")
        }
        for type in Set(MIMETypes.byExtension.values).union([MIMETypes.fallback, "TEXT/JavaScript ; x", "application/ld+json"]) {
            #expect(MIMETypes.isCompressible(type) == MIMETypes.isCompressible(Substring(type)))
            let reference = type.split(separator: ";").first?.trimmingHTTPWhitespace().lowercased() == "text/javascript"
            #expect(StaticFileServer.isJavaScript(type) == reference, "\(type)")
        }
    }

    @Test func entityTagsAsBefore() {
        func reference(_ version: StaticFileVersion, gzip: Bool) -> String {
            let parts = [version.device, version.inode, UInt64(version.size), UInt64(bitPattern: version.mtimeNanoseconds)]
            return "\"" + parts.map { String($0, radix: 16) }.joined(separator: "-") + (gzip ? "-gz" : "") + "\""
        }
        let versions = [
            StaticFileVersion(device: 0, inode: 0, size: 0, mtimeNanoseconds: 0),
            StaticFileVersion(device: 0xfe00, inode: 0xf92a1, size: 1037, mtimeNanoseconds: 1_790_000_000_123_456_789),
            StaticFileVersion(device: .max, inode: 1 << 63, size: .max, mtimeNanoseconds: -1),
            StaticFileVersion(device: 16, inode: 15, size: 255, mtimeNanoseconds: .min),
        ]
        for version in versions {
            for gzip in [false, true] { #expect(DirectoryFileSource.entityTag(version, gzip: gzip) == reference(version, gzip: gzip)) }
        }
    }

    @Test func pathSegmentsAsBefore() throws {
        for raw in ["/", "/a", "/a/b.js", "//a//b/", "/a%20b/c", "/caf%C3%A9/x", "/e%CC%81/x", "/a/b/", "/%41"] {
            guard case .success(let parsed) = StaticFilePath.parse(raw) else {
                Issue.record("\(raw) did not parse")
                continue
            }
            let text = String(decoding: PercentDecoding.decode(raw)!, as: UTF8.self)
            #expect(parsed.segments == text.split(separator: "/").map(String.init), "\(raw)")
            #expect(parsed.encodedSegments == raw.split(separator: "/"), "\(raw)")
        }
    }
}
