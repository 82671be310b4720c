import ArgumentParser
import Glibc
import HeraldClient
import HeraldWire

/// Output of the client commands: straight to the file descriptors, so a line is whole even
/// when several processes share a pipe, and nothing waits in a buffer at exit.
enum CLIOutput {
    static func standardOutput(_ text: String) {
        writeAll(1, Array(text.utf8))
    }

    static func standardError(_ text: String) {
        writeAll(2, Array(text.utf8))
    }

    /// Prints `herald: <message>` to stderr; throw the result to exit with status 1.
    static func failure(_ message: String) -> ExitCode {
        standardError("herald: \(message)\n")
        return ExitCode.failure
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            offset += n
        }
    }
}

enum Environment {
    static func value(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }

    /// The variable's value, nil when unset or empty (`VAR= herald …` means "not given").
    static func nonEmpty(_ name: String) -> String? {
        value(name).flatMap { $0.isEmpty ? nil : $0 }
    }
}

/// The JSON the commands read and print.
enum JSONOutput {
    /// The answer on one line (or indented), as the server's JSON; a body that is not JSON
    /// is printed as it came.
    static func format(_ body: [UInt8], pretty: Bool) -> String {
        guard let value = try? JSONParser.parse(body) else {
            return String(decoding: body, as: UTF8.self).trimmingHTTPWhitespace()
        }
        return pretty ? JSONPrettyPrinter.format(value) : JSONWriter.encodeString(value)
    }

    /// `{"error":{"code","message"}}`, the contract's error shape.
    static func errorObject(_ body: [UInt8]) -> (code: String, message: String)? {
        guard let value = try? JSONParser.parse(body), let error = value["error"]?.objectValue,
            let code = error["code"]?.stringValue
        else { return nil }
        return (code, error["message"]?.stringValue ?? code)
    }

    enum Validation {
        case valid(compact: String)
        case notJSON(String)
        case notObject
        case duplicateKeys
    }

    static func validate(_ text: String, objectOnly: Bool) -> Validation {
        let value: JSONValue
        do {
            value = try JSONParser.parse(Array(text.utf8))
        } catch {
            return .notJSON(error.description)
        }
        if objectOnly, value.objectValue == nil { return .notObject }
        if let object = value.objectValue, object.hasDuplicateKeys { return .duplicateKeys }
        return .valid(compact: JSONWriter.encodeString(value))
    }

    static func number(_ d: Double) -> String {
        JSONWriter.encodeString(.number(d))
    }
}
