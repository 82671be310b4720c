#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What every target shares: the input as bytes, invariant checks that crash (so libFuzzer
/// keeps the input), and writing the target's seed corpus (`scripts/fuzz --seeds`).
public enum Fuzz {
    /// The fuzzer's input as an array. libFuzzer may pass a null pointer with size 0.
    public static func bytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
        guard let data, size > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: size))
    }

    /// An invariant of the code under test. A failure aborts, which libFuzzer reports as a
    /// crash and saves the input for (a regression test).
    public static func check(_ condition: Bool, _ message: @autoclosure () -> String,
                             file: StaticString = #fileID, line: UInt = #line) {
        guard !condition else { return }
        printError("invariant failed at \(file):\(line): \(message())")
        abort()
    }

    /// A split point in `0...bytes.count` derived from the input (FNV-1a), so a run is
    /// reproducible from the saved input alone and every length gets varied splits.
    public static func splitPoint(_ bytes: [UInt8]) -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 }
        return Int(hash % UInt64(bytes.count + 1))
    }

    /// Called from `LLVMFuzzerInitialize`: with HERALD_FUZZ_WRITE_SEEDS=DIR, writes `seeds`
    /// there (built by the real encoders) and exits instead of fuzzing.
    public static func writeSeedsIfAsked(_ seeds: () -> [[UInt8]]) {
        guard let dir = getenv("HERALD_FUZZ_WRITE_SEEDS").map({ String(cString: $0) }) else { return }
        for (i, seed) in seeds().enumerated() {
            let path = "\(dir)/seed-\(i < 10 ? "0" : "")\(i)"
            guard let f = fopen(path, "wb") else { printError("cannot write \(path)"); exit(1) }
            _ = seed.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
            fclose(f)
        }
        exit(0)
    }
}

/// One line on stderr (fd 2 directly: Swift 6 refuses the C global `stderr`).
public func printError(_ text: String) {
    var line = text + "\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

/// The `LLVMFuzzerInitialize` argument types, so each target's hook is one line.
public typealias FuzzArgc = UnsafeMutablePointer<Int32>
public typealias FuzzArgv = UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>


/// libFuzzer's driver (from libclang_rt.fuzzer_no_main): the executable's own `main` calls it.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

extension Fuzz {
    /// Runs libFuzzer over `testOneInput`. SwiftPM links an executable target's entry as
    /// `<Target>_main`; each target defines that and calls this (so only the fuzz executables
    /// carry a fuzzer, and Herald's own build tool keeps its main).
    public static func runDriver(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>,
                                 _ testOneInput: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32 {
        var count = argc
        var vector: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = argv
        return LLVMFuzzerRunDriver(&count, &vector, testOneInput)
    }
}
