import HeraldRedis
import HeraldTestSupport
import Testing

@Suite struct RedisReplyReaderTests {
    /// Every kind of RESP2 reply, fed whole, byte by byte and in random splits.
    @Test func readsEveryReplyKindHoweverTheBytesArrive() throws {
        let bytes = Array("+OK\r\n-LOADING Redis is loading the dataset in memory\r\n:-42\r\n$5\r\nhe\0lo\r\n$0\r\n\r\n$-1\r\n*-1\r\n*0\r\n*3\r\n:1\r\n*2\r\n$1\r\na\r\n$-1\r\n+PONG\r\n".utf8)
        let expected: [RedisValue] = [
            .status("OK"), .error("LOADING Redis is loading the dataset in memory"), .integer(-42),
            .bulk(Array("he\0lo".utf8)), .bulk([]), .null, .null, .array([]),
            .array([.integer(1), .array([.bulk([UInt8(ascii: "a")]), .null]), .status("PONG")]),
        ]
        for (label, chunks) in FeedSplits.all(bytes) {
            let reader = RedisReplyReader()
            var got: [RedisValue] = []
            for chunk in chunks {
                try reader.feed(chunk)
                while let value = try reader.next() { got.append(value) }
            }
            #expect(got == expected, "\(label)")
        }
    }

    @Test func anIncompleteReplyWaitsForMoreBytes() throws {
        let reader = RedisReplyReader()
        try reader.feed(Array("$10\r\n01234".utf8))
        #expect(try reader.next() == nil)
        try reader.feed(Array("56789\r\n".utf8))
        #expect(try reader.next() == .bulk(Array("0123456789".utf8)))
        #expect(try reader.next() == nil)
    }

    @Test func garbageIsAProtocolErrorNotACrash() throws {
        for garbage in ["?what\r\n", "$abc\r\n", ":12x\r\n", "*-5\r\n"] {
            let reader = RedisReplyReader()
            #expect(throws: RedisProtocolError.self, "\(garbage)") {
                try reader.feed(Array(garbage.utf8))
                while try reader.next() != nil {}
            }
        }
    }

    /// XREAD's shape (streams → entries → id + fields) nests 4 deep.
    @Test func readsAStreamReply() throws {
        let reader = RedisReplyReader()
        try reader.feed(Array("*1\r\n*2\r\n$6\r\nevents\r\n*1\r\n*2\r\n$3\r\n7-0\r\n*2\r\n$1\r\nt\r\n$2\r\n{}\r\n".utf8))
        #expect(try reader.next() == .array([.array([.bulk(Array("events".utf8)), .array([
            .array([.bulk(Array("7-0".utf8)), .array([.bulk([UInt8(ascii: "t")]), .bulk(Array("{}".utf8))])]),
        ])])]))
    }

    @Test func valueAccessors() {
        #expect(RedisValue.bulk(Array("17".utf8)).int == 17)
        #expect(RedisValue.integer(3).int == 3)
        #expect(RedisValue.status("OK").string == "OK")
        #expect(RedisValue.error("NOSCRIPT No matching script").errorKind == "NOSCRIPT")
        #expect(RedisValue.null.bytes == nil)
    }

    @Test func commandsAreArraysOfBulkStrings() {
        #expect(RedisCommand("SET", "k", "").encoded == Array("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n".utf8))
        #expect(RedisCommand([[0, 13, 10]]).encoded == [UInt8(ascii: "*")] + Array("1\r\n$3\r\n".utf8) + [0, 13, 10, 13, 10])
        #expect(RedisCommand("xadd", "s").name == "XADD")
    }
}

@Suite struct RedisEndpointTests {
    @Test func parsesTheURLsRedisClientsAccept() throws {
        #expect(try RedisEndpoint(url: "redis://127.0.0.1:6380/2") == RedisEndpoint(host: "127.0.0.1", port: 6380, database: 2))
        #expect(try RedisEndpoint(url: "redis://localhost") == RedisEndpoint(host: "localhost"))
        #expect(try RedisEndpoint(url: "redis://[::1]:7000/0") == RedisEndpoint(host: "::1", port: 7000))
        #expect(try RedisEndpoint(url: "redis://:s3cret@h:1/") == RedisEndpoint(host: "h", port: 1, password: "s3cret"))
        #expect(try RedisEndpoint(url: "redis://app:p@ss@h") == RedisEndpoint(host: "h", user: "app", password: "p@ss"))
        #expect(try RedisEndpoint(url: "redis://h:65535").port == 65535)
    }

    @Test func saysWhatIsWrongWithABadURL() {
        for bad in ["http://h", "redis://", "redis://h:0", "redis://h:65536", "redis://h:x", "redis://h/x", "redis://[::1", "redis://[::1]x"] {
            #expect(throws: RedisEndpointError.self, "\(bad)") { _ = try RedisEndpoint(url: bad) }
        }
    }

    @Test func theDescriptionHidesThePassword() throws {
        #expect(try RedisEndpoint(url: "redis://u:secret@h:1/3").description == "redis://u:***@h:1/3")
    }
}
