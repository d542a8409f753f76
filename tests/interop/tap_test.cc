// interop/tap_test.cc — TapDevice against a real Linux peer, seen through a pcap capture.
//
// Each test opens a TAP ("utap%d"), moves the kernel interface into a fresh network namespace
// (the fd stays valid), gives it 203.0.113.1/24 there and drives our device the way a real-time
// runner does: poll(2) on fd() while the interrupt is enabled, interrupt(now), then NAPI until
// idle, with `now` read from CLOCK_MONOTONIC here in the test (the driver never reads a clock).
// IPv6 is off in the namespace so that Linux sends only what a test provokes.
//
// The device the tests drive is PcapCapture(TapDevice), writing one file (both directions) into
// a ScratchDir that is kept when a test fails. Each test ends by checking that the file holds
// exactly the frames the test saw and that tshark finds no malformed frame or bad checksum in
// it. The fault test puts a FaultInjector around that: FaultInjector(PcapCapture(TapDevice)).
//
// Linux on the far end checks our frames (its counters, its neighbour table, ping's verdict);
// we check Linux's frames with the wire parsers; tshark checks both. Nothing leaves the
// namespace.
#include "ustack/dev/tap.h"

#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <functional>
#include <optional>
#include <regex>
#include <sstream>
#include <thread>
#include <variant>
#include <vector>

#include "interop/netns.h"
#include "tools/pcap_check.h"
#include "tools/scratch_dir.h"
#include "ustack/base/byteorder.h"
#include "ustack/buf/pool.h"
#include "ustack/dev/fault_injector.h"
#include "ustack/dev/napi.h"
#include "ustack/dev/pcap.h"
#include "ustack/wire/arp.h"
#include "ustack/wire/ethernet.h"
#include "ustack/wire/icmp.h"
#include "ustack/wire/ipv4.h"

namespace ustack::dev {
namespace {

using wire::ArpOp;
using wire::ArpRepr;
using wire::EtherType;
using wire::Ipv4Addr;
using wire::MacAddr;

using Frame = std::vector<uint8_t>;

// The runner's clock, read by the test (never by the driver).
Instant mono_now() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return Instant::from_nanos(static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec);
}

struct Sink : RxSink {
  std::vector<Frame> frames;
  std::vector<Frame>* order = nullptr;  // every frame the test saw, both directions, in order
  std::function<void(Instant, const Frame&)> on_frame;
  void netif_receive(Instant now, NetDevice&, PacketPtr f) override {
    frames.emplace_back(f->data().begin(), f->data().end());
    if (order != nullptr) order->push_back(frames.back());
    if (on_frame) on_frame(now, frames.back());
  }
};

// What the responder (TapInterop::respond) saw and did.
struct ResponderCounts {
  int arp_requests = 0;  // ARP who-has for our address
  int arp_replies = 0;   // ... answered
  int ipv4_to_us = 0;    // IPv4 frames to our MAC
  int echo_requests = 0;
  int echo_replies = 0;
};

std::string read_text(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> lines;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// ping counts a reply even when its data or checksum is wrong (it says so per reply, iputils'
// "wrong data byte" and "BAD CHECKSUM"), and a duplicate as "DUP!": none may appear.
void expect_ping_found_no_fault(const std::string& out) {
  for (const char* complaint : {"wrong data", "BAD CHECKSUM", "DUP!"}) {
    EXPECT_EQ(out.find(complaint), std::string::npos) << out;
  }
}

constexpr MacAddr kOurMac{{0x02, 0x75, 0x73, 0x74, 0x6b, 0x01}};  // locally administered

class TapInterop : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string why = interop::skip_reason(); !why.empty()) GTEST_SKIP() << why;
    ASSERT_TRUE(scratch_.ok());
    ns_.emplace();
    ASSERT_TRUE(ns_->ok()) << ns_->error();
    ASSERT_TRUE(ns_->disable_ipv6().ok());

    DeviceConfig c;
    c.name = "tap0";
    c.mac = kOurMac;
    auto r = TapDevice::open(c, *pool_, "utap%d");
    ASSERT_TRUE(r) << r.error().to_string();
    tap_ = r->get();
    ifname_ = tap_->kernel_ifname();
    ASSERT_EQ(ifname_.rfind("utap", 0), 0u) << ifname_;

    // The capture sits right on the TAP: it records what we hand the driver and what the driver
    // reads from Linux (PcapCapture(TapDevice)); a test may wrap more around it.
    pcap_path_ = scratch_.file("tap.pcap");
    auto w = PcapWriter::open(pcap_path_);
    ASSERT_TRUE(w) << w.error().message;
    auto cap = std::make_unique<PcapCapture>(std::move(*r), std::move(*w));
    cap_ = cap.get();
    dev_ = wrap(std::move(cap));
    sink_.order = &seen_;

    // A documentation range (RFC 5737); the namespace keeps parallel tests apart.
    linux_ip_ = Ipv4Addr::from_octets(203, 0, 113, 1);
    our_ip_ = Ipv4Addr::from_octets(203, 0, 113, 2);
    interop::CmdResult mv = ns_->adopt_link(ifname_);
    ASSERT_TRUE(mv.ok()) << mv.output;
    interop::CmdResult cfg = ns_->exec("ip addr add " + linux_ip_.to_string() + "/24 dev " +
                                       ifname_ + " && ip link set dev " + ifname_ + " up");
    ASSERT_TRUE(cfg.ok()) << cfg.output;

    const std::optional<std::string> mac = ns_->link_mac(ifname_);
    ASSERT_TRUE(mac.has_value());
    ASSERT_TRUE(MacAddr::parse(*mac).has_value()) << *mac;
    linux_mac_ = *MacAddr::parse(*mac);
    EXPECT_EQ(tap_->kernel_mac(), linux_mac_) << "the driver read the same MAC at open";
    EXPECT_NE(linux_mac_, kOurMac);

    dev_->set_up(true);  // carrier on: Linux may send now
    napi_.add(*dev_);
  }
  void TearDown() override {
    if (dev_) napi_.remove(*dev_);
  }

  // The middleware around the capture: none here.
  virtual std::unique_ptr<NetDevice> wrap(std::unique_ptr<NetDevice> capture) { return capture; }

  // One iteration of a runner's event loop: wait on the fd only while the interrupt is
  // enabled (NAPI owns the device otherwise), raise it, then run NAPI until idle. The wrappers
  // forward irq_enabled() and interrupt() to the TAP and route its NAPI schedule to dev_.
  void runner_step(int timeout_ms) {
    if (dev_->irq_enabled()) {
      pollfd p{tap_->fd(), static_cast<short>(POLLIN | (tap_->tx_blocked() ? POLLOUT : 0)), 0};
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
  bool xmit(Frame f) {
    seen_.push_back(f);
    sent_.push_back(f);
    return dev_->xmit(mono_now(), pool_->alloc_copy(f, 64)) == XmitStatus::kQueued;
  }
  Frame arp_frame(const MacAddr& dst, const ArpRepr& arp) const {
    const wire::EthernetRepr eth{dst, kOurMac, wire::to_u16(EtherType::kArp), std::nullopt};
    Frame f(eth.buffer_len(arp.buffer_len()));
    eth.emit(f);
    arp.emit(std::span(f).subspan(eth.header_len()));
    return f;
  }
  std::string ping_cmd(int count, const char* extra = "") const {
    return "ping -n -c " + std::to_string(count) + " " + extra + " " + our_ip_.to_string();
  }

  // Answers Linux as a host would (tests only; the ARP, IPv4 and ICMP layers do this properly):
  // an ARP request for our address gets a reply, an ICMP echo request to us an echo reply. Every
  // frame Linux sends must parse, and its IPv4 and ICMP checksums must be right.
  void install_responder(ResponderCounts& n) {
    sink_.on_frame = [this, &n](Instant, const Frame& f) { respond(f, n); };
  }
  void respond(const Frame& f, ResponderCounts& n) {
    auto eth = wire::EthernetView::parse(f);
    ASSERT_TRUE(eth) << "Linux sent a frame we cannot parse";
    if (eth->ethertype() == wire::to_u16(EtherType::kArp)) {
      auto view = wire::ArpView::parse(eth->payload());
      ASSERT_TRUE(view);
      auto arp = ArpRepr::parse(*view);
      ASSERT_TRUE(arp);
      if (arp->op != ArpOp::kRequest || arp->target_ip != our_ip_) return;
      ++n.arp_requests;
      const bool sent = xmit(arp_frame(arp->sender_hw, ArpRepr{ArpOp::kReply, kOurMac, our_ip_,
                                                               arp->sender_hw, arp->sender_ip}));
      EXPECT_TRUE(sent);
      n.arp_replies += sent ? 1 : 0;
      return;
    }
    if (eth->ethertype() != wire::to_u16(EtherType::kIpv4) || eth->dst() != kOurMac) return;
    ++n.ipv4_to_us;
    EXPECT_EQ(eth->src(), linux_mac_);
    auto ipv = wire::Ipv4View::parse(eth->payload());
    ASSERT_TRUE(ipv) << "IPv4 from Linux: " << wire::wire_error_name(ipv.error());
    auto ip = wire::Ipv4Repr::parse(*ipv);  // checks the header checksum
    ASSERT_TRUE(ip) << "IPv4 from Linux: " << wire::wire_error_name(ip.error());
    EXPECT_EQ(ip->dst, our_ip_);
    EXPECT_EQ(ip->src, linux_ip_);
    if (ip->protocol != wire::to_u8(wire::IpProto::kIcmp)) return;
    EXPECT_FALSE(ipv->is_fragment()) << "a 64-byte ping is not fragmented";
    auto icmpv = wire::IcmpView::parse(ipv->payload());
    ASSERT_TRUE(icmpv) << "ICMP from Linux: " << wire::wire_error_name(icmpv.error());
    auto icmp = wire::IcmpRepr::parse(*icmpv);  // checks the ICMP checksum
    ASSERT_TRUE(icmp) << "ICMP from Linux: " << wire::wire_error_name(icmp.error());
    const auto* req = std::get_if<wire::IcmpEchoRequest>(&icmp->msg);
    if (req == nullptr) return;
    ++n.echo_requests;

    // RFC 792: the reply carries the request's identifier, sequence number and data.
    const wire::IcmpRepr reply{wire::IcmpEchoReply{req->ident, req->seq_no, req->data}};
    const wire::Ipv4Repr rip{.src = our_ip_,
                             .dst = ip->src,
                             .protocol = wire::to_u8(wire::IpProto::kIcmp),
                             .ttl = 64,
                             .ident = ++ip_ident_,
                             .dont_frag = true,
                             .payload_len = static_cast<uint16_t>(reply.buffer_len())};
    const wire::EthernetRepr reth{eth->src(), kOurMac, wire::to_u16(EtherType::kIpv4),
                                  std::nullopt};
    Frame r(reth.buffer_len(rip.buffer_len()));
    const std::span<uint8_t> out(r);
    reth.emit(out);
    rip.emit(out.subspan(reth.header_len()));
    reply.emit(out.subspan(reth.header_len() + rip.header_len()));
    const bool sent = xmit(std::move(r));
    EXPECT_TRUE(sent);
    n.echo_replies += sent ? 1 : 0;
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
    const TapStats& t = tap_->tap_stats();
    EXPECT_EQ(t.reads, s.rx_packets + t.reads_empty) << "one read per frame plus EAGAINs";
    EXPECT_EQ(t.writes, s.tx_packets) << "one write per frame, none refused";
  }

  // The capture file as written so far (flushed first).
  std::vector<PcapRecord> read_capture() {
    auto fl = cap_->flush();
    EXPECT_TRUE(fl) << fl.error().message;
    EXPECT_EQ(cap_->capture_stats().write_errors, 0u);
    EXPECT_FALSE(cap_->first_error().has_value()) << cap_->first_error()->message;
    auto rd = PcapReader::open(pcap_path_);
    if (!rd) {
      ADD_FAILURE() << rd.error().message;
      return {};
    }
    EXPECT_EQ(rd->linktype(), 1) << "DLT_EN10MB";
    auto all = rd->read_all();
    if (!all) {
      ADD_FAILURE() << all.error().message;
      return {};
    }
    for (const PcapRecord& rec : *all) EXPECT_EQ(rec.orig_len, rec.data.size()) << "not cut";
    return std::move(*all);
  }

  // The end of every test with a plain PcapCapture(TapDevice): the file holds exactly the
  // frames the test saw, in the order it saw them (TX recorded at xmit(), RX as NAPI hands a
  // frame up), and tshark finds nothing malformed and no bad checksum in it.
  void expect_capture_is_what_we_saw() {
    const std::vector<PcapRecord> records = read_capture();
    EXPECT_EQ(cap_->capture_stats().rx_frames, sink_.frames.size());
    EXPECT_EQ(cap_->capture_stats().tx_frames, sent_.size());
    ASSERT_EQ(records.size(), seen_.size());
    for (size_t i = 0; i < records.size(); ++i) {
      EXPECT_EQ(records[i].data, seen_[i]) << "record " << i;
    }
    EXPECT_TRUE(testtools::tshark_clean(pcap_path_));
  }

  // tshark's own decode of the capture: one line per frame, the `fields` tab-separated.
  std::vector<std::string> tshark_fields(const std::vector<std::string>& fields) {
    const std::string err = scratch_.file("tshark.stderr");
    std::string cmd = "tshark -n -r " + interop::shell_quote(pcap_path_) + " -T fields";
    for (const std::string& f : fields) cmd += " -e " + f;
    cmd += " 2>" + interop::shell_quote(err);  // stderr has the "Running as user" banner
    const interop::CmdResult r = interop::run_cmd(cmd);
    EXPECT_TRUE(r.ok()) << cmd << " exited with " << r.status << ":\n"
                        << r.output << read_text(err);
    return split_lines(r.output);
  }

  // Ordered for destruction: the device (and its pcap writer) goes first, then the namespace,
  // then the scratch directory (removed only if the test passed).
  testtools::ScratchDir scratch_;
  std::optional<interop::Netns> ns_;
  PoolHandle pool_ = BufferPool::create();
  NapiContext napi_;
  std::unique_ptr<NetDevice> dev_;  // what the test drives: the outermost device
  TapDevice* tap_ = nullptr;        // the driver inside, for its own stats and fd
  PcapCapture* cap_ = nullptr;      // the capture right around it
  std::string pcap_path_;
  std::vector<Frame> seen_;  // every frame the test sent or received, in order
  std::vector<Frame> sent_;  // what the test gave xmit()
  Sink sink_;
  std::string ifname_;
  MacAddr linux_mac_;
  Ipv4Addr linux_ip_;
  Ipv4Addr our_ip_;
  uint16_t ip_ident_ = 0;
};

TEST_F(TapInterop, LinuxArpRequestsArriveWellFormed) {
  // Linux resolves 203.0.113.2 before it can send the echo request: ARP who-has out of the TAP.
  std::jthread ping([&] { (void)ns_->exec(ping_cmd(1, "-W 1")); });
  ASSERT_TRUE(run_until([&] { return !sink_.frames.empty(); }, Duration::s(5)))
      << "no frame from Linux within 5 s";
  ping.join();
  runner_step(0);

  std::vector<std::string> expected_decode;
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
    expected_decode.push_back(std::to_string(wire::to_u16(arp->op)) + "\t" +
                              arp->target_ip.to_string() + "\t" + arp->sender_hw.to_string() +
                              "\t" + arp->sender_ip.to_string());
  }
  expect_consistent_stats();
  EXPECT_GE(dev_->ring_stats().irq_raised, 1u);
  EXPECT_GE(tap_->tap_stats().reads_empty, 1u);
  auto linux_side = ns_->link_counters(ifname_);
  ASSERT_TRUE(linux_side);
  EXPECT_GE(linux_side->tx_packets, dev_->stats().rx_packets) << "Linux sent what we read";

  expect_capture_is_what_we_saw();
  ASSERT_FALSE(expected_decode.empty());
  // Wireshark's ARP dissector reads the captured requests as our parser did: who-has our
  // address (opcode 1), asked by Linux's MAC and address.
  EXPECT_EQ(
      tshark_fields({"arp.opcode", "arp.dst.proto_ipv4", "arp.src.hw_mac", "arp.src.proto_ipv4"}),
      expected_decode);
  EXPECT_EQ(expected_decode.front(), "1\t" + our_ip_.to_string() + "\t" + linux_mac_.to_string() +
                                         "\t" + linux_ip_.to_string());
}

TEST_F(TapInterop, FramesWeSendAppearInLinuxCounters) {
  const std::optional<interop::LinkCounters> before = ns_->link_counters(ifname_);
  ASSERT_TRUE(before);
  std::vector<Frame> frames;
  for (int i = 0; i < 3; ++i) {  // gratuitous ARP replies announcing our address
    frames.push_back(arp_frame(MacAddr::broadcast(),
                               ArpRepr{ArpOp::kReply, kOurMac, our_ip_, kOurMac, our_ip_}));
  }
  for (size_t len : {60, 1514}) {  // to our own MAC: Linux counts them, then ignores them
    Frame f(len, 0xa5);
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
  EXPECT_EQ(tap_->tx_ring().free_count(), tap_->tx_ring().size());
  expect_consistent_stats();
  EXPECT_TRUE(sink_.frames.empty()) << "Linux had nothing to say";
  expect_capture_is_what_we_saw();
}

// A gratuitous ARP from us teaches Linux nothing (arp_accept=0); answering its request does.
TEST_F(TapInterop, WeAnswerArpAndLinuxPingsUs) {
  ResponderCounts n;
  install_responder(n);

  std::atomic<bool> ping_done{false};
  interop::CmdResult ping_out;
  std::jthread ping([&] {
    ping_out = ns_->exec(ping_cmd(3, "-i 0.2 -W 2 -w 8"));
    ping_done = true;
  });
  ASSERT_TRUE(run_until([&] { return ping_done.load(); }, Duration::s(12)));
  EXPECT_EQ(ping_out.status, 0) << ping_out.output;
  EXPECT_NE(ping_out.output.find("3 received"), std::string::npos) << ping_out.output;
  expect_ping_found_no_fault(ping_out.output);

  EXPECT_GE(n.arp_requests, 1);
  EXPECT_EQ(n.arp_replies, n.arp_requests);
  EXPECT_GE(n.echo_requests, 3);
  EXPECT_EQ(n.echo_replies, n.echo_requests);
  EXPECT_GE(n.ipv4_to_us, n.echo_requests);
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
  expect_capture_is_what_we_saw();
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
  expect_capture_is_what_we_saw();  // nothing, and tshark reads an empty capture
}

TEST_F(TapInterop, LinuxInterfaceDownIsNoCarrierForUs) {
  Telemetry tel("us");
  dev_->attach(tel);
  ASSERT_TRUE(ns_->exec("ip link set dev " + ifname_ + " down").ok());
  ASSERT_TRUE(xmit(
      arp_frame(MacAddr::broadcast(), ArpRepr{ArpOp::kReply, kOurMac, our_ip_, kOurMac, our_ip_})));
  EXPECT_EQ(dev_->stats().tx_errors, 1u) << "write() said EIO";
  EXPECT_EQ(tap_->tap_stats().last_errno, EIO);
  EXPECT_EQ(tel.drops().get(DropReason::kNoCarrier), 1u);
  EXPECT_FALSE(tap_->medium_gone());
  runner_step(0);
  EXPECT_EQ(tap_->tx_ring().free_count(), tap_->tx_ring().size()) << "failed frame reclaimed";
  // The capture saw the frame at xmit(), before the driver failed to write it (pcap.h: our TX
  // tap sits before the driver, where tcpdump's would see it too for a frame the NIC loses).
  expect_capture_is_what_we_saw();
}

TEST_F(TapInterop, DeletedInterfaceFailsCleanly) {
  Telemetry tel("us");
  dev_->attach(tel);
  ASSERT_TRUE(ns_->exec("ip link del dev " + ifname_).ok());
  ASSERT_TRUE(xmit(
      arp_frame(MacAddr::broadcast(), ArpRepr{ArpOp::kReply, kOurMac, our_ip_, kOurMac, our_ip_})));
  EXPECT_EQ(tap_->tap_stats().last_errno, EBADFD);
  EXPECT_TRUE(tap_->medium_gone());
  pollfd p{dev_->fd(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 0), 1);
  EXPECT_NE(p.revents & POLLERR, 0) << "what tells a runner to stop waiting on the fd";
  dev_->interrupt(mono_now());
  EXPECT_FALSE(napi_.run(mono_now(), sink_));
  EXPECT_EQ(tap_->tap_stats().rx_io_errors, 1u) << "one failed read per poll, no spinning";
  EXPECT_EQ(dev_->stats().tx_errors, 1u);
  EXPECT_EQ(dev_->stats().rx_errors, 1u);
  EXPECT_EQ(tel.drops().get(DropReason::kDevIoError), 2u);
  expect_capture_is_what_we_saw();  // the one frame we tried to send
}

// FaultInjector(PcapCapture(TapDevice)): the injector, outermost, drops half of what we send
// before the capture sees it, so the capture records the wire: what Linux was given.
class TapFaultInterop : public TapInterop {
 protected:
  // Each TX frame costs exactly one draw from the TX stream (only drop is nonzero), so which
  // frames die depends only on the order of the frames we send, never on timing. With this seed
  // the first draw passes (our ARP reply reaches Linux, so nothing waits a second for ARP to
  // retry) and 8 of the 20 echo replies after it are dropped (ARP reply first, D = dropped):
  // .....DD..D.DD....DD.D
  static constexpr uint64_t kSeed = 3;
  static constexpr uint64_t kEchoRepliesDropped = 8;

  std::unique_ptr<NetDevice> wrap(std::unique_ptr<NetDevice> capture) override {
    FaultInjectorConfig cfg;
    cfg.tx.drop = 0.5;
    cfg.seed = kSeed;
    auto fi = std::make_unique<FaultInjector>(std::move(capture), cfg);
    faults_ = fi.get();
    return fi;
  }

  FaultInjector* faults_ = nullptr;
};

TEST_F(TapFaultInterop, LinuxPingSeesTheRepliesTheInjectorLetThrough) {
  const std::optional<interop::LinkCounters> before = ns_->link_counters(ifname_);
  ASSERT_TRUE(before);
  ResponderCounts n;
  install_responder(n);

  std::atomic<bool> ping_done{false};
  interop::CmdResult ping_out;
  std::jthread ping([&] {
    ping_out = ns_->exec(ping_cmd(20, "-i 0.05 -W 1"));
    ping_done = true;
  });
  ASSERT_TRUE(run_until([&] { return ping_done.load(); }, Duration::s(15)));
  runner_step(0);

  // What Linux says: all 20 requests went out, some replies came back, not all.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(ping_out.output, m,
                                std::regex(R"((\d+) packets transmitted, (\d+) received)")))
      << ping_out.output;
  EXPECT_EQ(std::stoi(m[1].str()), 20) << ping_out.output;
  const int linux_received = std::stoi(m[2].str());
  EXPECT_GE(linux_received, 1) << ping_out.output;
  EXPECT_LE(linux_received, 19) << ping_out.output;
  expect_ping_found_no_fault(ping_out.output);

  // What we saw and did: every request answered; the injector had every reply in its hands.
  EXPECT_EQ(n.echo_requests, 20);
  EXPECT_EQ(n.echo_replies, n.echo_requests);
  EXPECT_EQ(n.arp_replies, n.arp_requests);
  const FaultStats& tx = faults_->tx_fault_stats();
  EXPECT_EQ(tx.frames, static_cast<uint64_t>(n.arp_replies + n.echo_replies));
  EXPECT_EQ(tx.frames, sent_.size());
  EXPECT_EQ(tx.duplicated + tx.reordered + tx.corrupted + tx.delayed, 0u);
  EXPECT_EQ(faults_->rx_fault_stats().dropped, 0u);
  EXPECT_EQ(faults_->tx_held(), 0u);

  // What went to the wire: the capture, split by direction (source MAC).
  const std::vector<PcapRecord> records = read_capture();
  std::vector<Frame> wire_rx;
  std::vector<Frame> wire_tx;
  int wire_arp_replies = 0;
  int wire_echo_replies = 0;
  for (const PcapRecord& rec : records) {
    auto eth = wire::EthernetView::parse(rec.data);
    ASSERT_TRUE(eth);
    if (eth->src() != kOurMac) {
      EXPECT_EQ(eth->src(), linux_mac_);
      wire_rx.push_back(rec.data);
      continue;
    }
    wire_tx.push_back(rec.data);
    if (eth->ethertype() == wire::to_u16(EtherType::kArp)) {
      ++wire_arp_replies;
      continue;
    }
    auto ip = wire::Ipv4View::parse(eth->payload());
    ASSERT_TRUE(ip);
    auto icmp = wire::IcmpView::parse(ip->payload());
    ASSERT_TRUE(icmp);
    EXPECT_EQ(icmp->type(), wire::to_u8(wire::IcmpType::kEchoReply));
    ++wire_echo_replies;
  }
  EXPECT_EQ(wire_rx, sink_.frames) << "RX passes the injector untouched and in order";
  EXPECT_EQ(cap_->capture_stats().rx_frames, sink_.frames.size());
  EXPECT_EQ(cap_->capture_stats().tx_frames, wire_tx.size());
  // The frames on the wire are the ones we sent minus the dropped ones, in our order.
  EXPECT_EQ(wire_tx.size(), tx.frames - tx.dropped);
  auto next = sent_.begin();
  for (const Frame& f : wire_tx) {
    next = std::find(next, sent_.end(), f);
    ASSERT_NE(next, sent_.end()) << "a frame on the wire we did not send, or out of order";
    ++next;
  }

  // The seed keeps our ARP reply (see kSeed), so every TX drop was an echo reply, and:
  //   Linux received = echo replies on the wire = echo replies we generated - injector drops.
  EXPECT_EQ(wire_arp_replies, n.arp_replies) << "kSeed no longer spares the ARP reply";
  EXPECT_EQ(tx.dropped, kEchoRepliesDropped) << "same seed, same frames: same faults";
  EXPECT_EQ(linux_received, wire_echo_replies);
  EXPECT_EQ(static_cast<uint64_t>(linux_received),
            static_cast<uint64_t>(n.echo_replies) - tx.dropped);
  // ... and the kernel counted on its side of the cable exactly what the capture shows.
  const std::optional<interop::LinkCounters> after = ns_->link_counters(ifname_);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->rx_packets - before->rx_packets, wire_tx.size());
  EXPECT_EQ(dev_->stats().tx_packets, wire_tx.size())
      << "stats() are the TAP's, not the injector's";
  expect_consistent_stats();

  EXPECT_TRUE(testtools::tshark_clean(pcap_path_));
}

}  // namespace
}  // namespace ustack::dev
