import Glibc

/// An open file descriptor that is closed when the last reference goes away, so a response
/// queued for `sendfile` keeps its file open until the bytes have left.
public final class OwnedFileDescriptor: @unchecked Sendable {
    public let fd: Int32
    public init(fd: Int32) { self.fd = fd }
    deinit { _ = Glibc.close(fd) }
}

/// `length` bytes of a file from `offset`, sent with sendfile(2) without passing through memory.
public struct FileRegion: Sendable {
    public let file: OwnedFileDescriptor
    public var offset: Int
    public var length: Int
    public init(file: OwnedFileDescriptor, offset: Int, length: Int) {
        self.file = file
        self.offset = offset
        self.length = length
    }
}
