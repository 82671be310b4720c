/// A growable byte queue with a read cursor: bytes are appended at the end and consumed from
/// the front by the parsers. Consumed bytes are discarded lazily, so a parser that takes a few
/// bytes at a time does not move the rest each time.
public struct ByteBuffer: Sendable, Equatable {
    public private(set) var storage: [UInt8]
    public private(set) var readerIndex: Int

    public init() {
        storage = []
        readerIndex = 0
    }

    public init<S: Sequence>(_ bytes: S) where S.Element == UInt8 {
        storage = Array(bytes)
        readerIndex = 0
    }

    public init(string: String) {
        self.init(Array(string.utf8))
    }

    public var readableBytes: Int { storage.count - readerIndex }
    public var isEmpty: Bool { readableBytes == 0 }

    /// The unread bytes, indexed from `readerIndex` (an `ArraySlice` keeps the storage's indices).
    public var readableView: ArraySlice<UInt8> { storage[readerIndex...] }

    public mutating func append<S: Sequence>(contentsOf bytes: S) where S.Element == UInt8 {
        compactIfWorthIt()
        storage.append(contentsOf: bytes)
    }

    public mutating func append(_ raw: UnsafeRawBufferPointer) {
        compactIfWorthIt()
        storage.append(contentsOf: raw.bindMemory(to: UInt8.self))
    }

    public mutating func append(string: String) {
        append(contentsOf: string.utf8)
    }

    /// The byte `offset` positions after the reader index, if there is one.
    public func peek(at offset: Int) -> UInt8? {
        let i = readerIndex + offset
        return i < storage.count ? storage[i] : nil
    }

    public mutating func moveReaderIndex(forwardBy count: Int) {
        precondition(count >= 0 && count <= readableBytes, "moving past the readable bytes")
        readerIndex += count
        if readerIndex == storage.count {
            storage.removeAll(keepingCapacity: true)
            readerIndex = 0
        }
    }

    /// Removes and returns the next `count` bytes, or nil when fewer are readable.
    public mutating func readBytes(_ count: Int) -> [UInt8]? {
        guard count <= readableBytes else { return nil }
        let out = Array(storage[readerIndex..<(readerIndex + count)])
        moveReaderIndex(forwardBy: count)
        return out
    }

    public mutating func readAll() -> [UInt8] {
        readBytes(readableBytes) ?? []
    }

    public mutating func clear() {
        storage.removeAll(keepingCapacity: true)
        readerIndex = 0
    }

    // Drop consumed bytes once they are the larger part, so memory stays ~2x the unread data
    // and the move is amortised O(1) per byte.
    private mutating func compactIfWorthIt() {
        if readerIndex > 0 && readerIndex >= storage.count - readerIndex {
            storage.removeSubrange(0..<readerIndex)
            readerIndex = 0
        }
    }
}
