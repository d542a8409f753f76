// cli/demo_lan.cc — scenes 1-3 of `ustack demo`, on the cable between alice and bob:
//   1. ARP and the first ping, every step of both frames' journeys, from ping's send_echo to
//      bob's in-place echo reply and back, then both neighbour tables.
//   2. A burst of UDP datagrams into bob's RX ring while his CPU is busy: one interrupt, NAPI
//      polls of 64, netdev_budget running out (time_squeeze), ring-full drops (rx_missed).
//   3. A lossy cable (fault injector on alice's NIC): pings, and the counters and drop
//      reasons that explain every one that did not come back.
#include <fmt/format.h>

#include "ustack/cli/demo_net.h"
#include "ustack/dev/proc_view.h"

namespace ustack::cli::demo {
namespace {

const Ipv4Addr kBob0 = Ipv4Addr::from_octets(10, 0, 0, 2);

// Drop counters of one host, to subtract (the scene's own drops).
struct DropSnapshot {
  explicit DropSnapshot(const Telemetry& tel) : tel_(tel), at_(tel.drops()) {}
  uint64_t since(DropReason r) const { return tel_.drops().get(r) - at_.get(r); }
  uint64_t total_since() const { return tel_.drops().total() - at_.total(); }

 private:
  const Telemetry& tel_;
  DropCounters at_;
};

}  // namespace

void scene_arp_and_first_ping(DemoNet& net) {
  net.title("Scene 1. ARP and the first ping, every step (ping -c 1 10.0.0.2)");
  net.say(
      "  alice knows bob's IP address but not his MAC address. Watch the echo request wait for\n"
      "  ARP, then climb bob's layers, and bob turn it into the reply in the same buffer.");
  Narrator& n = net.narrator();
  n.clear();
  n.explain("alice", "ip_output",
            "route lookup: 10.0.0.2 is on eth0's subnet, the next hop is bob himself");
  n.explain("alice", "neigh_create",
            "no neighbour entry for 10.0.0.2: one is created INCOMPLETE and the echo\n"
            "request waits in its queue (unres_qlen) while ARP asks");
  n.explain("alice", "arp_request", "who-has 10.0.0.2? sent to ff:ff:ff:ff:ff:ff (everyone)");
  n.explain("alice", "xmit", "dev_queue_xmit: into the qdisc, then a TX descriptor; the NIC sends");
  n.explain("alice", "irq",
            "sent: the NIC raises a TX-completion interrupt, and a NAPI poll reclaims the\n"
            "descriptor and frees the buffer (tx_clean)");
  n.explain("bob", "rx_dma",
            "bob's NIC copies the frame into a posted RX descriptor (DMA), no CPU involved");
  n.explain("bob", "irq",
            "one interrupt: it masks itself and schedules NAPI (napi_schedule); more\n"
            "frames now would arrive silently");
  n.explain("bob", "napi_poll", "the softirq polls the ring, up to 64 frames (the NAPI weight)");
  n.explain("bob", "netif_receive", "netif_receive_skb: the frame goes up to the stack");
  n.explain("bob", "eth_rcv", "eth_type_trans: for us (broadcast), EtherType 0x0806: ARP");
  n.explain("bob", "arp_rcv",
            "a request for our address: bob learns alice's MAC (STALE) and answers");
  n.explain("bob", "napi_complete",
            "the ring is empty before the budget is used: interrupt unmasked (napi_complete_done)");
  n.explain("alice", "neigh_update",
            "the reply makes the entry REACHABLE and flushes its queue: the echo request\n"
            "that waited leaves now");
  n.explain("bob", "ip_rcv",
            "ip_rcv: version, header length, total length, header checksum all good;\n"
            "the route lookup says 10.0.0.2 is local");
  n.explain("bob", "icmp_rcv", "icmp_rcv: checksum good, type 8 (echo request)");
  n.explain("bob", "echo_reply",
            "icmp_echo: the request's own buffer becomes the reply (type 8 -> 0, checksum\n"
            "patched per RFC 1624); the 56 data bytes never move. A new packet id.");
  n.explain("bob", "neigh_update",
            "bob knows alice's MAC from her ARP request: the reply needs no ARP. Using the\n"
            "STALE entry moves it to DELAY (confirm within 5 s, or probe)");
  n.explain("alice", "icmp_rcv", "the echo reply reaches alice's ping");

  const uint64_t copies0 = net.host("bob").pool().stats().copies;
  net.ping().reset();
  net.trace(kAllLayers);
  const Instant t0 = net.now();
  auto sent = net.ping().send(t0, kBob0, 1, 56);
  net.run_for(Duration::ms(1));
  net.trace_off();
  n.clear();
  net.say("\n  $ ping -c 1 10.0.0.2\n  " + net.ping().reply_line(1));
  const Pinger::Probe* p = net.ping().probe(1);
  net.check(sent.ok() && p != nullptr && p->replies == 1 && p->intact,
            "alice's ping got bob's reply, data intact");
  net.check(net.host("bob").pool().stats().copies == copies0,
            "bob answered in the request's own buffer (no copy, no copy-on-write)");
  net.say("\n  $ ip neigh   # on alice: the reply made bob REACHABLE\n" +
          indent(net.host("alice").format_neigh()));
  net.say(
      "  $ ip neigh   # on bob: learned from alice's request (STALE); sending the reply\n"
      "  #              made it DELAY, waiting for a confirmation before probing\n" +
      indent(net.host("bob").format_neigh()));
  const link::NeighEntry* e = net.host("alice").neigh().lookup(1, kBob0);
  net.check(e != nullptr && e->state == link::NeighState::kReachable,
            "alice's entry for 10.0.0.2 is REACHABLE");
}

void scene_burst(DemoNet& net) {
  const DemoOptions& opt = net.opt();
  net.title(fmt::format("Scene 2. A burst of {} UDP datagrams while bob's CPU is busy for 1 ms",
                        opt.burst));
  net.say(fmt::format(
      "  alice sends {} datagrams of 64 bytes back to back to a socket on bob (port 5001).\n"
      "  bob's eth0 has {} RX descriptors; NAPI weight 64, netdev_budget 300. Bob's softirq\n"
      "  cannot run for 1 ms, so frames pile up in the ring. Printed: bob's interrupt and\n"
      "  NAPI events only (not each frame).",
      opt.burst, opt.rx_ring));
  UdpReceiver& app = net.udp_receiver("bob", 5001);
  stack::Stack& alice = net.host("alice");
  stack::Stack& bob = net.host("bob");
  dev::NetDevice& bdev = net.dev("bob", "eth0");
  dev::NetDevice& adev = net.dev("alice", "eth0");
  const dev::RingStats b0 = bdev.ring_stats();
  const dev::RingStats a0 = adev.ring_stats();
  const dev::DevStats ad0 = adev.stats();
  const dev::SoftnetStats s0 = bob.napi().stats();
  const uint64_t udp_in0 = bob.udp().stats().in_datagrams;

  Narrator& n = net.narrator();
  n.clear();
  uint64_t missed_shown = 0;
  n.set_filter([&missed_shown](const TraceEvent& e) {
    if (e.node != "bob") return false;
    if (e.reason == DropReason::kRxRingFull) return missed_shown++ == 0;
    return e.action == "irq" || e.action == "napi_poll" || e.action == "time_squeeze" ||
           e.action == "napi_complete";
  });
  n.explain("bob", "drop",
            "the ring is full: no descriptor to DMA into, the NIC drops the frame (rx_missed);\n"
            "the rest of these drops are not printed");
  n.explain("bob", "irq",
            "the first frame raises the interrupt, which masks itself: the frames after it\n"
            "land in the ring silently");
  n.explain("bob", "napi_poll", "bob's CPU is free again: polls of 64 frames each");
  n.explain("bob", "time_squeeze",
            "netdev_budget (300 frames per softirq round) ran out with frames left: the\n"
            "round ends (time_squeeze) and the next one continues (ksoftirqd in Linux)");
  n.explain("bob", "napi_complete", "ring drained: interrupt unmasked");
  net.trace(layer_bit(Layer::kDev));

  transport::UdpSocket* tx = alice.udp().open();
  const std::vector<uint8_t> payload(64, 0x5a);
  const Instant free_at = net.now() + Duration::ms(1);
  net.world().set_busy_until("bob", free_at);
  uint64_t sent = 0;
  for (int i = 0; i < opt.burst; ++i) sent += tx->sendto(net.now(), payload, kBob0, 5001).ok();
  net.world().run_until(free_at - Duration::ns(1));
  const uint64_t irqs_while_busy = bdev.ring_stats().irq_raised - b0.irq_raised;
  net.run_for(Duration::ms(5));
  net.trace_off();
  n.clear();
  alice.udp().close(tx);

  const dev::RingStats& b = bdev.ring_stats();
  const uint64_t missed = b.rx_ring_full - b0.rx_ring_full;
  const uint64_t qdisc = adev.stats().tx_dropped - ad0.tx_dropped;
  const uint64_t delivered = bob.udp().stats().in_datagrams - udp_in0;
  net.say(fmt::format(
      "\n  alice: {} datagrams sent; qdisc -> TX ring ({} descriptors) stopped {} time(s) when\n"
      "         the ring filled, {} TX completions freed the sent buffers, {} qdisc drops",
      sent, net.world().nic("alice", "eth0")->config().tx_ring_size,
      adev.ring_stats().tx_ring_full - a0.tx_ring_full,
      adev.ring_stats().tx_completions - a0.tx_completions, qdisc));
  net.say(fmt::format(
      "  bob:   {} interrupt(s), {} NAPI polls, {} used their whole weight of 64, {} softirq\n"
      "         round(s) ran out of netdev_budget (time_squeeze)",
      b.irq_raised - b0.irq_raised, b.napi_polls - b0.napi_polls,
      b.budget_exhausted - b0.budget_exhausted, bob.napi().stats().time_squeeze - s0.time_squeeze));
  net.say(fmt::format(
      "  bob:   {} datagrams up the stack to the socket (Udp InDatagrams), {} lost to a full\n"
      "         RX ring (rx_missed_errors); the application read {}",
      delivered, missed, app.datagrams));
  net.say("  $ ethtool -S eth0   # on bob, since boot\n" + indent(dev::format_ring_stats(bdev)));
  net.check(delivered + missed + qdisc == sent,
            "every datagram was delivered or counted as dropped (ring full, qdisc)");
  net.check(irqs_while_busy == 1,
            "while bob was busy his NIC raised one interrupt; the other frames came silently");
  if (static_cast<uint64_t>(opt.burst) > opt.rx_ring)
    net.check(missed > 0, "the burst overflowed bob's RX ring");
  net.check(app.datagrams == delivered, "bob's application read every delivered datagram");
}

void scene_lossy_cable(DemoNet& net) {
  const DemoOptions& opt = net.opt();
  net.title(fmt::format(
      "Scene 3. A lossy cable: {:.0f}% drop, 5% duplicate, {:.0f}% corrupt on alice's TX "
      "(seed {})",
      opt.loss * 100, opt.corrupt * 100, opt.seed));
  net.say(fmt::format(
      "  ping -c {} -i 0.001 10.0.0.2 through a fault injector (dev/fault_injector.h, netem's\n"
      "  faults) on alice's eth0. Every request that does not come back is explained below.",
      opt.lossy_frames));
  dev::FaultInjector& fi = *net.world().faults("alice", "eth0");
  auto cfg = fi.config();
  cfg.tx.drop = opt.loss;
  cfg.tx.duplicate = 0.05;
  cfg.tx.corrupt = opt.corrupt;
  fi.set_config(cfg);
  stack::Stack& alice = net.host("alice");
  stack::Stack& bob = net.host("bob");
  const dev::FaultStats f0 = fi.tx_fault_stats();
  const uint64_t rx0 = net.dev("bob", "eth0").stats().rx_packets;
  const ip::IpStats ip0 = bob.ip().stats();
  const ip::IcmpStats icmp0 = bob.ip().icmp_stats();
  const uint64_t alice_reps0 = alice.ip().icmp_stats().in_echo_reps;
  const DropSnapshot drops0(bob.telemetry());

  Pinger& ping = net.ping();
  ping.reset();
  for (int i = 0; i < opt.lossy_frames; ++i) {
    (void)ping.send(net.now(), kBob0, static_cast<uint16_t>(i + 1), 56);
    net.run_for(Duration::ms(1));
  }
  net.run_for(Duration::ms(10));
  cfg.tx = {};
  fi.set_config(cfg);

  const dev::FaultStats& f = fi.tx_fault_stats();
  const uint64_t frames = f.frames - f0.frames, dropped = f.dropped - f0.dropped;
  const uint64_t dup = f.duplicated - f0.duplicated, corrupt = f.corrupted - f0.corrupted;
  const uint64_t rx = net.dev("bob", "eth0").stats().rx_packets - rx0;
  const uint64_t answered = bob.ip().icmp_stats().out_echo_reps - icmp0.out_echo_reps;
  net.say(std::string(1, '\n') +=
          indent(ping.statistics(kBob0)));  // not "\n" + ...: GCC 12 -Wrestrict false positive
  net.say(fmt::format(
      "\n  injector on alice eth0: {} frames in, {} dropped, {} duplicated, {} corrupted "
      "(one bit)",
      frames, dropped, dup, corrupt));
  net.say(fmt::format("  bob eth0: {} frames received; bob answered {} echo requests, and dropped",
                      rx, answered));
  for (size_t i = 1; i < kDropReasonCount; ++i) {
    const auto r = static_cast<DropReason>(i);
    if (uint64_t k = drops0.since(r); k != 0)
      net.say(fmt::format("    {:>4} {:<18} {}", k, drop_reason_name(r), drop_reason_text(r)));
  }
  const ip::IpStats& ip1 = bob.ip().stats();
  const ip::IcmpStats& icmp1 = bob.ip().icmp_stats();
  net.say(
      fmt::format("  bob's counters: Ip InHdrErrors {} (IpExt InCsumErrors {}), Icmp InErrors {} "
                  "(InCsumErrors {})",
                  ip1.in_hdr_errors - ip0.in_hdr_errors, ip1.in_csum_errors - ip0.in_csum_errors,
                  icmp1.in_errors - icmp0.in_errors, icmp1.in_csum_errors - icmp0.in_csum_errors));
  net.say(
      "  (a flipped bit breaks the IP header checksum, the ICMP checksum, the EtherType or the\n"
      "  destination MAC; one in a source MAC goes unnoticed: on a real cable, the Ethernet\n"
      "  FCS would have caught it before the stack)");
  net.check(rx == frames - dropped + dup, "frames bob received = sent - dropped + duplicated");
  net.check(rx == answered + drops0.total_since(),
            "every frame bob received was answered or dropped with a reason");
  net.check(alice.ip().icmp_stats().in_echo_reps - alice_reps0 == answered,
            "every reply bob sent reached alice (the way back is clean)");
  net.check(ping.received() + ping.duplicates() == answered,
            "ping's count (received + duplicates) matches bob's OutEchoReps");
}

}  // namespace ustack::cli::demo
