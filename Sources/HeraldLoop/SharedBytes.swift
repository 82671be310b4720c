import Glibc

/// Immutable bytes at a stable address, shared by reference: an event encoded once is queued on
/// every subscriber's connection without a copy, and written straight from here with writev.
public final class SharedBytes: @unchecked Sendable {
    /// Byte buffers come from malloc: Swift's `allocate(byteCount:alignment:)` took glibc's
    /// posix_memalign for them (its default-alignment path, ~280 instructions where malloc's
    /// thread cache answers in ~60; callgrind S4: one per handshake). Bytes need no more than
    /// malloc's own alignment.
    static func allocate(_ count: Int) -> UnsafeMutableRawPointer {
        guard let p = malloc(max(count, 1)) else { fatalError("out of memory allocating \(count) bytes") }
        return p
    }

    // Immutable after init, hence safe to share across threads.
    public let base: UnsafeRawPointer
    public let count: Int

    public init<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        count = bytes.count
        let p = Self.allocate(count)
        let buffer = UnsafeMutableRawBufferPointer(start: p, count: count)
        if bytes.withContiguousStorageIfAvailable({ buffer.copyMemory(from: UnsafeRawBufferPointer($0)) }) == nil {
            _ = buffer.initializeMemory(as: UInt8.self, from: bytes)
        }
        base = UnsafeRawPointer(p)
    }

    /// Builds the bytes in place: `count` bytes handed to `fill` uninitialised.
    public init(count: Int, fill: (UnsafeMutableRawBufferPointer) -> Void) {
        self.count = count
        let p = Self.allocate(count)
        fill(UnsafeMutableRawBufferPointer(start: p, count: count))
        base = UnsafeRawPointer(p)
    }

    deinit { free(UnsafeMutableRawPointer(mutating: base)) }

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
        base = SharedBytes.allocate(self.capacity)
    }

    deinit { free(base) }

    func append(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        if count + bytes.count > capacity {
            var newCapacity = capacity * 2
            while newCapacity < count + bytes.count { newCapacity *= 2 }
            guard let p = realloc(base, newCapacity) else { fatalError("out of memory allocating \(newCapacity) bytes") }
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
