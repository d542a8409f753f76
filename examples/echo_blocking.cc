// examples/echo_blocking.cc — model 1, blocking I/O: a thread per connection sleeps in recv()
// and send() (SO_RCVTIMEO/SO_SNDTIMEO bound each sleep so stop() is noticed).
//
// Try it (root; the kernel's end of the TAP gets 192.0.2.1):
//   ip tuntap add mode tap utap0 && ip addr add 192.0.2.1/24 dev utap0 && ip link set utap0 up
//   build/examples/echo_blocking --tap utap0 --addr 192.0.2.2/24 --port 7000 &
//   socat - TCP:192.0.2.2:7000        # or: nc 192.0.2.2 7000
// The server code is examples/echo_servers.h (BlockingEcho), the same template the echo test suite
// and bench_models run over ustack and over the Linux kernel.
#include "examples/example_host.h"

int main(int argc, char** argv) {
  using ustack::socket::SocketLayer;
  return ustack::examples::run_echo_example("echo_blocking", argc, argv, [](SocketLayer& api) {
    return std::make_unique<ustack::examples::BlockingEcho<SocketLayer>>(api);
  });
}
