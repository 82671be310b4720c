import HeraldAccess
import HeraldWire
import Testing
@testable import HeraldServer

@Suite struct CrossOriginPolicyTests {
    let dashboard = "http://ops.example.com"

    @Test func offByDefaultAddsNothing() {
        var response = HTTPResponse(status: 200)
        CrossOriginPolicy().decorate(&response, for: staticRequest("/api/tasks", ["Origin": dashboard]))
        #expect(response.headers["access-control-allow-origin"] == nil)
        #expect(response.headers["vary"] == nil)
        #expect(CrossOriginPolicy().preflight(staticRequest("/api/tasks", ["Origin": dashboard, "Access-Control-Request-Method": "POST"], method: "OPTIONS")) == nil)
    }

    @Test func anAllowedOriginIsEchoedAndOthersAreNot() {
        let policy = CrossOriginPolicy(allowedOrigins: [dashboard])
        var allowed = HTTPResponse(status: 200)
        policy.decorate(&allowed, for: staticRequest("/api/tasks", ["Origin": dashboard]))
        #expect(allowed.headers["access-control-allow-origin"] == dashboard)
        #expect(allowed.headers["vary"] == "Origin")
        var other = HTTPResponse(status: 200)
        policy.decorate(&other, for: staticRequest("/api/tasks", ["Origin": "http://evil.example"]))
        #expect(other.headers["access-control-allow-origin"] == nil)
        #expect(other.headers["vary"] == "Origin")  // caches must not mix the two answers
    }

    @Test func aStarAllowsAnyOrigin() {
        var response = HTTPResponse(status: 200)
        CrossOriginPolicy(allowedOrigins: ["*"]).decorate(&response, for: staticRequest("/api/tasks", ["Origin": "http://a.test"]))
        #expect(response.headers["access-control-allow-origin"] == "*")
    }

    @Test func aPreflightNamesMethodsAndHeadersOnlyForAnAllowedOrigin() throws {
        let policy = CrossOriginPolicy(allowedOrigins: [dashboard])
        let ok = try #require(policy.preflight(staticRequest("/api/tasks/a/cancel",
            ["Origin": dashboard, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"], method: "OPTIONS")))
        #expect(ok.status == 204)
        #expect(ok.headers["access-control-allow-methods"] == "GET, HEAD, POST, DELETE")
        #expect(ok.headers["access-control-allow-headers"] == "Content-Type, Authorization")
        #expect(ok.headers["access-control-max-age"] == "600")
        let refused = try #require(policy.preflight(staticRequest("/api/tasks", ["Origin": "http://evil.example", "Access-Control-Request-Method": "POST"], method: "OPTIONS")))
        #expect(refused.headers["access-control-allow-origin"] == nil)
        #expect(refused.headers["access-control-allow-methods"] == nil)
        // A plain OPTIONS (no Access-Control-Request-Method) is not a preflight.
        #expect(policy.preflight(staticRequest("/api/tasks", ["Origin": dashboard], method: "OPTIONS")) == nil)
    }
}

@Suite struct WebSocketOriginTests {
    let policy = CrossOriginPolicy(allowedOrigins: ["https://app.example"])

    @Test func ownListedAndAbsentOriginsPassOthersDoNot() {
        let host: HTTPHeaders = ["Host": "herald.example:8080"]
        func head(_ origin: String?) -> HTTPRequestHead {
            var h = host
            if let origin { h.add(name: "Origin", value: origin) }
            return staticRequest("/ws", h)
        }
        #expect(policy.allowsWebSocket(head(nil)))
        #expect(policy.allowsWebSocket(head("https://app.example")))
        #expect(policy.allowsWebSocket(head("http://herald.example:8080")))
        #expect(policy.allowsWebSocket(head("https://HERALD.example:8080")))
        #expect(!policy.allowsWebSocket(head("http://evil.example")))
        #expect(!policy.allowsWebSocket(head("null")))
        #expect(!policy.allowsWebSocket(head("http://herald.example:8081")))
        #expect(CrossOriginPolicy().allowsWebSocket(head("http://evil.example")))  // off without --allow-origin
        #expect(CrossOriginPolicy(allowedOrigins: ["*"]).allowsWebSocket(head("http://evil.example")))
    }

    @Test func retryAfterIsExposedToAllowedPages() {
        var response = HTTPResponse(status: 429)
        response.headers.add(name: "Retry-After", value: "5")
        policy.decorate(&response, for: staticRequest("/api/tasks", ["Origin": "https://app.example"], method: "POST"))
        #expect(response.headers["access-control-expose-headers"] == "Retry-After")
    }
}

/// `--publish-token` without `--auth-secret-file`: the v1 behaviour, now a mode of AccessControl.
@Suite struct PublishTokenOnlyTests {
    let control = AccessControl(verifier: nil, publishToken: Array("s3cret".utf8))

    func refusal(_ control: AccessControl, _ head: HTTPRequestHead) -> HTTPResponse? {
        if case .refuse(let response, _) = control.authenticate(head) { return response }
        return nil
    }

    @Test func withoutATokenEverythingPasses() {
        #expect(refusal(AccessControl(verifier: nil, publishToken: nil), staticRequest("/api/tasks", method: "POST")) == nil)
    }

    @Test func readsPassAndChangesNeedTheToken() throws {
        #expect(refusal(control, staticRequest("/api/tasks")) == nil)
        #expect(refusal(control, staticRequest("/api/tasks/a", method: "HEAD")) == nil)
        #expect(refusal(control, staticRequest("/ws")) == nil)
        for method in ["POST", "DELETE"] {
            let missing = try #require(refusal(control, staticRequest("/api/tasks/a", method: method)))
            #expect(missing.status == 401)
            #expect(missing.headers["www-authenticate"] == "Bearer realm=\"herald\"")
            #expect(refusal(control, staticRequest("/api/tasks/a", ["Authorization": "Bearer s3cret"], method: method)) == nil)
        }
    }

    @Test(arguments: ["Bearer s3cre", "Bearer s3cret2", "Bearer S3CRET", "Basic s3cret", "s3cret", "Bearer", "Bearer  ", ""])
    func aWrongOrMalformedTokenIsRefused(_ value: String) {
        #expect(refusal(control, staticRequest("/api/tasks", ["Authorization": value], method: "POST"))?.status == 401)
    }

    @Test func theSchemeIsCaseInsensitive() {
        #expect(refusal(control, staticRequest("/api/tasks", ["Authorization": "bearer s3cret"], method: "POST")) == nil)
    }

    @Test func comparisonIsExact() {
        #expect(ConstantTime.equal(Array("abc".utf8), Array("abc".utf8)))
        #expect(!ConstantTime.equal(Array("abc".utf8), Array("abd".utf8)))
        #expect(!ConstantTime.equal(Array("abc".utf8), Array("abcd".utf8)))
        #expect(!ConstantTime.equal([], Array("a".utf8)))
        #expect(ConstantTime.equal([], []))
    }
}
