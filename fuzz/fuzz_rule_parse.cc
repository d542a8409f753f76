// Fuzz target: the rule language. Any text goes to parse_command; a command that parses is
// applied to a Netfilter, a few packets run through the hook, and the rule set is listed. A rule
// that was added must be deletable again with the same spec. The whole input also goes to
// Netfilter::load as a rules file. Nothing may crash, read out of bounds or trip an assert.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ustack/base/assert.h"
#include "ustack/buf/pool.h"
#include "ustack/filter/netfilter.h"

using namespace ustack;
using namespace ustack::filter;

namespace {

// IPv4 packets (checksums irrelevant here): UDP 10.0.0.1:40000 -> 10.0.1.1:7, a TCP SYN
// 192.0.2.5:1234 -> 10.0.0.1:80, an ICMP port unreachable, a later UDP fragment, and a TCP
// header cut after 6 bytes.
const std::vector<std::vector<uint8_t>> kPackets = {
    {0x45, 0,    0, 32, 0, 1,  0, 0, 64,  17,  0,   0,  10, 0, 0, 1, 10, 0, 1, 1,         // ipv4
     0x9c, 0x40, 0, 7,  0, 12, 0, 0, 'a', 'b', 'c', 'd'},                                 // udp
    {0x45, 0,    0, 40, 0, 2, 0x40, 0, 64, 6, 0, 0, 192,  0,    2,    5,    10, 0, 0, 1,  // ipv4
     0x04, 0xd2, 0, 80, 0, 0, 0,    1, 0,  0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0,  0, 0, 0},
    {0x45, 0, 0, 28, 0, 3, 0, 0, 64, 1, 0, 0, 10, 0, 1, 1, 10, 0, 0, 1,      // ipv4
     3,    3, 0, 0,  0, 0, 0, 0},                                            // icmp
    {0x45, 0,    0, 28, 0, 4, 0, 1, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 1, 1,  // offset 8
     0x9c, 0x40, 0, 7,  0, 8, 0, 0},
    {0x45, 0,    0, 26, 0, 5, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 1, 1,  // truncated tcp
     0x04, 0xd2, 0, 80, 0, 0},
};

void run_packets(Netfilter& nf, Hook hook) {
  PoolHandle pool = BufferPool::create();
  for (const std::vector<uint8_t>& bytes : kPackets) {
    PacketPtr p = pool->alloc_copy(bytes);
    HookResult r = nf.run(HookState{hook, "eth0", "eth1"}, *p);
    USTACK_ASSERT(r.rule >= -1 && r.rule < static_cast<int>(nf.chain(hook).rules.size()),
                  "deciding rule out of range");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto c = parse_command(text);
  if (c) {
    Netfilter nf;
    auto applied = nf.apply(*c);
    run_packets(nf, c->hook);
    USTACK_ASSERT(!nf.format().empty(), "empty listing");
    const bool adds = c->op == Command::Op::kAppend || c->op == Command::Op::kInsert;
    if (applied && adds) {
      Command del = *c;
      del.op = Command::Op::kDelete;
      USTACK_ASSERT(nf.apply(del).ok(), "an added rule cannot be deleted with its own spec");
      USTACK_ASSERT(nf.chain(c->hook).rules.empty(), "delete left the rule behind");
    }
  } else {
    USTACK_ASSERT(!c.error().empty(), "an error without a message");
  }
  Netfilter file;
  auto loaded = file.load(text);
  if (loaded) {
    run_packets(file, Hook::kForward);
    USTACK_ASSERT(!file.format().empty(), "empty listing");
  } else {
    USTACK_ASSERT(loaded.error().rfind("line ", 0) == 0, "load error without its line number");
  }
  return 0;
}
