// bench/pair/pair.h — two whole ustack hosts in one process and one thread, on one SimLink,
// driven in real time: the harness of bench_pair (issue 6's ustack <-> ustack system under test).
//
// What sim::World does in virtual time (sim/world.cc: a SimNic per host on a SimLink, the stack
// attached to it, an address each), minus everything a benchmark does not need (pcap, fault
// injection, sim threads). One loop iteration reads CLOCK_MONOTONIC once (the vDSO: no
// syscall), delivers what the link holds, polls host a, delivers again and polls host b: a frame
// either host sends lands at the other within the same iteration or the next one.
#pragma once

#include <time.h>

#include <memory>
#include <string>

#include "ustack/dev/sim_nic.h"
#include "ustack/stack/stack.h"

namespace ustack::bench {

// CLOCK_MONOTONIC as an Instant (the only clock this program reads on the data path).
inline Instant monotonic_now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return Instant::from_nanos(static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec);
}

// CPU time of the whole process (one thread): for rates "per core". A syscall: read only at the
// start and the end of a measurement.
inline double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

struct HostOptions {
  uint32_t mtu = 1500;
  uint32_t ring_size = 256;
  transport::TcpConfig tcp;
};

struct Host {
  // Declared first, destroyed last: the stack holds references to the device.
  std::unique_ptr<dev::SimNic> nic;
  std::unique_ptr<stack::Stack> st;
  link::Interface* ifc = nullptr;
  wire::Ipv4Addr addr;

  transport::TcpLayer& tcp() { return st->tcp(); }
};

class Pair {
 public:
  // Host a is 10.0.0.1 ("client"), host b 10.0.0.2 ("server"), on 10.0.0.0/16; the link has
  // no latency and no bit rate: what is measured is CPU per byte and per segment.
  explicit Pair(const HostOptions& o) : link_(dev::SimLinkConfig{.latency = Duration::zero()}) {
    now_ = monotonic_now();
    init(a_, "a", 1, o);
    init(b_, "b", 2, o);
  }
  ~Pair() {
    // Stacks first (they reference their devices), then devices (they unplug from the link).
    a_.st.reset();
    b_.st.reset();
    a_.nic.reset();
    b_.nic.reset();
  }
  Pair(const Pair&) = delete;
  Pair& operator=(const Pair&) = delete;

  Host& a() { return a_; }
  Host& b() { return b_; }
  dev::SimLink& link() { return link_; }
  Instant now() const { return now_; }
  uint64_t iterations() const { return iterations_; }

  // A further address on host a (the 4-tuples of more than one address pair).
  bool add_client_address(wire::Ipv4Addr addr) {
    return a_.st->add_address(now_, a_.ifc->ifindex(), link::IfAddr{addr, 16}).ok();
  }

  // One iteration of the real-time loop. Returns true while either host or the link has work.
  bool step() {
    now_ = monotonic_now();
    ++iterations_;
    link_.advance(now_);
    bool more = a_.st->poll(now_);
    link_.advance(now_);
    more |= b_.st->poll(now_);
    return more || link_.in_flight() != 0;
  }

  // Steps until done() or until `limit` (real time) has passed; false on the limit.
  template <typename Done>
  bool run_until(Done&& done, Duration limit) {
    const Instant end = monotonic_now() + limit;
    while (!done()) {
      step();
      if (now_ >= end) return done();
    }
    return true;
  }

  // Steps until nothing is left to do now (timers in the future do not count).
  void settle() {
    for (int i = 0; i < 1'000'000 && step(); ++i) {
    }
  }

 private:
  void init(Host& h, const char* name, uint8_t no, const HostOptions& o) {
    stack::StackConfig sc;
    sc.name = name;
    sc.seed = no;
    sc.tcp = o.tcp;
    h.st = std::make_unique<stack::Stack>(std::move(sc));
    dev::DeviceConfig dc;
    dc.name = "eth0";
    dc.mac = wire::MacAddr{{0x02, 0x00, 0x00, no, 0x00, 0x01}};
    dc.mtu = o.mtu;
    dc.rx_ring_size = o.ring_size;
    dc.tx_ring_size = o.ring_size;
    // RX buffers come from the receiving stack's pool, as in sim::World.
    h.nic = std::make_unique<dev::SimNic>(std::move(dc), h.st->pool());
    link_.attach(*h.nic);
    h.ifc = &h.st->add_interface(*h.nic);
    h.addr = wire::Ipv4Addr{(10u << 24) | no};
    (void)h.st->add_address(now_, h.ifc->ifindex(), link::IfAddr{h.addr, 16});
  }

  dev::SimLink link_;  // outlives both NICs
  Host a_, b_;
  Instant now_;
  uint64_t iterations_ = 0;
};

}  // namespace ustack::bench
