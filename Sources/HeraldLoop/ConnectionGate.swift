/// What a listener asks about every socket it accepts, before it spends anything on it: the
/// policy (limits, counts, the refusal's bytes) belongs to the layer above, which knows what a
/// refusal should say; the loop only carries the answer out.
public protocol ConnectionGate: AnyObject {
    /// Called on the loop thread right after accept4, before any allocation for the socket.
    func admit(_ peer: PeerAddress) -> AdmissionDecision
    /// A connection this gate admitted is gone: its fd is closed (or it could not be set up).
    func release(_ peer: PeerAddress)
}

public enum AdmissionDecision {
    case admit
    /// Write these bytes with one non-blocking send, then close: no connection object, no
    /// registration with the loop. They must be a complete answer, since nothing follows.
    case refuse([UInt8])
}
