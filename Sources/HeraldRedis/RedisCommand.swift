/// A command as its arguments, encoded as a RESP array of bulk strings (what every client
/// sends; Redis reads it with no quoting rules).
public struct RedisCommand: Sendable, Equatable {
    public var arguments: [[UInt8]]

    public init(_ arguments: [[UInt8]]) {
        self.arguments = arguments
    }

    public init(_ arguments: String...) {
        self.arguments = arguments.map { Array($0.utf8) }
    }

    public init(strings arguments: [String]) {
        self.arguments = arguments.map { Array($0.utf8) }
    }

    /// The command's name, for logs and errors (never its arguments: they may hold task data).
    public var name: String {
        arguments.first.map { String(decoding: $0, as: UTF8.self).uppercased() } ?? ""
    }

    /// Appends `*N\r\n` then `$len\r\n<bytes>\r\n` per argument.
    public func encode(into out: inout [UInt8]) {
        out.append(UInt8(ascii: "*"))
        appendDecimal(arguments.count, to: &out)
        for argument in arguments {
            out.append(UInt8(ascii: "$"))
            appendDecimal(argument.count, to: &out)
            out.append(contentsOf: argument)
            out.append(13)
            out.append(10)
        }
    }

    public var encoded: [UInt8] {
        var out: [UInt8] = []
        encode(into: &out)
        return out
    }

    private func appendDecimal(_ value: Int, to out: inout [UInt8]) {
        out.append(contentsOf: String(value).utf8)
        out.append(13)
        out.append(10)
    }
}
