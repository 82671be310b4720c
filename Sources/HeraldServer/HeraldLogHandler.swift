import HeraldLoop
import Logging

/// The swift-log handler of every Herald process: lines in `--log-format` (text or JSON) to
/// stderr through `LogWriter`, the same queue as the access lines and the `listening on`
/// line, so the order on stderr is the order things happened and no log call blocks on a
/// slow reader.
public struct HeraldLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let format: LogFormat
    private let writer: LogWriter

    public init(label: String, level: Logger.Level, format: LogFormat, writer: LogWriter = .standardError,
                metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider) {
        self.label = label
        logLevel = level
        self.format = format
        self.writer = writer
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let explicit = event.metadata { merged.merge(explicit) { _, new in new } }
        if let error = event.error { merged["error"] = "\(error)" }
        let pairs = merged.sorted { $0.key < $1.key }.map { ($0.key, $0.value.description) }
        var encoder = LogLineEncoder(format: format)
        writer.write(encoder.message(
            event.message.description, level: event.level.rawValue, label: label, metadata: pairs, at: AccessLog.nowMillis()))
    }

    /// Makes every logger of this process a `HeraldLogHandler`, and the "lines dropped" notice
    /// of stderr's writer follow the same format.
    public static func bootstrap(level: Logger.Level, format: LogFormat) {
        LogWriter.standardError.setDroppedNotice { count in
            var encoder = LogLineEncoder(format: format)
            return encoder.message("\(count) log lines dropped: stderr was not read fast enough", level: "warning",
                                   label: "herald", at: AccessLog.nowMillis())
        }
        LoggingSystem.bootstrap { label in HeraldLogHandler(label: label, level: level, format: format) }
    }
}
