// interop/tap_test.cc — TapDevice against a real Linux peer.
//
// Each test opens a TAP ("utap%d"), moves the kernel interface into a fresh network namespace
// (the fd stays valid), gives it 10.77.N.1/24 there and drives our device the way a real-time
// runner does: poll(2) on fd() while the interrupt is enabled, interrupt(now), then NAPI until
// idle, with `now` read from CLOCK_MONOTONIC here in the test (the driver never reads a clock).
// IPv6 is off in the namespace so that Linux sends only what a test provokes.
//
// Linux on the far end checks our frames (its counters, its neighbour table, ping's verdict);
// we check Linux's frames with the wire parsers. Nothing leaves the namespace.
#include "ustack/dev/tap.h"

#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <optional>
#include <thread>
#include <vector>

#include "interop/netns.h"
#include "ustack/base/byteorder.h"
#include "ustack/base/checksum.h"
#include "ustack/buf/pool.h"
#include "ustack/dev/napi.h"
#include "ustack/wire/arp.h"
#include "ustack/wire/ethernet.h"

namespace ustack::dev {
namespace {

using wire::ArpOp;
using wire::ArpRepr;
using wire::EtherType;
using wire::Ipv4Addr;
using wire::MacAddr;

// The runner's clock, read by the test (never by the driver).
Instant mono_now() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return Instant::from_nanos(static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec);
}

struct Sink : RxSink {
  std::vector<std::vector<uint8_t>> frames;
  std::function<void(Instant, const std::vector<uint8_t>&)> on_frame;
  void netif_receive(Instant now, NetDevice&, PacketPtr f) override {
    frames.emplace_back(f->data().begin(), f->data().end());
    if (on_frame) on_frame(now, frames.back());
  }
};

constexpr MacAddr kOurMac{{0x02, 0x75, 0x73, 0x74, 0x6b, 0x01}};  // locally administered

class TapInterop : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string why = interop::skip_reason(); !why.empty()) GTEST_SKIP() << why;
    ns_.emplace();
    ASSERT_TRUE(ns_->ok()) << ns_->error();
    ASSERT_TRUE(ns_->disable_ipv6().ok());

    DeviceConfig c;
    c.name = "tap0";
    c.mac = kOurMac;
    auto r = TapDevice::open(c, *pool_, "utap%d");
    ASSERT_TRUE(r) << r.error().to_string();
    dev_ = std::move(*r);
    ifname_ = dev_->kernel_ifname();
    ASSERT_EQ(ifname_.rfind("utap", 0), 0u) << ifname_;

    // A /24 per process; namespaces already keep parallel tests apart.
    const uint8_t net = static_cast<uint8_t>(::getpid() % 250 + 1);
    linux_ip_ = Ipv4Addr::from_octets(10, 77, net, 1);
    our_ip_ = Ipv4Addr::from_octets(10, 77, net, 2);
    interop::CmdResult mv = ns_->adopt_link(ifname_);
    ASSERT_TRUE(mv.ok()) << mv.output;
    interop::CmdResult cfg = ns_->exec("ip addr add " + linux_ip_.to_string() + "/24 dev " +
                                       ifname_ + " && ip link set dev " + ifname_ + " up");
    ASSERT_TRUE(cfg.ok()) << cfg.output;

    const std::optional<std::string> mac = ns_->link_mac(ifname_);
    ASSERT_TRUE(mac.has_value());
    ASSERT_TRUE(MacAddr::parse(*mac).has_value()) << *mac;
    linux_mac_ = *MacAddr::parse(*mac);
    EXPECT_EQ(dev_->kernel_mac(), linux_mac_) << "the driver read the same MAC at open";
    EXPECT_NE(linux_mac_, kOurMac);

    dev_->set_up(true);  // carrier on: Linux may send now
    napi_.add(*dev_);
  }
  void TearDown() override {
    if (dev_) napi_.remove(*dev_);
  }

  // One iteration of a runner's event loop: wait on the fd only while the interrupt is
  // enabled (NAPI owns the device otherwise), raise it, then run NAPI until idle.
  void runner_step(int timeout_ms) {
    if (dev_->irq_enabled()) {
      pollfd p{dev_->fd(), static_cast<short>(POLLIN | (dev_->tx_blocked() ? POLLOUT : 0)), 0};
      if (::poll(&p, 1, timeout_ms) > 0) dev_->interrupt(mono_now());
    }
    while (napi_.run(mono_now(), sink_)) {
    }
  }
  bool run_until(const std::function<bool()>& done, Duration limit) {
    const Instant end = mono_now() + limit;
    while (!done()) {
      if (mono_now() >= end) return false;
      runner_step(/*timeout_ms=*/20);
    }
    return true;
  }
  bool xmit(std::vector<uint8_t> f) {
    return dev_->xmit(mono_now(), pool_->alloc_copy(f, 64)) == XmitStatus::kQueued;
  }
  std::vector<uint8_t> arp_frame(const MacAddr& dst, const ArpRepr& arp) const {
    const wire::EthernetRepr eth{dst, kOurMac, wire::to_u16(EtherType::kArp), std::nullopt};
    std::vector<uint8_t> f(eth.buffer_len(arp.buffer_len()));
    eth.emit(f);
    arp.emit(std::span(f).subspan(eth.header_len()));
    return f;
  }
  std::string ping_cmd(int count, const char* extra = "") const {
    return "ping -n -c " + std::to_string(count) + " " + extra + " " + our_ip_.to_string();
  }
  // Our rings and NAPI counters agree with what the sink saw and with each other.
  void expect_consistent_stats() const {
    const DevStats& s = dev_->stats();
    const RingStats& rs = dev_->ring_stats();
    uint64_t bytes = 0;
    for (const auto& f : sink_.frames) bytes += f.size();
    EXPECT_EQ(s.rx_packets, sink_.frames.size());
    EXPECT_EQ(s.rx_bytes, bytes);
    EXPECT_EQ(s.rx_errors, 0u);
    EXPECT_EQ(s.rx_missed_errors, 0u);
    EXPECT_EQ(s.tx_errors, 0u);
    EXPECT_EQ(rs.irq_raised, rs.irq_reenabled) << "every interrupt ended in napi_complete";
    EXPECT_TRUE(dev_->irq_enabled());
    EXPECT_GE(rs.napi_polls, rs.irq_raised);
    EXPECT_EQ(rs.tx_completions, s.tx_packets) << "every sent frame was reclaimed";
    const TapStats& t = dev_->tap_stats();
    EXPECT_EQ(t.reads, s.rx_packets + t.reads_empty) << "one read per frame plus EAGAINs";
    EXPECT_EQ(t.writes, s.tx_packets) << "one write per frame, none refused";
  }

  std::optional<interop::Netns> ns_;  // declared first: destroyed after the device
  PoolHandle pool_ = BufferPool::create();
  NapiContext napi_;
  std::unique_ptr<TapDevice> dev_;
  Sink sink_;
  std::string ifname_;
  MacAddr linux_mac_;
  Ipv4Addr linux_ip_;
  Ipv4Addr our_ip_;
};

TEST_F(TapInterop, LinuxArpRequestsArriveWellFormed) {
  // Linux resolves 10.77.N.2 before it can send the echo request: ARP who-has out of the TAP.
  std::jthread ping([&] { (void)ns_->exec(ping_cmd(1, "-W 1")); });
  ASSERT_TRUE(run_until([&] { return !sink_.frames.empty(); }, Duration::s(5)))
      << "no frame from Linux within 5 s";
  ping.join();
  runner_step(0);

  for (const auto& f : sink_.frames) {
    auto eth = wire::EthernetView::parse(f);
    ASSERT_TRUE(eth);
    EXPECT_TRUE(eth->dst().is_broadcast()) << eth->dst().to_string();
    EXPECT_EQ(eth->src(), linux_mac_);
    ASSERT_EQ(eth->ethertype(), wire::to_u16(EtherType::kArp));
    EXPECT_EQ(f.size(), 42u) << "TAP frames are not padded to 60";
    auto view = wire::ArpView::parse(eth->payload());
    ASSERT_TRUE(view);
    auto arp = ArpRepr::parse(*view);
    ASSERT_TRUE(arp);
    // Linux (arp_solicit) fills the target hardware address with zeros.
    EXPECT_EQ(*arp, (ArpRepr{ArpOp::kRequest, linux_mac_, linux_ip_, MacAddr{}, our_ip_}));
  }
  expect_consistent_stats();
  EXPECT_GE(dev_->ring_stats().irq_raised, 1u);
  EXPECT_GE(dev_->tap_stats().reads_empty, 1u);
  auto linux_side = ns_->link_counters(ifname_);
  ASSERT_TRUE(linux_side);
  EXPECT_GE(linux_side->tx_packets, dev_->stats().rx_packets) << "Linux sent what we read";
}

TEST_F(TapInterop, FramesWeSendAppearInLinuxCounters) {
  const std::optional<interop::LinkCounters> before = ns_->link_counters(ifname_);
  ASSERT_TRUE(before);
  std::vector<std::vector<uint8_t>> frames;
  for (int i = 0; i < 3; ++i) {  // gratuitous ARP replies announcing our address
    frames.push_back(arp_frame(MacAddr::broadcast(),
                               ArpRepr{ArpOp::kReply, kOurMac, our_ip_, kOurMac, our_ip_}));
  }
  for (size_t len : {60, 1514}) {  // to our own MAC: Linux counts them, then ignores them
    std::vector<uint8_t> f(len, 0xa5);
    kOurMac.write(f.data());
    kOurMac.write(f.data() + 6);
    store_be16(f.data() + 12, 0x88b5);  // IEEE local experimental EtherType
    frames.push_back(f);
  }
  uint64_t bytes = 0;
  for (const auto& f : frames) {
    bytes += f.size();
    ASSERT_TRUE(xmit(f));
  }
  const uint64_t n = frames.size();
  EXPECT_EQ(dev_->stats().tx_packets, n) << "written at xmit time (the doorbell)";
  ASSERT_TRUE(run_until([&] { return dev_->ring_stats().tx_completions == n; }, Duration::s(2)))
      << "TX completion interrupt + NAPI reclaimed the ring";

  const std::optional<interop::LinkCounters> after = ns_->link_counters(ifname_);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->rx_packets - before->rx_packets, n);
  EXPECT_EQ(after->rx_bytes - before->rx_bytes, bytes);
  EXPECT_EQ(dev_->stats().tx_bytes, bytes);
  EXPECT_GE(dev_->ring_stats().irq_raised, 1u);
  EXPECT_EQ(dev_->tx_ring().free_count(), dev_->tx_ring().size());
  expect_consistent_stats();
}

// A gratuitous ARP from us teaches Linux nothing (arp_accept=0); answering its request does.
TEST_F(TapInterop, WeAnswerArpAndLinuxPingsUs) {
  int arp_requests = 0;
  int ipv4_to_us = 0;
  int echo_requests = 0;
  sink_.on_frame = [&](Instant, const std::vector<uint8_t>& f) {
    auto eth = wire::EthernetView::parse(f);
    if (!eth) return;
    if (eth->ethertype() == wire::to_u16(EtherType::kArp)) {
      auto view = wire::ArpView::parse(eth->payload());
      if (!view) return;
      auto arp = ArpRepr::parse(*view);
      if (!arp || arp->op != ArpOp::kRequest || arp->target_ip != our_ip_) return;
      ++arp_requests;
      EXPECT_TRUE(xmit(arp_frame(arp->sender_hw, ArpRepr{ArpOp::kReply, kOurMac, our_ip_,
                                                         arp->sender_hw, arp->sender_ip})));
      return;
    }
    if (eth->ethertype() != wire::to_u16(EtherType::kIpv4) || eth->dst() != kOurMac) return;
    ++ipv4_to_us;
    // ICMP echo request -> echo reply, by byte offsets (tests only; the IPv4 and ICMP
    // layers do this properly): swap MACs and addresses (the IPv4 header checksum is a sum,
    // unchanged by swapping), type 8 -> 0, new ICMP checksum.
    std::vector<uint8_t> r = f;
    const size_t ihl = (r[14] & 0x0f) * 4u;
    const size_t total = load_be16(r.data() + 16);
    if (r[23] != 1 || r.size() < 14 + total || total < ihl + 8 || r[14 + ihl] != 8) return;
    ++echo_requests;
    EXPECT_EQ(Ipv4Addr{load_be32(r.data() + 30)}, our_ip_);
    linux_mac_.write(r.data());
    kOurMac.write(r.data() + 6);
    std::swap_ranges(r.begin() + 26, r.begin() + 30, r.begin() + 30);
    uint8_t* icmp = r.data() + 14 + ihl;
    icmp[0] = 0;
    store_be16(icmp + 2, 0);
    store_be16(icmp + 2, inet_checksum(std::span<const uint8_t>(icmp, total - ihl)));
    r.resize(14 + total);
    EXPECT_TRUE(xmit(std::move(r)));
  };

  std::atomic<bool> ping_done{false};
  interop::CmdResult ping_out;
  std::jthread ping([&] {
    ping_out = ns_->exec(ping_cmd(3, "-i 0.2 -W 2 -w 8"));
    ping_done = true;
  });
  ASSERT_TRUE(run_until([&] { return ping_done.load(); }, Duration::s(12)));
  EXPECT_EQ(ping_out.status, 0) << ping_out.output;
  EXPECT_NE(ping_out.output.find("3 received"), std::string::npos) << ping_out.output;

  EXPECT_GE(arp_requests, 1);
  EXPECT_GE(echo_requests, 3);
  EXPECT_GE(ipv4_to_us, echo_requests);
  const interop::CmdResult neigh =
      ns_->exec("ip -j neigh show " + our_ip_.to_string() + " dev " + ifname_);
  ASSERT_TRUE(neigh.ok()) << neigh.output;
  EXPECT_EQ(interop::json_value(neigh.output, "lladdr"), kOurMac.to_string()) << neigh.output;
  const std::optional<std::string> state = interop::json_value(neigh.output, "state");
  ASSERT_TRUE(state.has_value()) << neigh.output;
  const bool learned = neigh.output.find("REACHABLE") != std::string::npos ||
                       neigh.output.find("STALE") != std::string::npos ||
                       neigh.output.find("DELAY") != std::string::npos;
  EXPECT_TRUE(learned) << neigh.output;

  runner_step(0);
  expect_consistent_stats();
}

TEST_F(TapInterop, LinuxSeesNoCarrierWhileWeAreDown) {
  auto carrier = [&] {
    const interop::CmdResult r = ns_->exec("cat /sys/class/net/" + ifname_ + "/carrier");
    return r.output.substr(0, 1);
  };
  EXPECT_EQ(carrier(), "1");
  dev_->set_up(false);
  EXPECT_EQ(carrier(), "0") << "ndo_stop: netif_carrier_off";
  dev_->set_up(true);
  EXPECT_EQ(carrier(), "1");
}

TEST_F(TapInterop, LinuxInterfaceDownIsNoCarrierForUs) {
  Telemetry tel("us");
  dev_->attach(tel);
  ASSERT_TRUE(ns_->exec("ip link set dev " + ifname_ + " down").ok());
  ASSERT_TRUE(xmit(
      arp_frame(MacAddr::broadcast(), ArpRepr{ArpOp::kReply, kOurMac, our_ip_, kOurMac, our_ip_})));
  EXPECT_EQ(dev_->stats().tx_errors, 1u) << "write() said EIO";
  EXPECT_EQ(dev_->tap_stats().last_errno, EIO);
  EXPECT_EQ(tel.drops().get(DropReason::kNoCarrier), 1u);
  EXPECT_FALSE(dev_->medium_gone());
  runner_step(0);
  EXPECT_EQ(dev_->tx_ring().free_count(), dev_->tx_ring().size()) << "failed frame reclaimed";
}

TEST_F(TapInterop, DeletedInterfaceFailsCleanly) {
  Telemetry tel("us");
  dev_->attach(tel);
  ASSERT_TRUE(ns_->exec("ip link del dev " + ifname_).ok());
  ASSERT_TRUE(xmit(
      arp_frame(MacAddr::broadcast(), ArpRepr{ArpOp::kReply, kOurMac, our_ip_, kOurMac, our_ip_})));
  EXPECT_EQ(dev_->tap_stats().last_errno, EBADFD);
  EXPECT_TRUE(dev_->medium_gone());
  pollfd p{dev_->fd(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 0), 1);
  EXPECT_NE(p.revents & POLLERR, 0) << "what tells a runner to stop waiting on the fd";
  dev_->interrupt(mono_now());
  EXPECT_FALSE(napi_.run(mono_now(), sink_));
  EXPECT_EQ(dev_->tap_stats().rx_io_errors, 1u) << "one failed read per poll, no spinning";
  EXPECT_EQ(dev_->stats().tx_errors, 1u);
  EXPECT_EQ(dev_->stats().rx_errors, 1u);
  EXPECT_EQ(tel.drops().get(DropReason::kDevIoError), 2u);
}

}  // namespace
}  // namespace ustack::dev
