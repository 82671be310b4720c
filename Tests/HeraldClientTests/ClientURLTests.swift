import Testing
@testable import HeraldClient

@Suite struct ClientURLTests {
    @Test func parsesHostPortPathAndQuery() throws {
        let url = try ClientURL(parsing: "http://example.com:8080/a/b?x=1#frag")
        #expect(url == ClientURL(scheme: .http, host: "example.com", port: 8080, path: "/a/b", query: "x=1"))
        #expect(url.requestTarget == "/a/b?x=1")
        #expect(url.hostHeader == "example.com:8080")
        #expect(url.origin == "http://example.com:8080")
    }

    @Test func defaultsToPort80AndRootPath() throws {
        let url = try ClientURL(parsing: "http://localhost")
        #expect(url.port == 80 && url.path == "/" && url.query == nil)
        #expect(url.hostHeader == "localhost")
    }

    @Test func withoutSchemeMeansHTTP() throws {
        let url = try ClientURL(parsing: "127.0.0.1:9000")
        #expect(url == ClientURL(scheme: .http, host: "127.0.0.1", port: 9000))
    }

    @Test func ipv6LiteralsAreBracketed() throws {
        let url = try ClientURL(parsing: "ws://[::1]:8080/ws?topic=tasks")
        #expect(url.host == "::1" && url.port == 8080 && url.scheme == .ws)
        #expect(url.hostHeader == "[::1]:8080")
        #expect(url.origin == "ws://[::1]:8080")
        #expect(try ClientURL(parsing: "http://[fe80::1]").hostHeader == "[fe80::1]")
    }

    @Test func schemeIsCaseInsensitive() throws {
        #expect(try ClientURL(parsing: "HTTP://h:1").scheme == .http)
    }

    @Test func refusesWhatItCannotDo() {
        for bad in ["", "ftp://h", "http://", "http://:80", "http://h:0", "http://h:65536",
                    "http://h:x", "http://h:", "http://u:p@h", "http://[::1", "http://[::1]x", "http://[host]",
                    "http://h/a b", "http://h h"] {
            #expect(throws: ClientError.self, "\(bad)") { try ClientURL(parsing: bad) }
        }
    }

    @Test func secureSchemes() throws {
        let url = try ClientURL(parsing: "https://h/x")
        #expect(url.scheme.isSecure && url.port == 443 && url.hostHeader == "h")
        #expect(url.webSocket.description == "wss://h:443/x")
        #expect(try ClientURL(parsing: "wss://h:8443").hostHeader == "h:8443")
        #expect(try ClientURL(parsing: "http://h").webSocket.scheme == .ws)
    }

    @Test func appendingKeepsAPathPrefix() throws {
        let base = try ClientURL(parsing: "http://h:1/herald/")
        #expect(base.appending(path: "/api/tasks").requestTarget == "/herald/api/tasks")
        #expect(try ClientURL(parsing: "http://h:1").appending(path: "/api/tasks", query: "a=b").requestTarget == "/api/tasks?a=b")
        #expect(base.with(scheme: .ws).appending(path: "/ws").description == "ws://h:1/herald/ws")
    }

    @Test func percentEncodingKeepsOnlyUnreserved() {
        #expect(PercentEncoding.encode("a-b_c.d~e") == "a-b_c.d~e")
        #expect(PercentEncoding.encode("a b/c?d&e=f:g") == "a%20b%2Fc%3Fd%26e%3Df%3Ag")
        #expect(PercentEncoding.encode("é") == "%C3%A9")
        #expect(PercentEncoding.query([("topic", "task:a b"), ("since", "5")]) == "topic=task:a%20b&since=5")
    }
}
