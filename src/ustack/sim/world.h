// sim/world.h — World: a whole network of ustack hosts in one process, driven by a
// discrete-event loop on a virtual clock (netstack3's FakeNetwork, smoltcp's netsim).
//
// A World owns hosts (each a stack::Stack), the NICs that plug them into simulated cables
// (dev::SimNic on a dev::SimLink) and, per NIC, optional middleware: a FaultInjector (seeded
// loss, duplication, corruption, delay, reordering) and a PcapCapture. The stack sees the
// outermost device: PcapCapture(FaultInjector(nic)) when the capture is at the stack
// (kStack), FaultInjector(PcapCapture(nic)) when it is on the wire (kWire, the default).
//
// The loop (run_until): the next event is the earliest of every stack's next_deadline() and
// every link's next_deadline(). At that instant the links deliver what has arrived (DMA into
// RX rings, raising NIC interrupts that schedule NAPI), then every stack is polled at that
// instant until none has work left (a reply sent over a zero-latency link lands in the same
// instant and is handled before the clock moves). Then the clock jumps to the next event.
//
// Determinism: hosts, links and NICs are visited in creation order; every seed (each stack's,
// each fault injector's) derives from the world seed through Rng::fork() in creation order;
// MAC addresses come from host and NIC numbers. The same seed and the same calls therefore
// give the same events, the same traces and byte-identical pcaps. All stacks share one
// packet-id counter (Telemetry::share_packet_ids), so a packet's journey id survives the wire
// and TraceLog::journey() follows it across hosts.
//
// Application threads (spawn; sim_thread.h): blocking socket code runs on the virtual clock.
// Every host's SocketLayer gets a SimEnv, so socket calls made on a sim thread sleep as world
// events. An instant then goes: deadlines of sleeping threads expire; links deliver and stacks
// poll until quiescent; the runnable threads run one at a time in FIFO order, each until it
// sleeps or returns; the stacks poll again (the calls changed them); and so on until no stack
// has work and no thread is runnable. Only then does the clock move, to the next event, which
// includes the sleepers' deadlines. The threads hold the world's baton while they run, so the
// OS scheduler decides nothing and runs stay deterministic. A sim thread that never blocks
// stalls virtual time (see sim_thread.h). Socket calls from the thread that runs the world
// (a test's main thread) never sleep: a blocking call that would wait returns -EAGAIN there.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ustack/base/result.h"
#include "ustack/base/rng.h"
#include "ustack/base/telemetry.h"
#include "ustack/dev/fault_injector.h"
#include "ustack/dev/pcap.h"
#include "ustack/dev/sim_nic.h"
#include "ustack/sim/sim_thread.h"
#include "ustack/stack/stack.h"

namespace ustack::sim {

struct WorldConfig {
  uint64_t seed = 1;
  // Every host starts from this (name and seed are the world's to choose).
  stack::StackConfig host_defaults;
  // Livelock guard: polling rounds at one instant before the world gives up (asserts).
  int max_rounds_per_instant = 100'000;
};

// Where a NIC's pcap records: on the wire (after TX faults, before RX faults: what a tap on
// the cable sees) or at the stack (what the stack sent and what reached it).
enum class CaptureAt : uint8_t { kWire, kStack };

struct NicOptions {
  uint32_t ring_size = 256;    // RX and TX descriptors
  uint32_t txqueuelen = 1000;  // qdisc limit
  // A FaultInjector on this NIC. Its seed is mixed with one derived from the world seed, so
  // two NICs with the same config still draw independent faults.
  std::optional<dev::FaultInjectorConfig> faults;
  // A pcap file for this NIC (both directions); empty: none.
  std::string pcap_path;
  CaptureAt capture_at = CaptureAt::kWire;
  dev::PcapWriterOptions pcap_options;
};

struct ConnectOptions {
  dev::SimLinkConfig link;
  uint32_t mtu = 1500;
  NicOptions a;  // the first host's NIC
  NicOptions b;  // the second host's NIC
};

// What connect() made: an interface on each host and the cable between them.
struct Connection {
  link::Interface& a;
  link::Interface& b;
  dev::SimLink& link;
};

struct WorldStats {
  uint64_t steps = 0;        // instants the loop stopped at
  uint64_t rounds = 0;       // polling rounds (each polls every stack once)
  uint64_t deliveries = 0;   // frames the links landed
  uint64_t thread_runs = 0;  // times a sim thread got the baton
};

class World {
 public:
  explicit World(uint64_t seed = 1) : World(WorldConfig{.seed = seed}) {}
  explicit World(WorldConfig cfg);
  // Cancels the sim threads that have not finished (sim_thread.h: their pending sleep throws
  // ThreadCancelled and unwinds them), then destroys the hosts and links.
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  // ---- topology ---------------------------------------------------------------------------
  // A new host named `name` (unique), its stack seeded from the world seed.
  stack::Stack& add_host(std::string name);
  stack::Stack& add_host(std::string name, stack::StackConfig cfg);
  // The host called `name`; asserts that it exists (a scenario's typo is a bug in the test).
  stack::Stack& host(std::string_view name);
  size_t host_count() const { return hosts_.size(); }

  // A cable between two hosts: a new NIC on each (eth0, eth1, ... in each host's order),
  // attached to its stack and up, on a new SimLink.
  Connection connect(std::string_view a, std::string_view b, dev::SimLinkConfig link = {},
                     uint32_t mtu = 1500);
  Connection connect(std::string_view a, std::string_view b, const ConnectOptions& opts);

  // The parts of one NIC, by host and interface name (nullptr if there is no such NIC or it
  // has no such middleware).
  dev::SimNic* nic(std::string_view host, std::string_view ifname);
  dev::FaultInjector* faults(std::string_view host, std::string_view ifname);
  dev::PcapCapture* pcap(std::string_view host, std::string_view ifname);
  // Flush every pcap file (read them while the world runs) / close them all.
  void flush_pcaps();
  void close_pcaps();

  // ---- configuration helpers (ip addr / ip route), at the world's current time -------------
  // "10.0.1.2/24" on the host's interface `ifname`. Errors are sentences.
  Result<void, std::string> add_address(std::string_view host, std::string_view ifname,
                                        std::string_view cidr);
  // ip route add default via GW.
  Result<void, std::string> add_default_route(std::string_view host, std::string_view gw);
  // ip route add PREFIX via GW ("10.0.2.0/24", "10.0.1.254").
  Result<void, std::string> add_route(std::string_view host, std::string_view prefix,
                                      std::string_view gw);
  // The first address of the host's interface (for tests that address hosts by name).
  wire::Ipv4Addr addr(std::string_view host, std::string_view ifname = "eth0");

  // ---- time -----------------------------------------------------------------------------
  Instant now() const { return now_; }
  // Run every event up to and including `until`; the clock ends at `until`.
  void run_until(Instant until);
  void run_for(Duration d) { run_until(now_ + d); }
  // Run until `done()` holds (checked before starting and after every instant) or `deadline`
  // passes; true if `done()` held. On success the clock stays at the instant it became true.
  bool run_until(const std::function<bool()>& done, Instant deadline);
  // The host's CPU is busy elsewhere until `until`: its stack is not polled, so its softirq
  // (NAPI) does not run and arriving frames pile up in its RX rings (the links still DMA and
  // raise interrupts), as on a loaded machine. Its timers wait too.
  void set_busy_until(std::string_view host, Instant until) { host_ref(host).busy_until = until; }
  // The earliest pending event (Instant::never() if nothing will ever happen).
  Instant next_event() const;

  // ---- application threads (sim_thread.h) ------------------------------------------------
  // Starts fn as an application thread of `host` (named "host/thread_name"), runnable at the
  // current instant: it runs when the world runs (run_until...). Callable from the thread
  // that runs the world, outside run*, or from a sim thread (a server spawning a thread per
  // connection). Typically fn calls host(host).sockets() and blocks in it.
  SimThreadId spawn(std::string_view host, std::string thread_name, std::function<void()> fn);
  // Runs the world until every sim thread has returned (true) or `deadline` passes, or
  // nothing can happen any more (every remaining thread asleep with nothing to wake it).
  bool join_threads(Instant deadline = Instant::never());
  bool thread_finished(SimThreadId id) const { return sched_.finished(id); }
  size_t threads_live() const { return sched_.live(); }
  // The calling OS thread is a sim thread of this world.
  bool on_sim_thread() const { return sched_.on_sim_thread(); }
  // On a sim thread: sleep in virtual time (other threads and the network run meanwhile).
  void sleep_until(Instant t);
  void sleep_for(Duration d) { sleep_until(now_ + d); }
  // Every live sim thread and what it waits for (failure messages).
  std::string describe_threads() const { return sched_.describe(); }

  // ---- observability ------------------------------------------------------------------------
  // One sink for every host (present and future), as Telemetry::set_sink.
  void set_trace_sink(TraceSink* sink, uint32_t layer_mask = kAllLayers);
  uint64_t packet_ids_issued() const { return packet_ids_; }
  const WorldStats& stats() const { return stats_; }

 private:
  struct Nic {
    std::unique_ptr<dev::NetDevice> outer;  // what the stack holds: the outermost device
    dev::SimNic* nic = nullptr;
    dev::FaultInjector* faults = nullptr;
    dev::PcapCapture* pcap = nullptr;
    link::Interface* iface = nullptr;
  };
  struct Host {
    std::string name;
    // Declared before the stack so the stack (which references them) is destroyed first.
    std::unique_ptr<SimEnv> env;  // installed in the stack's SocketLayer
    std::vector<Nic> nics;
    std::unique_ptr<stack::Stack> stack;
    Instant busy_until = Instant::zero();  // set_busy_until
  };

  Host& host_ref(std::string_view name);
  Nic* find_nic(std::string_view host, std::string_view ifname);
  link::Interface& add_nic(Host& h, uint16_t host_no, dev::SimLink& link, uint32_t mtu,
                           const NicOptions& o);
  void step(Instant t);
  // Steps to the next event if it is at or before `limit`; false if there is none.
  bool step_next(Instant limit);

  WorldConfig cfg_;
  Rng rng_;
  // Separate streams, so adding a fault injector never changes a stack's seed and vice versa.
  Rng host_seeds_;
  Rng fault_seeds_;
  Instant now_ = Instant::zero();
  int stalled_ = 0;          // consecutive steps that could not move the clock
  uint64_t packet_ids_ = 0;  // shared by every host's Telemetry
  TraceSink* sink_ = nullptr;
  uint32_t sink_mask_ = kAllLayers;
  WorldStats stats_;
  // Application threads; outlives the hosts (their SimEnvs point at it). ~World cancels its
  // threads before the hosts go.
  Scheduler sched_;
  // Links outlive the NICs plugged into them (members are destroyed in reverse order).
  std::vector<std::unique_ptr<dev::SimLink>> links_;
  std::vector<std::unique_ptr<Host>> hosts_;
};

}  // namespace ustack::sim
