// socket/epoll.cc — select, poll, epoll. PLACEHOLDER until the multiplexing work lands: every
// call reports ENOSYS. (Replaced on the epoll branch; not shipped.)
#include "ustack/socket/socket_internal.h"

namespace ustack::socket {

struct EpollFile {};

// Here, where EpollFile is complete.
Socket::Socket() = default;
Socket::~Socket() = default;

int SocketLayer::select(FdSet*, FdSet*, FdSet*, std::optional<Duration>) { return -ENOSYS; }
int SocketLayer::poll(std::span<PollFd>, int) { return -ENOSYS; }
Fd SocketLayer::epoll_create1(int) { return -ENOSYS; }
int SocketLayer::epoll_ctl(Fd, int, Fd, epoll_event*) { return -ENOSYS; }
int SocketLayer::epoll_wait(Fd, epoll_event*, int, int) { return -ENOSYS; }
int SocketLayer::epoll_notify_fd(Fd) { return -ENOSYS; }
void SocketLayer::ep_poll_callback(Socket*, uint32_t) {}
void SocketLayer::ep_remove_all(Socket*) {}
void SocketLayer::ep_release(Socket*) {}

}  // namespace ustack::socket
