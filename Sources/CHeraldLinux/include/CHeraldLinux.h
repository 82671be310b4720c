// Thin shim: Glibc's Swift module does not export these Linux-only calls. No logic here.
#pragma once
#define _GNU_SOURCE 1
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

static inline int herald_linux_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }
static inline int herald_linux_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev) { return epoll_ctl(epfd, op, fd, ev); }
static inline int herald_linux_epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout_ms) { return epoll_wait(epfd, evs, max, timeout_ms); }
static inline int herald_linux_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }
static inline int herald_linux_timerfd_create(void) { return timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC); }
static inline int herald_linux_timerfd_settime(int fd, const struct itimerspec *its) { return timerfd_settime(fd, 0, its, NULL); }
static inline int herald_linux_accept4(int fd, struct sockaddr *addr, socklen_t *len) { return accept4(fd, addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC); }
static inline ssize_t herald_linux_sendfile(int out_fd, int in_fd, off_t *offset, size_t count) { return sendfile(out_fd, in_fd, offset, count); }
