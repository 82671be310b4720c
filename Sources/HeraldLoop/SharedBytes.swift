/// Immutable bytes at a stable address, shared by reference: an event encoded once is queued on
/// every subscriber's connection without a copy, and written straight from here with writev.
public final class SharedBytes: @unchecked Sendable {
    /// Bytes need no alignment; asking for 16 took glibc's memalign path (callgrind S2: two
    /// per request) where `allocate`'s default takes plain malloc.
    static let alignment = 1

    // Immutable after init, hence safe to share across threads.
    public let base: UnsafeRawPointer
    public let count: Int

    public init<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        count = bytes.count
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: Self.alignment)
        let buffer = UnsafeMutableRawBufferPointer(start: p, count: count)
        if bytes.withContiguousStorageIfAvailable({ buffer.copyMemory(from: UnsafeRawBufferPointer($0)) }) == nil {
            _ = buffer.initializeMemory(as: UInt8.self, from: bytes)
        }
        base = UnsafeRawPointer(p)
    }

    /// Builds the bytes in place: `count` bytes handed to `fill` uninitialised.
    public init(count: Int, fill: (UnsafeMutableRawBufferPointer) -> Void) {
        self.count = count
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: Self.alignment)
        fill(UnsafeMutableRawBufferPointer(start: p, count: count))
        base = UnsafeRawPointer(p)
    }

    deinit { base.deallocate() }

    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }
    public var array: [UInt8] { Array(bytes) }
}

/// A connection's own output bytes: small writes are appended here so that one writev
/// carries many of them.
final class GrowableBytes {
    private(set) var base: UnsafeMutableRawPointer
    private(set) var count = 0
    private(set) var capacity: Int

    init(capacity: Int) {
        self.capacity = max(capacity, 64)
        base = .allocate(byteCount: self.capacity, alignment: SharedBytes.alignment)
    }

    deinit { base.deallocate() }

    func append(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        if count + bytes.count > capacity {
            var newCapacity = capacity * 2
            while newCapacity < count + bytes.count { newCapacity *= 2 }
            let p = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: SharedBytes.alignment)
            p.copyMemory(from: base, byteCount: count)
            base.deallocate()
            base = p
            capacity = newCapacity
        }
        (base + count).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        count += bytes.count
    }

    /// Empties the buffer for reuse, keeping its memory.
    func removeAll() {
        count = 0
    }
}
