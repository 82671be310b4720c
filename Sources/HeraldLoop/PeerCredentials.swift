import CHeraldLinux
import Glibc

extension UnixSocket {
    /// The uid and pid of the process at the other end of a connected Unix socket, as the kernel
    /// recorded them at connect/listen time (SO_PEERCRED, unix(7)); they cannot be forged by the
    /// peer. nil when `fd` is not a connected Unix socket.
    public static func peerCredentials(fd: Int32) -> (uid: uid_t, pid: pid_t)? {
        var uid: uid_t = 0
        var pid: pid_t = 0
        guard herald_linux_peer_credentials(fd, &uid, &pid) == 0 else { return nil }
        return (uid, pid)
    }
}
