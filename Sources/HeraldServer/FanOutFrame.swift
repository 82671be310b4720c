import HeraldLoop
import HeraldWire

/// One pushed event as every subscriber of a topic gets it: the plain text frame, built once,
/// and the permessage-deflate one, compressed at most once per window size, when the first
/// subscriber that negotiated deflate needs it. Fan-out stays one frame per event, whatever
/// the number of subscribers.
final class FanOutFrame {
    let plain: SharedBytes
    private let json: [UInt8]
    /// Per window size (usually only 15): the compressed frame, or the plain one when
    /// compressing did not pay.
    private var compressed: [(windowBits: Int, frame: SharedBytes)] = []

    init(json: [UInt8]) {
        self.json = json
        plain = MessageDeflaters.frame(opcode: .text, payload: json, compressed: false)
    }

    /// The frame for a connection: plain without deflate, else the shared compressed one.
    func frame(windowBits: Int?, deflaters: MessageDeflaters) -> SharedBytes {
        guard let bits = windowBits else { return plain }
        if let made = compressed.first(where: { $0.windowBits == bits }) { return made.frame }
        let frame = deflaters.compress(json, windowBits: bits).map {
            MessageDeflaters.frame(opcode: .text, payload: $0, compressed: true)
        } ?? plain
        compressed.append((bits, frame))
        return frame
    }
}
