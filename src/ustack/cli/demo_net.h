// cli/demo_net.h — what the scenes of `ustack demo` share: the network (a sim::World of real
// stack::Stack hosts), a narrator that prints the stacks' own trace events with notes for the
// newcomer, a ping client, a UDP receiver, a tcpdump-style view of the captures, and the
// self-checks. The scenes live in demo_lan.cc (1-3), demo_router.cc (4) and demo_tcp.cc (5);
// demo.cc runs them and holds the last one.
//
//   alice eth0 10.0.0.1/24 ---------------------------------------------- 10.0.0.2/24 eth0 bob
//   alice eth1 10.0.1.2/24 --- 10.0.1.1/24 eth0 r1 eth1 10.0.2.1/24 --- 10.0.2.2/24 eth1 bob
//                                                     (MTU 1000)
//   alice eth2 10.0.3.1/24 ---------------------------------------------- 10.0.3.2/24 eth2 bob
// Nothing here speaks a protocol: every frame is built, parsed and answered by the stacks.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ustack/cli/demo.h"
#include "ustack/dev/pcap.h"
#include "ustack/sim/world.h"

namespace ustack::cli::demo {

using wire::Ipv4Addr;

// Prints trace events as they happen (when on), and after the first event of a given host and
// action prints the note explaining it.
class Narrator : public TraceSink {
 public:
  explicit Narrator(std::FILE* out) : out_(out) {}
  void on_event(const TraceEvent& e) override;
  // Print only the events `keep` accepts (default: all).
  void set_filter(std::function<bool(const TraceEvent&)> keep) { keep_ = std::move(keep); }
  // After the first printed event of `node` doing `action` (any node if empty) whose detail
  // contains `detail_has`, print `text`.
  void explain(std::string node, std::string action, std::string text, std::string detail_has = {});
  void clear() {
    notes_.clear();
    keep_ = nullptr;
  }
  uint64_t printed() const { return printed_; }

 private:
  struct Note {
    std::string node, action, text, detail_has;
    bool done = false;
  };
  std::FILE* out_;
  std::function<bool(const TraceEvent&)> keep_;
  std::vector<Note> notes_;
  uint64_t printed_ = 0;
};

// ping(8)'s bookkeeping for one host: the stack's echo client (Ipv4Layer::send_echo and its
// echo-reply hook), replies counted per sequence number.
class Pinger {
 public:
  Pinger(stack::Stack& st, uint16_t ident);
  ~Pinger();
  Pinger(const Pinger&) = delete;
  Pinger& operator=(const Pinger&) = delete;

  // ping -s size [-t ttl] [-M do]
  Result<void, ip::IpError> send(Instant now, Ipv4Addr dst, uint16_t seq, size_t size,
                                 uint8_t ttl = 0, bool dont_frag = false);
  struct Probe {
    Instant sent;
    Instant first_reply = Instant::never();
    Ipv4Addr from;
    size_t bytes = 0;  // ICMP bytes of the first reply (header + data), as ping prints them
    uint32_t replies = 0;
    bool intact = false;  // the first reply's data equals what was sent
  };
  const Probe* probe(uint16_t seq) const;
  uint64_t transmitted() const { return transmitted_; }
  uint64_t received() const;    // sequence numbers answered at least once
  uint64_t duplicates() const;  // replies beyond the first
  // "64 bytes from 10.0.0.2: icmp_seq=1 time=0.031 ms"
  std::string reply_line(uint16_t seq) const;
  // ping's summary since the last reset(): "--- dst ping statistics ---", then the counts.
  std::string statistics(Ipv4Addr dst) const;
  void reset();

 private:
  stack::Stack& st_;
  uint16_t ident_;
  uint64_t transmitted_ = 0;
  std::map<uint16_t, Probe> probes_;
};

// A UDP receiver: a socket bound to a port whose readiness callback reads every datagram,
// as an application's read loop would.
struct UdpReceiver {
  transport::UdpSocket* sock = nullptr;
  uint64_t datagrams = 0;
  uint64_t bytes = 0;
};

class DemoNet {
 public:
  DemoNet(const DemoOptions& opt, std::FILE* out);
  ~DemoNet();

  const DemoOptions& opt() const { return opt_; }
  sim::World& world() { return world_; }
  stack::Stack& host(std::string_view name) { return world_.host(name); }
  Instant now() const { return world_.now(); }
  void run_for(Duration d) { world_.run_for(d); }
  Pinger& ping() { return *ping_; }  // alice's ping
  Narrator& narrator() { return narrator_; }

  // Print every trace event of these layers (none while --quiet), with the narrator's notes.
  void trace(uint32_t layer_mask);
  void trace_off() { world_.set_trace_sink(nullptr); }

  UdpReceiver& udp_receiver(std::string_view host, uint16_t port);
  // The outermost device of an interface (what the stack sees: counters, rings).
  dev::NetDevice& dev(std::string_view host, std::string_view ifname);
  std::string pcap_path(std::string_view host, std::string_view ifname) const;
  // What the interface's capture holds since `since` (flushes the files first).
  std::vector<dev::PcapRecord> captured(std::string_view host, std::string_view ifname,
                                        Instant since);
  // tcpdump -e -n -v in one line per frame: time, MACs, what the frame carries, IP TTL.
  void tcpdump(std::string_view host, std::string_view ifname, Instant since);

  void title(const std::string& s);
  void say(const std::string& s);
  // A self-check: prints "[ok] what" or "[FAILED] what" and counts failures.
  bool check(bool ok, const std::string& what);
  int failures() const { return failures_; }

 private:
  void add_nic_paths(sim::NicOptions& o, std::string_view host, std::string_view ifname);

  DemoOptions opt_;
  std::FILE* out_;
  Narrator narrator_;
  sim::World world_;
  std::unique_ptr<Pinger> ping_;
  std::vector<std::unique_ptr<UdpReceiver>> receivers_;
  int failures_ = 0;
};

// The scenes, in order.
void scene_arp_and_first_ping(DemoNet& net);
void scene_burst(DemoNet& net);
void scene_lossy_cable(DemoNet& net);
void scene_router(DemoNet& net);
void scene_tcp(DemoNet& net);
void scene_counters(DemoNet& net);

// Durations as ping prints them ("0.031 ms").
std::string ms(Duration d);
// Every line of `text` indented by `n` spaces.
std::string indent(const std::string& text, int n = 2);

}  // namespace ustack::cli::demo
