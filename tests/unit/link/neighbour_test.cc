// NeighbourTable: every NUD transition and timer in virtual time, queue bounds, failure with
// the unreachable report, static entries, gc, table limits, format(), re-entrant hooks.
// The hooks are a recorder, so each request, transmission and report is checked exactly.
#include "ustack/link/neighbour.h"

#include <gtest/gtest.h>

#include <functional>
#include <vector>

#include "ustack/buf/pool.h"

namespace ustack::link {
namespace {

using wire::Ipv4Addr;
using wire::MacAddr;

constexpr int kIf = 1;
const Ipv4Addr kLocal = Ipv4Addr::from_octets(192, 0, 2, 1);
const Ipv4Addr kPeer = Ipv4Addr::from_octets(192, 0, 2, 2);
const Ipv4Addr kOther = Ipv4Addr::from_octets(192, 0, 2, 9);
const MacAddr kMacA{{0x02, 0, 0, 0, 0, 0x02}};
const MacAddr kMacB{{0x02, 0, 0, 0, 0, 0x0b}};
const Instant t0 = Instant::zero() + Duration::s(100);

Instant at(Duration d) { return t0 + d; }

struct Recorder : NeighbourTable::Hooks {
  struct Solicit {
    Instant t;
    NeighEntry e;
    bool unicast;
    std::optional<Ipv4Addr> hint;
  };
  struct Xmit {
    Instant t;
    int ifindex;
    MacAddr mac;
    uint8_t tag;  // last byte of the packet: which packet this was
  };
  struct Unreach {
    Instant t;
    int ifindex;
    Ipv4Addr next_hop;
    uint8_t tag;
  };
  std::vector<Solicit> solicits;
  std::vector<Xmit> xmits;
  std::vector<Unreach> unreach;
  std::function<void(Instant, int, Ipv4Addr)> on_unreachable;  // re-entrancy tests

  void solicit(Instant now, const NeighEntry& e, bool unicast,
               std::optional<Ipv4Addr> hint) override {
    solicits.push_back({now, e, unicast, hint});
  }
  void xmit(Instant now, int ifindex, MacAddr mac, PacketPtr pkt) override {
    xmits.push_back({now, ifindex, mac, pkt->data().back()});
  }
  void unreachable(Instant now, int ifindex, Ipv4Addr next_hop, const PacketBuffer& pkt) override {
    unreach.push_back({now, ifindex, next_hop, pkt.data().back()});
    if (on_unreachable) on_unreachable(now, ifindex, next_hop);
  }
};

class NeighTest : public ::testing::Test {
 protected:
  explicit NeighTest(NeighConfig cfg = {}) : table_(cfg, Rng(42), tel_, hooks_) {
    tel_.set_sink(&log_);
  }

  // An IPv4-looking packet from `src` of `len` bytes whose last byte is `tag`.
  PacketPtr packet(uint8_t tag, Ipv4Addr src = kLocal, size_t len = 28) {
    std::vector<uint8_t> b(len, 0);
    if (len >= 20) {
      b[0] = 0x45;
      auto o = src.octets();
      std::copy(o.begin(), o.end(), b.begin() + 12);
    }
    b.back() = tag;
    PacketPtr p = pool_->alloc_copy(b, 64);
    p->trace_id = tag;
    return p;
  }
  NeighState state(Ipv4Addr ip = kPeer) const {
    const NeighEntry* e = table_.lookup(kIf, ip);
    EXPECT_NE(e, nullptr);
    return e != nullptr ? e->state : NeighState::kFailed;
  }
  // Resolve kPeer: output at t, reply at t; returns the REACHABLE deadline.
  Instant resolve(Instant t, uint8_t tag = 1) {
    table_.output(t, kIf, kPeer, packet(tag));
    table_.update(t, kIf, kPeer, kMacA, NeighbourTable::Update::kReply);
    EXPECT_EQ(state(), NeighState::kReachable);
    return table_.next_deadline();
  }
  uint64_t drops(DropReason r) const { return tel_.drops().get(r); }
  bool traced(std::string_view action, std::string_view detail) const {
    for (const TraceEvent& e : log_.events())
      if (e.action == action && e.detail.find(detail) != std::string::npos) return true;
    return false;
  }

  PoolHandle pool_ = BufferPool::create();
  Telemetry tel_;
  TraceLog log_;
  Recorder hooks_;
  NeighbourTable table_;
};

// ---- INCOMPLETE -----------------------------------------------------------------------------

TEST_F(NeighTest, OutputToUnknownCreatesIncompleteQueuesAndSolicitsAtOnce) {
  EXPECT_EQ(table_.next_deadline(), Instant::never());
  table_.output(t0, kIf, kPeer, packet(1));
  const NeighEntry* e = table_.lookup(kIf, kPeer);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->state, NeighState::kIncomplete);
  EXPECT_EQ(e->queued, 1u);
  EXPECT_EQ(e->probes, 1);
  EXPECT_TRUE(e->mac.is_zero());
  ASSERT_EQ(hooks_.solicits.size(), 1u);
  EXPECT_EQ(hooks_.solicits[0].t, t0);
  EXPECT_FALSE(hooks_.solicits[0].unicast);
  EXPECT_EQ(hooks_.solicits[0].e.ip, kPeer);
  EXPECT_EQ(hooks_.solicits[0].hint, kLocal) << "saddr hint from IPv4 header bytes 12..15";
  EXPECT_TRUE(hooks_.xmits.empty());
  EXPECT_EQ(table_.next_deadline(), at(Duration::s(1))) << "retrans_time";
  EXPECT_EQ(table_.stats().lookups, 1u);
  EXPECT_EQ(table_.stats().hits, 0u);
  EXPECT_EQ(table_.stats().allocs, 1u);
  EXPECT_EQ(table_.stats().requests_sent, 1u);
  EXPECT_TRUE(traced("neigh_create", "192.0.2.2 dev 1 INCOMPLETE"));
}

TEST_F(NeighTest, HintIsTheNewestQueuedPacketsSourceAndAbsentForShortPackets) {
  table_.output(t0, kIf, kPeer, packet(1, kLocal, 12));  // too short for an IPv4 header
  ASSERT_EQ(hooks_.solicits.size(), 1u);
  EXPECT_EQ(hooks_.solicits[0].hint, std::nullopt);
  table_.output(t0, kIf, kPeer, packet(2, Ipv4Addr::from_octets(10, 1, 2, 3)));
  table_.on_timer(at(Duration::s(1)));
  ASSERT_EQ(hooks_.solicits.size(), 2u);
  EXPECT_EQ(hooks_.solicits[1].hint, Ipv4Addr::from_octets(10, 1, 2, 3));
}

TEST_F(NeighTest, IncompleteRetransmitsEveryRetransTimeThenFailsReportingEachPacket) {
  table_.output(t0, kIf, kPeer, packet(1));
  table_.output(at(Duration::ms(10)), kIf, kPeer, packet(2));
  EXPECT_EQ(hooks_.solicits.size(), 1u) << "a second packet does not solicit again";
  table_.on_timer(at(Duration::ms(999)));
  EXPECT_EQ(hooks_.solicits.size(), 1u) << "not before retrans_time";
  table_.on_timer(at(Duration::s(1)));
  table_.on_timer(at(Duration::s(2)));
  ASSERT_EQ(hooks_.solicits.size(), 3u);
  EXPECT_EQ(hooks_.solicits[1].t, at(Duration::s(1)));
  EXPECT_EQ(hooks_.solicits[2].t, at(Duration::s(2)));
  EXPECT_EQ(hooks_.solicits[2].e.probes, 3);
  EXPECT_EQ(state(), NeighState::kIncomplete);
  EXPECT_TRUE(hooks_.unreach.empty());
  EXPECT_EQ(table_.next_deadline(), at(Duration::s(3)));

  // After mcast_solicit (3) unanswered requests: FAILED, each queued packet reported (FIFO)
  // while it is still alive, then freed.
  size_t out_during_report = 0;
  hooks_.on_unreachable = [&](Instant, int, Ipv4Addr) { out_during_report = pool_->outstanding(); };
  const size_t before = pool_->outstanding();
  table_.on_timer(at(Duration::s(3)));
  EXPECT_EQ(hooks_.solicits.size(), 3u) << "no fourth request";
  EXPECT_EQ(state(), NeighState::kFailed);
  ASSERT_EQ(hooks_.unreach.size(), 2u);
  EXPECT_EQ(hooks_.unreach[0].tag, 1);
  EXPECT_EQ(hooks_.unreach[1].tag, 2);
  EXPECT_EQ(hooks_.unreach[0].next_hop, kPeer);
  EXPECT_EQ(hooks_.unreach[0].ifindex, kIf);
  EXPECT_EQ(hooks_.unreach[0].t, at(Duration::s(3)));
  EXPECT_EQ(out_during_report, before - 1) << "second packet reported before it was freed";
  EXPECT_EQ(pool_->outstanding(), before - 2);
  EXPECT_EQ(table_.lookup(kIf, kPeer)->queued, 0u);
  EXPECT_EQ(drops(DropReason::kNeighFailed), 2u);
  EXPECT_EQ(table_.stats().res_failed, 1u);
  EXPECT_EQ(table_.stats().unres_discards, 2u);
  EXPECT_TRUE(traced("neigh_update", "INCOMPLETE -> FAILED"));
}

TEST_F(NeighTest, FailedEntryRestartsResolutionOnNextOutput) {
  table_.output(t0, kIf, kPeer, packet(1));
  for (int s = 1; s <= 3; ++s) table_.on_timer(at(Duration::s(s)));
  ASSERT_EQ(state(), NeighState::kFailed);
  table_.output(at(Duration::s(10)), kIf, kPeer, packet(2));
  EXPECT_EQ(state(), NeighState::kIncomplete);
  ASSERT_EQ(hooks_.solicits.size(), 4u);
  EXPECT_EQ(hooks_.solicits[3].t, at(Duration::s(10)));
  EXPECT_EQ(hooks_.solicits[3].e.probes, 1) << "a fresh episode";
  EXPECT_EQ(table_.next_deadline(), at(Duration::s(11)));
  EXPECT_EQ(table_.stats().allocs, 1u) << "the same entry, not a new one";
}

TEST_F(NeighTest, ReplyResolvesIncompleteAndFlushesTheQueueInOrder) {
  for (uint8_t tag = 1; tag <= 3; ++tag) table_.output(t0, kIf, kPeer, packet(tag));
  EXPECT_TRUE(hooks_.xmits.empty());
  table_.update(at(Duration::ms(5)), kIf, kPeer, kMacA, NeighbourTable::Update::kReply);
  EXPECT_EQ(state(), NeighState::kReachable);
  ASSERT_EQ(hooks_.xmits.size(), 3u);
  for (uint8_t i = 0; i < 3; ++i) {
    EXPECT_EQ(hooks_.xmits[i].tag, i + 1);
    EXPECT_EQ(hooks_.xmits[i].mac, kMacA);
    EXPECT_EQ(hooks_.xmits[i].ifindex, kIf);
  }
  EXPECT_EQ(table_.lookup(kIf, kPeer)->mac, kMacA);
  EXPECT_EQ(table_.lookup(kIf, kPeer)->queued, 0u);
  EXPECT_TRUE(traced("neigh_update", "192.0.2.2 dev 1 INCOMPLETE -> REACHABLE"));
  // Later packets go straight out.
  table_.output(at(Duration::ms(6)), kIf, kPeer, packet(4));
  ASSERT_EQ(hooks_.xmits.size(), 4u);
  EXPECT_EQ(hooks_.xmits[3].tag, 4);
  EXPECT_EQ(table_.stats().lookups, 4u);
  EXPECT_EQ(table_.stats().hits, 1u);
}

// ---- queue bounds ---------------------------------------------------------------------------

TEST_F(NeighTest, QueueOverflowDropsTheOldestPacket) {
  NeighConfig c;
  c.unres_qlen = 3;
  table_.set_config(c);
  for (uint8_t tag = 1; tag <= 5; ++tag) table_.output(t0, kIf, kPeer, packet(tag));
  EXPECT_EQ(table_.lookup(kIf, kPeer)->queued, 3u);
  EXPECT_EQ(drops(DropReason::kNeighQueueFull), 2u);
  EXPECT_EQ(table_.stats().unres_discards, 2u);
  table_.update(t0, kIf, kPeer, kMacA, NeighbourTable::Update::kReply);
  ASSERT_EQ(hooks_.xmits.size(), 3u);
  EXPECT_EQ(hooks_.xmits[0].tag, 3) << "packets 1 and 2 (the oldest) were dropped";
  EXPECT_EQ(hooks_.xmits[2].tag, 5);
}

TEST_F(NeighTest, QueueIsBoundedInBytes) {
  NeighConfig c;
  c.unres_qlen_bytes = 250;
  table_.set_config(c);
  table_.output(t0, kIf, kPeer, packet(1, kLocal, 100));
  table_.output(t0, kIf, kPeer, packet(2, kLocal, 100));
  EXPECT_EQ(drops(DropReason::kNeighQueueFull), 0u);
  table_.output(t0, kIf, kPeer, packet(3, kLocal, 100));  // 300 > 250: drop packet 1
  EXPECT_EQ(drops(DropReason::kNeighQueueFull), 1u);
  table_.output(t0, kIf, kPeer, packet(4, kLocal, 240));  // drops 2 and 3 to fit
  EXPECT_EQ(drops(DropReason::kNeighQueueFull), 3u);
  EXPECT_EQ(table_.lookup(kIf, kPeer)->queued, 1u);
  table_.output(t0, kIf, kPeer, packet(5, kLocal, 400));  // alone it exceeds: still queued
  EXPECT_EQ(table_.lookup(kIf, kPeer)->queued, 1u);
  table_.update(t0, kIf, kPeer, kMacA, NeighbourTable::Update::kReply);
  ASSERT_EQ(hooks_.xmits.size(), 1u);
  EXPECT_EQ(hooks_.xmits[0].tag, 5);
  EXPECT_EQ(table_.stats().unres_discards, 4u);
}

TEST_F(NeighTest, ZeroQueueLengthDropsEveryUnresolvedPacket) {
  NeighConfig c;
  c.unres_qlen = 0;
  table_.set_config(c);
  table_.output(t0, kIf, kPeer, packet(1));
  EXPECT_EQ(drops(DropReason::kNeighQueueFull), 1u);
  EXPECT_EQ(hooks_.solicits.size(), 1u) << "resolution still starts";
  EXPECT_EQ(table_.lookup(kIf, kPeer)->queued, 0u);
}

// ---- REACHABLE / STALE / DELAY / PROBE --------------------------------------------------------

TEST_F(NeighTest, ReachableTimeIsRandomInHalfToThreeHalvesOfBase) {
  std::vector<Duration> seen;
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    Recorder h;
    Telemetry tel;
    NeighbourTable t({}, Rng(seed), tel, h);
    t.output(t0, kIf, kPeer, packet(1));
    t.update(t0, kIf, kPeer, kMacA, NeighbourTable::Update::kReply);
    const Duration r = t.next_deadline() - t0;
    EXPECT_GE(r, Duration::s(15));
    EXPECT_LT(r, Duration::s(45));
    seen.push_back(r);
  }
  std::sort(seen.begin(), seen.end());
  EXPECT_GT(seen.back() - seen.front(), Duration::s(10)) << "actually random";
  // Same seed, same sequence: deterministic.
  Recorder h1, h2;
  Telemetry tel;
  NeighbourTable a({}, Rng(9), tel, h1), b({}, Rng(9), tel, h2);
  for (NeighbourTable* t : {&a, &b}) {
    t->output(t0, kIf, kPeer, packet(1));
    t->update(t0, kIf, kPeer, kMacA, NeighbourTable::Update::kReply);
  }
  EXPECT_EQ(a.next_deadline(), b.next_deadline());
}

TEST_F(NeighTest, ReachableTimeIsRedrawnEachTimeTheEntryBecomesReachable) {
  const Duration first = resolve(t0) - t0;
  table_.on_timer(t0 + first);
  ASSERT_EQ(state(), NeighState::kStale);
  const Instant t1 = t0 + first + Duration::s(1);
  table_.update(t1, kIf, kPeer, kMacA, NeighbourTable::Update::kReply);
  ASSERT_EQ(state(), NeighState::kReachable);
  EXPECT_NE(table_.next_deadline() - t1, first);
}

TEST_F(NeighTest, ReachableBecomesStaleExactlyAfterReachableTime) {
  const Instant deadline = resolve(t0);
  table_.on_timer(deadline - Duration::ns(1));
  EXPECT_EQ(state(), NeighState::kReachable);
  table_.on_timer(deadline);
  EXPECT_EQ(state(), NeighState::kStale);
  EXPECT_TRUE(traced("neigh_update", "REACHABLE -> STALE"));
  // STALE still sends with the cached MAC (next test) and is collected after gc_stale_time
  // since the last use (the output at t0).
  EXPECT_EQ(table_.next_deadline(), at(Duration::s(60)));
}

TEST_F(NeighTest, ConfirmExtendsReachableFromTheConfirmation) {
  const Instant deadline = resolve(t0);
  const Duration rt = deadline - t0;
  const Instant tc = t0 + Duration::s(10);
  table_.confirm(tc, kIf, kPeer);
  table_.on_timer(deadline);
  EXPECT_EQ(state(), NeighState::kReachable);
  EXPECT_EQ(table_.next_deadline(), tc + rt) << "same reachable_time, from the confirmation";
  table_.on_timer(tc + rt);
  EXPECT_EQ(state(), NeighState::kStale);
}

TEST_F(NeighTest, ReplyOnReachableConfirmsIt) {
  const Instant deadline = resolve(t0);
  const Instant tc = t0 + Duration::s(12);
  table_.update(tc, kIf, kPeer, kMacA, NeighbourTable::Update::kReply);
  table_.on_timer(deadline);
  EXPECT_EQ(state(), NeighState::kReachable);
  EXPECT_EQ(table_.next_deadline(), tc + (deadline - t0));
}

TEST_F(NeighTest, StaleOutputSendsAndEntersDelayThenProbesUnicastThenFails) {
  const Instant deadline = resolve(t0);
  table_.on_timer(deadline);
  ASSERT_EQ(state(), NeighState::kStale);
  const Instant tu = deadline + Duration::s(2);
  table_.output(tu, kIf, kPeer, packet(7));
  EXPECT_EQ(state(), NeighState::kDelay);
  ASSERT_EQ(hooks_.xmits.size(), 2u);
  EXPECT_EQ(hooks_.xmits[1].tag, 7) << "sent at once with the cached MAC";
  EXPECT_EQ(hooks_.xmits[1].mac, kMacA);
  EXPECT_EQ(table_.next_deadline(), tu + Duration::s(5)) << "delay_first_probe_time";
  // DELAY still sends without queueing.
  table_.output(tu + Duration::s(1), kIf, kPeer, packet(8));
  EXPECT_EQ(hooks_.xmits.size(), 3u);
  EXPECT_EQ(state(), NeighState::kDelay);

  const size_t before = hooks_.solicits.size();
  table_.on_timer(tu + Duration::s(5) - Duration::ns(1));
  EXPECT_EQ(state(), NeighState::kDelay);
  table_.on_timer(tu + Duration::s(5));
  EXPECT_EQ(state(), NeighState::kProbe);
  ASSERT_EQ(hooks_.solicits.size(), before + 1) << "first probe immediately";
  EXPECT_TRUE(hooks_.solicits.back().unicast);
  EXPECT_EQ(hooks_.solicits.back().e.mac, kMacA);
  EXPECT_EQ(hooks_.solicits.back().hint, std::nullopt) << "nothing queued in PROBE";
  // PROBE still sends with the MAC.
  table_.output(tu + Duration::s(5), kIf, kPeer, packet(9));
  EXPECT_EQ(hooks_.xmits.size(), 4u);
  table_.on_timer(tu + Duration::s(6));
  table_.on_timer(tu + Duration::s(7));
  ASSERT_EQ(hooks_.solicits.size(), before + 3);
  EXPECT_EQ(hooks_.solicits.back().t, tu + Duration::s(7));
  EXPECT_TRUE(hooks_.solicits.back().unicast);
  EXPECT_EQ(state(), NeighState::kProbe);
  table_.on_timer(tu + Duration::s(8));
  EXPECT_EQ(state(), NeighState::kFailed) << "after ucast_solicit unanswered probes";
  EXPECT_EQ(hooks_.solicits.size(), before + 3);
  EXPECT_EQ(table_.stats().res_failed, 1u);
  EXPECT_TRUE(hooks_.unreach.empty()) << "nothing was queued";
  EXPECT_TRUE(traced("neigh_update", "DELAY -> PROBE"));
  EXPECT_TRUE(traced("neigh_update", "PROBE -> FAILED"));
}

TEST_F(NeighTest, ReplyInDelayOrProbeMakesReachable) {
  Instant deadline = resolve(t0);
  table_.on_timer(deadline);
  table_.output(deadline, kIf, kPeer, packet(2));
  ASSERT_EQ(state(), NeighState::kDelay);
  table_.update(deadline + Duration::s(1), kIf, kPeer, kMacA, NeighbourTable::Update::kReply);
  EXPECT_EQ(state(), NeighState::kReachable);
  EXPECT_TRUE(traced("neigh_update", "DELAY -> REACHABLE"));

  deadline = table_.next_deadline();
  table_.on_timer(deadline);
  table_.output(deadline, kIf, kPeer, packet(3));
  table_.on_timer(deadline + Duration::s(5));
  ASSERT_EQ(state(), NeighState::kProbe);
  table_.update(deadline + Duration::s(5) + Duration::ms(1), kIf, kPeer, kMacA,
                NeighbourTable::Update::kReply);
  EXPECT_EQ(state(), NeighState::kReachable);
  EXPECT_EQ(table_.lookup(kIf, kPeer)->probes, 0);
}

TEST_F(NeighTest, ConfirmInDelayOrProbeMakesReachableAndIsIgnoredOtherwise) {
  Instant deadline = resolve(t0);
  table_.on_timer(deadline);
  table_.confirm(deadline, kIf, kPeer);
  EXPECT_EQ(state(), NeighState::kStale) << "STALE stays STALE until used";
  table_.output(deadline, kIf, kPeer, packet(2));
  table_.confirm(deadline + Duration::s(1), kIf, kPeer);
  EXPECT_EQ(state(), NeighState::kReachable);
  deadline = table_.next_deadline();
  table_.on_timer(deadline);
  table_.output(deadline, kIf, kPeer, packet(3));
  table_.on_timer(deadline + Duration::s(5));
  ASSERT_EQ(state(), NeighState::kProbe);
  table_.confirm(deadline + Duration::s(5), kIf, kPeer);
  EXPECT_EQ(state(), NeighState::kReachable);

  table_.output(t0, kIf, kOther, packet(4));
  table_.confirm(t0, kIf, kOther);
  EXPECT_EQ(state(kOther), NeighState::kIncomplete) << "no MAC to confirm";
  table_.confirm(t0, kIf, Ipv4Addr::from_octets(192, 0, 2, 77));  // unknown: no-op
  EXPECT_EQ(table_.lookup(kIf, Ipv4Addr::from_octets(192, 0, 2, 77)), nullptr);
}

// ---- update() -------------------------------------------------------------------------------

TEST_F(NeighTest, OnlyARequestToUsCreatesAnEntry) {
  table_.update(t0, kIf, kPeer, kMacA, NeighbourTable::Update::kReply);
  EXPECT_EQ(table_.lookup(kIf, kPeer), nullptr) << "unsolicited reply: arp_accept=0";
  table_.update(t0, kIf, kPeer, kMacA, NeighbourTable::Update::kOther);
  EXPECT_EQ(table_.lookup(kIf, kPeer), nullptr) << "gratuitous ARP does not create";
  table_.update(t0, kIf, kPeer, kMacA, NeighbourTable::Update::kRequestToUs);
  ASSERT_NE(table_.lookup(kIf, kPeer), nullptr);
  EXPECT_EQ(state(), NeighState::kStale);
  EXPECT_EQ(table_.lookup(kIf, kPeer)->mac, kMacA);
  EXPECT_TRUE(hooks_.solicits.empty());
  EXPECT_EQ(table_.next_deadline(), at(Duration::s(60))) << "gc after gc_stale_time";
  // Using it: DELAY, packet sent.
  table_.output(t0, kIf, kPeer, packet(1));
  EXPECT_EQ(state(), NeighState::kDelay);
  EXPECT_EQ(hooks_.xmits.size(), 1u);
}

TEST_F(NeighTest, SameMacKeepsStateChangedMacGoesStale) {
  const Instant deadline = resolve(t0);
  table_.update(t0 + Duration::s(1), kIf, kPeer, kMacA, NeighbourTable::Update::kRequestToUs);
  EXPECT_EQ(state(), NeighState::kReachable) << "a STALE update with the same MAC changes nothing";
  table_.update(t0 + Duration::s(1), kIf, kPeer, kMacA, NeighbourTable::Update::kOther);
  EXPECT_EQ(state(), NeighState::kReachable);
  EXPECT_EQ(table_.next_deadline(), deadline);
  table_.update(t0 + Duration::s(2), kIf, kPeer, kMacB, NeighbourTable::Update::kOther);
  EXPECT_EQ(state(), NeighState::kStale) << "a new MAC is unconfirmed";
  EXPECT_EQ(table_.lookup(kIf, kPeer)->mac, kMacB);
  EXPECT_EQ(table_.lookup(kIf, kPeer)->updated, t0 + Duration::s(2));
  table_.update(t0 + Duration::s(3), kIf, kPeer, kMacA, NeighbourTable::Update::kReply);
  EXPECT_EQ(state(), NeighState::kReachable) << "a reply with a new MAC is REACHABLE";
  EXPECT_EQ(table_.lookup(kIf, kPeer)->mac, kMacA);
  table_.update(t0 + Duration::s(4), kIf, kPeer, kMacB, NeighbourTable::Update::kReply);
  EXPECT_EQ(state(), NeighState::kReachable);
  EXPECT_EQ(table_.lookup(kIf, kPeer)->mac, kMacB);
}

TEST_F(NeighTest, RequestToUsOnIncompleteFlushesQueueAndEntersDelay) {
  table_.output(t0, kIf, kPeer, packet(1));
  table_.output(t0, kIf, kPeer, packet(2));
  table_.update(at(Duration::ms(300)), kIf, kPeer, kMacA, NeighbourTable::Update::kRequestToUs);
  ASSERT_EQ(hooks_.xmits.size(), 2u);
  EXPECT_EQ(hooks_.xmits[0].tag, 1);
  EXPECT_EQ(hooks_.xmits[1].mac, kMacA);
  // Linux flushes through neigh->output, which finds STALE and starts DELAY.
  EXPECT_EQ(state(), NeighState::kDelay);
  EXPECT_EQ(table_.next_deadline(), at(Duration::ms(300)) + Duration::s(5));
  table_.on_timer(at(Duration::s(1)));
  EXPECT_EQ(hooks_.solicits.size(), 1u) << "no INCOMPLETE retransmission any more";
}

TEST_F(NeighTest, OtherOnFailedEntryLearnsTheMacAsStale) {
  table_.output(t0, kIf, kPeer, packet(1));
  for (int s = 1; s <= 3; ++s) table_.on_timer(at(Duration::s(s)));
  ASSERT_EQ(state(), NeighState::kFailed);
  table_.update(at(Duration::s(4)), kIf, kPeer, kMacA, NeighbourTable::Update::kOther);
  EXPECT_EQ(state(), NeighState::kStale);
  EXPECT_EQ(table_.lookup(kIf, kPeer)->mac, kMacA);
}

TEST_F(NeighTest, ReplyOnFailedEntryMakesItReachable) {
  table_.output(t0, kIf, kPeer, packet(1));
  for (int s = 1; s <= 3; ++s) table_.on_timer(at(Duration::s(s)));
  table_.update(at(Duration::s(4)), kIf, kPeer, kMacA, NeighbourTable::Update::kReply);
  EXPECT_EQ(state(), NeighState::kReachable);
}

// ---- static entries ---------------------------------------------------------------------------

TEST_F(NeighTest, StaticEntryFlushesQueueNeverAgesAndIgnoresUpdates) {
  table_.output(t0, kIf, kPeer, packet(1));
  table_.add_static(at(Duration::ms(1)), kIf, kPeer, kMacB);
  ASSERT_EQ(hooks_.xmits.size(), 1u);
  EXPECT_EQ(hooks_.xmits[0].mac, kMacB);
  EXPECT_EQ(state(), NeighState::kPermanent);
  EXPECT_EQ(table_.next_deadline(), Instant::never()) << "the INCOMPLETE timer is gone";
  table_.on_timer(at(Duration::s(100000)));
  EXPECT_EQ(state(), NeighState::kPermanent);
  EXPECT_EQ(hooks_.solicits.size(), 1u);
  table_.update(t0, kIf, kPeer, kMacA, NeighbourTable::Update::kReply);
  table_.update(t0, kIf, kPeer, kMacA, NeighbourTable::Update::kRequestToUs);
  table_.confirm(t0, kIf, kPeer);
  EXPECT_EQ(table_.lookup(kIf, kPeer)->mac, kMacB);
  EXPECT_EQ(state(), NeighState::kPermanent);
  table_.output(t0, kIf, kPeer, packet(2));
  ASSERT_EQ(hooks_.xmits.size(), 2u);
  EXPECT_EQ(hooks_.xmits[1].mac, kMacB);
  table_.flush(kIf);
  EXPECT_NE(table_.lookup(kIf, kPeer), nullptr) << "flush keeps permanent entries";
  EXPECT_TRUE(table_.remove(kIf, kPeer));
  EXPECT_EQ(table_.lookup(kIf, kPeer), nullptr);
  EXPECT_FALSE(table_.remove(kIf, kPeer));
}

// ---- remove / flush ---------------------------------------------------------------------------

TEST_F(NeighTest, RemoveAndFlushDropQueuedPacketsCounted) {
  table_.output(t0, kIf, kPeer, packet(1));
  table_.output(t0, kIf, kOther, packet(2));
  table_.output(t0, kIf, kOther, packet(3));
  table_.output(t0, 2, kOther, packet(4));
  EXPECT_TRUE(table_.remove(kIf, kPeer));
  EXPECT_EQ(table_.stats().unres_discards, 1u);
  EXPECT_EQ(drops(DropReason::kNeighFailed), 1u);
  table_.flush(kIf);
  EXPECT_EQ(table_.stats().unres_discards, 3u);
  EXPECT_EQ(drops(DropReason::kNeighFailed), 3u);
  EXPECT_EQ(table_.lookup(kIf, kOther), nullptr);
  EXPECT_NE(table_.lookup(2, kOther), nullptr) << "other interfaces untouched";
  EXPECT_EQ(table_.stats().destroys, 2u);
  EXPECT_TRUE(hooks_.unreach.empty()) << "administrative removal reports nothing";
  EXPECT_EQ(table_.next_deadline(), at(Duration::s(1))) << "only ifindex 2's timer is left";
  table_.on_timer(at(Duration::s(1)));
  ASSERT_EQ(hooks_.solicits.size(), 4u);
  EXPECT_EQ(hooks_.solicits.back().e.ifindex, 2);
}

// ---- garbage collection and table limits --------------------------------------------------

TEST_F(NeighTest, StaleEntryIsCollectedAfterGcStaleTimeWithoutUse) {
  table_.update(t0, kIf, kPeer, kMacA, NeighbourTable::Update::kRequestToUs);
  table_.on_timer(at(Duration::s(60)) - Duration::ns(1));
  EXPECT_NE(table_.lookup(kIf, kPeer), nullptr);
  table_.on_timer(at(Duration::s(60)));
  EXPECT_EQ(table_.lookup(kIf, kPeer), nullptr);
  EXPECT_EQ(table_.stats().destroys, 1u);
  EXPECT_EQ(table_.next_deadline(), Instant::never());
  EXPECT_TRUE(traced("neigh_destroy", "192.0.2.2 dev 1 STALE"));
}

TEST_F(NeighTest, ConfirmationPostponesGcOfAStaleEntry) {
  table_.update(t0, kIf, kPeer, kMacA, NeighbourTable::Update::kRequestToUs);
  table_.confirm(at(Duration::s(30)), kIf, kPeer);
  table_.on_timer(at(Duration::s(60)));
  EXPECT_NE(table_.lookup(kIf, kPeer), nullptr);
  EXPECT_EQ(table_.next_deadline(), at(Duration::s(90)));
  table_.on_timer(at(Duration::s(90)));
  EXPECT_EQ(table_.lookup(kIf, kPeer), nullptr);
}

TEST_F(NeighTest, FailedEntryIsCollectedAfterGcStaleTime) {
  table_.output(t0, kIf, kPeer, packet(1));
  for (int s = 1; s <= 3; ++s) table_.on_timer(at(Duration::s(s)));
  ASSERT_EQ(state(), NeighState::kFailed);
  EXPECT_EQ(table_.next_deadline(), at(Duration::s(60))) << "unused since t0";
  table_.on_timer(at(Duration::s(60)));
  EXPECT_EQ(table_.lookup(kIf, kPeer), nullptr);
  EXPECT_EQ(table_.stats().destroys, 1u);
}

TEST_F(NeighTest, ReachableAndIncompleteEntriesAreNeverCollected) {
  resolve(t0);
  table_.output(t0, kIf, kOther, packet(2));
  table_.on_timer(at(Duration::ms(2500)));
  EXPECT_EQ(state(), NeighState::kReachable);
  EXPECT_EQ(state(kOther), NeighState::kIncomplete);
  EXPECT_EQ(table_.stats().destroys, 0u);
}

class NeighSmallTable : public NeighTest {
 protected:
  static NeighConfig small() {
    NeighConfig c;
    c.gc_thresh3 = 2;
    return c;
  }
  NeighSmallTable() : NeighTest(small()) {}
};

TEST_F(NeighSmallTable, FullTableRefusesWhenNothingCanBeCollected) {
  table_.output(t0, kIf, kPeer, packet(1));
  table_.output(t0, kIf, kOther, packet(2));
  const Ipv4Addr third = Ipv4Addr::from_octets(192, 0, 2, 30);
  table_.output(t0, kIf, third, packet(3));
  EXPECT_EQ(table_.lookup(kIf, third), nullptr);
  EXPECT_EQ(table_.stats().table_fulls, 1u);
  EXPECT_EQ(drops(DropReason::kNeighFailed), 1u);
  EXPECT_EQ(hooks_.solicits.size(), 2u);
  table_.update(t0, kIf, third, kMacA, NeighbourTable::Update::kRequestToUs);
  EXPECT_EQ(table_.lookup(kIf, third), nullptr) << "not learned either";
  EXPECT_EQ(table_.stats().table_fulls, 2u);
  EXPECT_EQ(table_.entries().size(), 2u);
}

TEST_F(NeighSmallTable, FullTableCollectsStaleAndFailedEntriesFirst) {
  table_.update(t0, kIf, kPeer, kMacA, NeighbourTable::Update::kRequestToUs);  // STALE
  table_.output(t0, kIf, kOther, packet(1));                                   // INCOMPLETE
  const Ipv4Addr third = Ipv4Addr::from_octets(192, 0, 2, 30);
  table_.output(at(Duration::ms(1)), kIf, third, packet(2));
  EXPECT_EQ(state(third), NeighState::kIncomplete);
  EXPECT_EQ(table_.lookup(kIf, kPeer), nullptr) << "the STALE entry made room";
  EXPECT_EQ(state(kOther), NeighState::kIncomplete);
  EXPECT_EQ(table_.stats().table_fulls, 0u);
  EXPECT_EQ(table_.stats().destroys, 1u);
  EXPECT_TRUE(traced("neigh_destroy", "forced gc"));
}

TEST_F(NeighSmallTable, PermanentEntriesDoNotCountTowardTheLimit) {
  for (uint8_t i = 1; i <= 4; ++i)
    table_.add_static(t0, kIf, Ipv4Addr::from_octets(10, 0, 0, i), kMacB);
  table_.output(t0, kIf, kPeer, packet(1));
  table_.output(t0, kIf, kOther, packet(2));
  EXPECT_EQ(table_.entries().size(), 6u);
  EXPECT_EQ(table_.stats().table_fulls, 0u);
}

// ---- format ---------------------------------------------------------------------------------

TEST_F(NeighTest, FormatPrintsIpNeighLinesSortedByInterfaceAndAddress) {
  resolve(t0);                                                             // .2 REACHABLE
  table_.output(t0, kIf, kOther, packet(2));                               // .9 INCOMPLETE
  table_.add_static(t0, kIf, Ipv4Addr::from_octets(192, 0, 2, 1), kMacB);  // .1 PERMANENT
  table_.update(t0, 2, Ipv4Addr::from_octets(10, 0, 0, 5), kMacB,
                NeighbourTable::Update::kRequestToUs);  // STALE on if 2
  table_.output(t0, 3, Ipv4Addr::from_octets(10, 0, 0, 6), packet(3));
  EXPECT_EQ(table_.format({"", "tap0", "eth1"}),
            "192.0.2.1 dev tap0 lladdr 02:00:00:00:00:0b PERMANENT\n"
            "192.0.2.2 dev tap0 lladdr 02:00:00:00:00:02 REACHABLE\n"
            "192.0.2.9 dev tap0 INCOMPLETE\n"
            "10.0.0.5 dev eth1 lladdr 02:00:00:00:00:0b STALE\n"
            "10.0.0.6 dev if3 INCOMPLETE\n");
  for (int s = 1; s <= 3; ++s) table_.on_timer(at(Duration::s(s)));
  const std::string out = table_.format({"", "tap0", "eth1"});
  EXPECT_NE(out.find("192.0.2.9 dev tap0 FAILED\n"), std::string::npos) << out;
  EXPECT_EQ(table_.entries().size(), 5u);
  EXPECT_EQ(table_.entries()[0].ip, Ipv4Addr::from_octets(192, 0, 2, 1));
}

TEST(NeighStateName, MatchesIpNeigh) {
  EXPECT_EQ(neigh_state_name(NeighState::kIncomplete), "INCOMPLETE");
  EXPECT_EQ(neigh_state_name(NeighState::kReachable), "REACHABLE");
  EXPECT_EQ(neigh_state_name(NeighState::kStale), "STALE");
  EXPECT_EQ(neigh_state_name(NeighState::kDelay), "DELAY");
  EXPECT_EQ(neigh_state_name(NeighState::kProbe), "PROBE");
  EXPECT_EQ(neigh_state_name(NeighState::kFailed), "FAILED");
  EXPECT_EQ(neigh_state_name(NeighState::kPermanent), "PERMANENT");
}

// ---- timers: many entries, re-arming, re-entrant hooks ---------------------------------------

TEST_F(NeighTest, ReArmingInvalidatesOldDeadlinesAndManyEntriesFireInOrder) {
  // 200 entries resolved at staggered times, then each re-armed 10 times (new MAC: STALE with
  // a gc timer; use: DELAY timer; reply: REACHABLE timer). Only the last timer of each entry
  // may remain: next_deadline() must not report any of the superseded ones.
  constexpr uint32_t kN = 200;
  for (uint32_t i = 0; i < kN; ++i) {
    const Ipv4Addr ip{0x0a000000u + i};
    const Instant t = t0 + Duration::ms(i);
    table_.output(t, kIf, ip, packet(1));
    table_.update(t, kIf, ip, kMacA, NeighbourTable::Update::kReply);
  }
  const Instant tr = t0 + Duration::s(1);
  for (int round = 0; round < 10; ++round) {
    for (uint32_t i = 0; i < kN; ++i) {
      const Ipv4Addr ip{0x0a000000u + i};
      table_.update(tr, kIf, ip, kMacB, NeighbourTable::Update::kOther);
      table_.output(tr, kIf, ip, packet(2));
      table_.update(tr, kIf, ip, kMacA, NeighbourTable::Update::kReply);
    }
  }
  EXPECT_GE(table_.next_deadline(), tr + Duration::s(15))
      << "a superseded DELAY/REACHABLE/gc deadline leaked";
  Instant last = Instant::zero();
  size_t steps = 0;
  while (table_.next_deadline() < tr + Duration::s(45)) {
    const Instant d = table_.next_deadline();
    ASSERT_GT(d, last) << "deadlines only move forward";
    last = d;
    table_.on_timer(d);
    ASSERT_LT(++steps, 10u * kN);
  }
  for (const NeighEntry& e : table_.entries()) {
    EXPECT_EQ(e.state, NeighState::kStale);
    EXPECT_GE(e.updated, tr + Duration::s(15)) << "went STALE at its own, last deadline";
  }
  EXPECT_LE(steps, size_t{kN}) << "one wake-up per entry (ties share one)";
  EXPECT_EQ(hooks_.solicits.size(), size_t{kN}) << "no stale timer fired a probe";
}

TEST_F(NeighTest, UnreachableHookMayReenterOutput) {
  // IP answers the failure with ICMP toward a source behind the same neighbour (or retries):
  // the table must tolerate output() from inside the report.
  int reentered = 0;
  hooks_.on_unreachable = [&](Instant now, int ifindex, Ipv4Addr ip) {
    if (reentered++ < 1) table_.output(now, ifindex, ip, packet(50));
  };
  table_.output(t0, kIf, kPeer, packet(1));
  table_.output(t0, kIf, kPeer, packet(2));
  for (int s = 1; s <= 3; ++s) table_.on_timer(at(Duration::s(s)));
  EXPECT_EQ(hooks_.unreach.size(), 2u);
  EXPECT_EQ(state(), NeighState::kIncomplete) << "the re-entrant output restarted resolution";
  EXPECT_EQ(table_.lookup(kIf, kPeer)->queued, 1u);
  EXPECT_EQ(table_.next_deadline(), at(Duration::s(4)));
  for (int s = 4; s <= 6; ++s) table_.on_timer(at(Duration::s(s)));
  EXPECT_EQ(state(), NeighState::kFailed);
  EXPECT_EQ(hooks_.unreach.size(), 3u);
  EXPECT_EQ(hooks_.unreach[2].tag, 50);
}

TEST_F(NeighTest, ZeroMcastSolicitFailsAtOnce) {
  NeighConfig c;
  c.mcast_solicit = 0;
  table_.set_config(c);
  table_.output(t0, kIf, kPeer, packet(1));
  EXPECT_EQ(state(), NeighState::kFailed);
  EXPECT_TRUE(hooks_.solicits.empty());
  EXPECT_EQ(drops(DropReason::kNeighFailed), 1u);
  EXPECT_EQ(table_.stats().res_failed, 1u);
}

}  // namespace
}  // namespace ustack::link
