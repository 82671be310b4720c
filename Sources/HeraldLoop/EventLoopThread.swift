import CHeraldLinux
import Glibc

/// Starts a loop on a thread of its own.
public enum EventLoopThread {
    /// Runs `loop` on a new thread; `onExit` is called on that thread when `run` returns.
    public static func start(_ loop: EventLoop, name: String, onExit: @escaping @Sendable (SystemError?) -> Void = { _ in }) {
        final class Box: @unchecked Sendable {
            let body: () -> Void
            init(_ body: @escaping () -> Void) { self.body = body }
        }
        let box = Box {
            _ = herald_linux_set_thread_name(String(name.prefix(15)))  // the kernel's limit is 15 chars
            do throws(SystemError) { try loop.run(); onExit(nil) } catch { onExit(error) }
        }
        var thread = pthread_t()
        let context = Unmanaged.passRetained(box).toOpaque()
        let rc = pthread_create(&thread, nil, { raw in
            let box = Unmanaged<AnyObject>.fromOpaque(raw!).takeRetainedValue() as! Box
            box.body()
            return nil
        }, context)
        precondition(rc == 0, "pthread_create failed: \(rc)")
        pthread_detach(thread)
    }
}
