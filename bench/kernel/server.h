// bench/kernel/server.h — the server role of bench_kernel: one thread, one epoll instance,
// every workload on every listening port (the first byte of a connection picks the workload; see
// kernel_common.h). One thread serves all connections, as the client side is one thread too:
// both ends of a measurement get one CPU's worth of userspace, and the kernel's softirq work runs
// wherever the kernel puts it. Level-triggered epoll: one read per readiness for echo, reads
// until the socket is drained for the bulk sink.
//
// Past RLIMIT_NOFILE (idle's 100 000 connections where the hard limit cannot be raised, e.g.
// without CAP_SYS_RESOURCE) the process spills: the accepting process stops accepting and forks
// a child that becomes the only acceptor, keeping the listening sockets and dropping its copies
// of the parent's connections. A spilled process that is neither the first nor the acceptor
// exits once its last connection closes, so between idle runs one process serves everything.
// Children stop when the first process is gone (a pipe only the first process holds open).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bench_kernel {

class Server {
 public:
  // Listens on `nports` ports starting at `first_port` (0: `nports` ephemeral ports) of
  // `bind_addr`; exits with a clear error if it cannot.
  Server(const std::string& bind_addr, int first_port, int nports);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  const std::vector<int>& ports() const { return ports_; }

  // Serves until `stop_fd` becomes readable (an eventfd or a signalfd), or until `deadline_ns`
  // (CLOCK_MONOTONIC; 0: none). Closes every connection before returning.
  void run(int stop_fd, int64_t deadline_ns);
  // Spill into child processes once `max_open` connections are open (0: never).
  void enable_spill(size_t max_open);

 private:
  struct Conn;
  void accept_all(int listen_fd);
  void on_readable(Conn* c);
  void on_writable(Conn* c);
  void handle_bulk(Conn* c, const uint8_t* data, size_t n, int64_t now);
  void handle_echo(Conn* c, const uint8_t* data, size_t n);
  void finish_bulk(Conn* c);
  void close_conn(Conn* c);
  void spill();

  int epfd_ = -1;
  std::vector<int> listen_fds_;
  std::vector<int> ports_;
  std::vector<uint8_t> buf_;
  std::vector<Conn*> conns_;   // by fd: every connection still open (closed at the end of run())
  std::vector<Conn*> closed_;  // closed during the current batch of events, freed after it
  bool warned_emfile_ = false;
  size_t open_ = 0;      // connections open in this process
  size_t max_open_ = 0;  // spill at this many (0: never)
  bool accepting_ = true;
  bool first_ = true;  // the process that was started (never exits on its own)
  int stop_fd_ = -1;   // run()'s stop fd
  int family_r_ = -1;  // EOF when the first process is gone: spilled children stop
  int family_w_ = -1;  // held by the first process only
  Conn* family_stop_ = nullptr;
};

}  // namespace bench_kernel
