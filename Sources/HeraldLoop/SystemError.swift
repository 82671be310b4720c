import Glibc

/// A failed system call: which one and its errno, printable as one line for the CLI.
public struct SystemError: Error, CustomStringConvertible, Sendable, Equatable {
    public let function: String
    public let errno: Int32

    public init(_ function: String, errno: Int32 = Glibc.errno) {
        self.function = function
        self.errno = errno
    }

    public var description: String {
        "\(function): \(String(cString: strerror(errno)))"
    }
}
