import CHeraldSSL
import CHeraldZlib
import Foundation

/// The build tool behind Plugins/HeraldEmbedPlugin: reads the given files of public/ and writes
/// the Swift source that embeds them in the HeraldDashboard module, their gzip variants (level 9,
/// compressed here once instead of at every start) and SHA-256 digests (their ETags) included.
///
///     HeraldEmbed <public dir> <output.swift> <relative path>...
@main
struct HeraldEmbed {
    static func main() {
        let arguments = CommandLine.arguments
        guard arguments.count >= 3 else {
            fail("usage: HeraldEmbed <public dir> <output.swift> <relative path>...")
        }
        let root = URL(fileURLWithPath: arguments[1], isDirectory: true)
        var files: [EmbeddedSource.File] = []
        for path in arguments[3...].sorted() {
            let url = root.appendingPathComponent(path)
            guard let data = FileManager.default.contents(atPath: url.path) else { fail("cannot read \(url.path)") }
            let bytes = [UInt8](data)
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: url.path),
                  let modified = attributes[.modificationDate] as? Date
            else { fail("cannot stat \(url.path)") }
            let gzipped = gzip(bytes)
            files.append(EmbeddedSource.File(
                path: path, bytes: bytes, lastModified: Int(modified.timeIntervalSince1970.rounded(.down)),
                sha256: sha256Hex(bytes), gzipped: gzipped.count < bytes.count ? gzipped : nil))
        }
        let source = EmbeddedSource.render(files)
        let output = URL(fileURLWithPath: arguments[2])
        // Unchanged output keeps its mtime, so the module is not compiled again for nothing.
        if let existing = FileManager.default.contents(atPath: output.path), existing == Data(source.utf8) { return }
        do {
            try Data(source.utf8).write(to: output, options: .atomic)
        } catch {
            fail("cannot write \(output.path): \(error)")
        }
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("HeraldEmbed: \(message)\n".utf8))
        exit(1)
    }

    static func sha256Hex(_ bytes: [UInt8]) -> String {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let ok = bytes.withUnsafeBytes { input in
            EVP_Digest(input.baseAddress, input.count, &digest, &length, EVP_sha256(), nil)
        }
        guard ok == 1, length == 32 else { fail("SHA-256 failed") }
        return digest.prefix(32).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    /// One gzip member (zlib's own wrapper: mtime 0, so the output depends on the bytes alone).
    static func gzip(_ bytes: [UInt8]) -> [UInt8] {
        // zlib checks a pointer back to the stream: it must not move, so not a Swift `var`.
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        defer { stream.deinitialize(count: 1); stream.deallocate() }
        guard herald_zlib_deflate_init2(stream, 9, 15 + 16, 8) == Z_OK else { fail("zlib deflateInit2 failed") }
        defer { deflateEnd(stream) }
        // deflateBound: room for the whole output, so one deflate(Z_FINISH) call finishes.
        var output = [UInt8](repeating: 0, count: Int(deflateBound(stream, uLong(bytes.count))) + 64)
        var input = bytes
        let rc = input.withUnsafeMutableBufferPointer { inBuf in
            output.withUnsafeMutableBufferPointer { outBuf in
                stream.pointee.next_in = inBuf.baseAddress
                stream.pointee.avail_in = uInt(inBuf.count)
                stream.pointee.next_out = outBuf.baseAddress
                stream.pointee.avail_out = uInt(outBuf.count)
                return deflate(stream, Z_FINISH)
            }
        }
        guard rc == Z_STREAM_END else { fail("zlib deflate failed (\(rc))") }
        return Array(output.prefix(Int(stream.pointee.total_out)))
    }
}
