// socket/async.cc — asynchronous operations. PLACEHOLDER until the async work lands: every
// submission reports ENOSYS. (Replaced on the async branch; not shipped.)
#include "ustack/socket/socket_internal.h"

namespace ustack::socket {

struct AsyncOp {};

int64_t SocketLayer::submit_accept(Fd, sockaddr_in*, CompletionFn) { return -ENOSYS; }
int64_t SocketLayer::submit_connect(Fd, const sockaddr_in&, CompletionFn) { return -ENOSYS; }
int64_t SocketLayer::submit_recv(Fd, std::span<uint8_t>, int, CompletionFn) { return -ENOSYS; }
int64_t SocketLayer::submit_send(Fd, std::span<const uint8_t>, int, CompletionFn) {
  return -ENOSYS;
}
int SocketLayer::cancel(int64_t) { return -ENOSYS; }
void SocketLayer::async_kick(Socket*) {}
void SocketLayer::async_run(Instant) {}
void SocketLayer::async_cancel_all(Socket*) {}

}  // namespace ustack::socket
