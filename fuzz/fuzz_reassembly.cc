// Fuzz target: one Reassembler fed a sequence of fragments and clock steps described by the
// input. Every fragment's payload byte at datagram position k is a function of (datagram, k),
// so a reassembled datagram can be checked byte for byte whatever order and duplicates the
// fuzzer chose. Invariants: no crash; mem() within high_thresh (plus one fragment, the
// contract's slack); queues() bounded by what the memory limit allows; every returned datagram
// has a valid IPv4 header, total length == len(), no fragment bits, and the right bytes; the
// timeout handler sees only offset-0 fragments; after on_timer(now) the next deadline is later
// than now; nothing leaks once the reassembler is gone.
//
// Input: byte 0 picks the configuration, then 5-byte records [ctl, a_hi, a_lo, b_hi, b_lo]:
//   ctl & 3 == 3: advance the clock by a * 10 ms; call on_timer when due unless ctl & 4
//                 (insert() must then expire what is due on its own).
//   otherwise:    a fragment. ctl bits 2-3: datagram id (0..3); bit 4: MF; bit 5: protocol
//                 (TCP or UDP); bit 6: 8 bytes of options; bit 7: "small" mode, offset and
//                 length in 8-byte units from the low 6 bits of a and b (dense overlaps);
//                 else offset = (a & 0x1fff) * 8 and length = b & 0x7ff bytes.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "ustack/base/assert.h"
#include "ustack/base/byteorder.h"
#include "ustack/base/checksum.h"
#include "ustack/base/telemetry.h"
#include "ustack/buf/pool.h"
#include "ustack/ip/reassembly.h"
#include "ustack/wire/ipv4.h"

using namespace ustack;

namespace {

constexpr uint32_t kSrc = 0xc0000201;
constexpr uint32_t kDst = 0xc6336402;

uint8_t pattern(uint16_t id, uint8_t proto, size_t k) {
  return static_cast<uint8_t>(k * 131 + (k >> 8) * 7 + id * 29 + proto);
}

PacketPtr make_fragment(BufferPool& pool, uint16_t id, uint8_t proto, bool mf, bool opts,
                        size_t offset, size_t len) {
  const size_t hlen = opts ? 28 : 20;
  PacketPtr p = pool.alloc(32, hlen + len);
  if (p == nullptr) return nullptr;
  std::span<uint8_t> b = *p->put(hlen + len);
  std::memset(b.data(), 0, hlen);
  b[0] = static_cast<uint8_t>(0x40 | hlen / 4);
  store_be16(&b[2], static_cast<uint16_t>(hlen + len));
  store_be16(&b[4], id);
  store_be16(&b[6], static_cast<uint16_t>((mf ? 0x2000 : 0) | offset / 8));
  b[8] = 64;
  b[9] = proto;
  store_be32(&b[12], kSrc);
  store_be32(&b[16], kDst);
  if (opts) {  // NOP, NOP, then a copied 6-byte option (type 0x88: stream id, 2 bytes + pad)
    const uint8_t o[8] = {1, 1, 0x88, 4, 0xab, 0xcd, 0, 0};
    std::memcpy(&b[20], o, 8);
  }
  store_be16(&b[10], inet_checksum(b.first(hlen)));
  for (size_t i = 0; i < len; ++i) b[hlen + i] = pattern(id, proto, offset + i);
  p->set_network_header();
  return p;
}

void check_datagram(const PacketBuffer& d) {
  auto v = wire::Ipv4View::parse(d.data());
  USTACK_ASSERT(v.ok(), "reassembled datagram does not parse");
  USTACK_ASSERT(v->total_len() == d.len(), "total length != len()");
  USTACK_ASSERT(v->verify_checksum(), "reassembled header checksum");
  USTACK_ASSERT(!v->is_fragment(), "reassembled datagram still a fragment");
  USTACK_ASSERT(v->src().v == kSrc && v->dst().v == kDst, "addresses changed");
  USTACK_ASSERT(d.network_offset() == 0, "network header not set");
  const auto pl = v->payload();
  for (size_t k = 0; k < pl.size(); ++k) {
    USTACK_ASSERT(pl[k] == pattern(v->ident(), v->protocol(), k), "payload byte misplaced");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t cfg_byte = data[0];
  PoolConfig pc;
  if (cfg_byte & 1) pc.max_bytes = 24 * 2048;  // a starved pool: allocation failures too
  PoolHandle pool = BufferPool::create(pc);
  ip::ReasmConfig cfg;
  cfg.high_thresh = (cfg_byte & 2) ? 8 * 1024 : 96 * 1024;  // small: constant eviction
  cfg.timeout = Duration::s(1 + (cfg_byte >> 4));
  Telemetry tel;
  Instant now = Instant::zero() + Duration::s(1);
  // The most fragments memory can hold at once, each costing at least a frame block.
  const size_t max_queues = cfg.high_thresh / ip::Reassembler::kQueueCost;
  size_t max_frag = 0;
  {
    ip::Reassembler r(cfg, *pool, tel);
    r.set_timeout_handler([&](Instant, const PacketBuffer& first) {
      auto v = wire::Ipv4View::parse(first.data());
      USTACK_ASSERT(v.ok() && v->frag_offset() == 0, "timeout handler got a non-first fragment");
    });
    const size_t records = std::min<size_t>((size - 1) / 5, 4096);
    for (size_t i = 0; i < records; ++i) {
      const uint8_t* rec = data + 1 + i * 5;
      const uint8_t ctl = rec[0];
      const uint16_t a = load_be16(rec + 1);
      const uint16_t b = load_be16(rec + 3);
      if ((ctl & 3) == 3) {
        now += Duration::ms(10) * a;
        if ((ctl & 4) == 0 && r.next_deadline() <= now) {
          r.on_timer(now);
          USTACK_ASSERT(r.next_deadline() > now, "on_timer left a due queue");
        }
        continue;
      }
      const uint16_t id = (ctl >> 2) & 3;
      const bool mf = (ctl & 0x10) != 0;
      const uint8_t proto = (ctl & 0x20) != 0 ? 6 : 17;
      const bool opts = (ctl & 0x40) != 0;
      size_t offset, len;
      if (ctl & 0x80) {
        offset = (a & 0x3f) * 8u;
        len = (b & 0x3f) * 8u;
      } else {
        offset = (a & 0x1fffu) * 8u;
        len = b & 0x7ffu;
      }
      PacketPtr f = make_fragment(*pool, id, proto, mf, opts, offset, len);
      if (f == nullptr) continue;
      max_frag = std::max(max_frag, f->capacity());
      PacketPtr out = r.insert(now, std::move(f));
      if (out != nullptr) {
        auto v = wire::Ipv4View::parse(out->data());
        // Not a fragment (offset 0, no MF) comes back as it went in; the rest was rebuilt.
        if (v.ok() && !(offset == 0 && !mf)) check_datagram(*out);
        if (offset == 0 && !mf) USTACK_ASSERT(out->len() == (opts ? 28 : 20) + len, "passthrough");
      }
      USTACK_ASSERT(r.mem() <= cfg.high_thresh + max_frag, "mem over high_thresh");
      USTACK_ASSERT(r.queues() <= max_queues, "too many queues");
      USTACK_ASSERT(r.queues() > 0 || r.mem() == 0, "memory without queues");
      const ip::ReasmStats& s = r.stats();
      USTACK_ASSERT(s.reasm_fails >= s.reasm_timeout && s.reasm_fails >= s.reasm_overlaps,
                    "fails must include timeouts and overlaps");
    }
    r.on_timer(Instant::never() - Duration::s(1));
    USTACK_ASSERT(r.queues() == 0 && r.mem() == 0, "queues left after every deadline");
  }
  USTACK_ASSERT(pool->outstanding() == 0, "a fragment leaked");
  return 0;
}
