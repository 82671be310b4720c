// Thin shim: Glibc's Swift module does not export these Linux-only calls. No logic here.
#pragma once
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/socket.h>
#include <sys/sendfile.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <unistd.h>
#include <pthread.h>

static inline int herald_linux_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }
static inline int herald_linux_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev) { return epoll_ctl(epfd, op, fd, ev); }
static inline int herald_linux_epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout_ms) { return epoll_wait(epfd, evs, max, timeout_ms); }
static inline int herald_linux_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }
static inline int herald_linux_timerfd_create(void) { return timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC); }
static inline int herald_linux_timerfd_settime(int fd, const struct itimerspec *its) { return timerfd_settime(fd, 0, its, NULL); }
// These two need _GNU_SOURCE, which must not leak into the Swift module (it changes fd_set), so they live in shim.c.
int herald_linux_accept4(int fd, struct sockaddr *addr, socklen_t *len);
int herald_linux_set_thread_name(const char *name);
/// openat2(2) of an absolute path with RESOLVE_NO_SYMLINKS: fails (ELOOP) when any component is a
/// symlink; ENOSYS where the kernel (or a seccomp filter) lacks openat2.
int herald_linux_open_no_symlinks(const char *path, int flags);
static inline ssize_t herald_linux_sendfile(int out_fd, int in_fd, off_t *offset, size_t count) { return sendfile(out_fd, in_fd, offset, count); }
#include <sys/signalfd.h>
#include <time.h>

static inline int herald_linux_signalfd(const sigset_t *mask) { return signalfd(-1, mask, SFD_NONBLOCK | SFD_CLOEXEC); }
static inline int herald_linux_block_signals(const sigset_t *mask) { return pthread_sigmask(SIG_BLOCK, mask, NULL); }
static inline unsigned long long herald_linux_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}
// SO_PEERCRED's struct ucred needs _GNU_SOURCE too, so this one lives in shim.c as well.
int herald_linux_peer_credentials(int fd, uid_t *uid, pid_t *pid);
#include <sys/prctl.h>

// pipe2 needs _GNU_SOURCE: in shim.c. Both ends CLOEXEC and non-blocking (a readiness pipe).
int herald_linux_pipe_cloexec(int fds[2]);

// A supervised child asks the kernel for `signo` when its parent dies (even by SIGKILL), so a
// crashed supervisor never leaves orphans. The signal follows the parent *thread*: spawn from the
// main thread.
static inline int herald_linux_set_parent_death_signal(int signo) { return prctl(PR_SET_PDEATHSIG, (unsigned long)signo, 0, 0, 0); }
