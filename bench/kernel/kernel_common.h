// bench/kernel/kernel_common.h — what the two roles of bench_kernel (the Linux-kernel workload
// program of issue 6's comparison) share: the command line, the wire protocol between client and
// server, the bulk pattern, clocks, fatal errors, the JSON line, and readers for the kernel's
// own accounting (/proc/slabinfo, /proc/meminfo, /proc/net/snmp, /proc/net/sockstat).
//
// Wire protocol (kernel sockets, TCP): the first byte a client sends on a new connection names
// the workload, and the server treats the connection accordingly for its whole life:
//   'B' bulk sink: every later byte must equal the pattern (bulk_pattern(), offset 0 = the first
//       byte after 'B'); at EOF the server writes one ASCII report line
//       "bytes=N ns=T cpu_ns=C bad_at=X\n" (T: first payload byte to last, at the receiver;
//       X: offset of the first wrong byte, or -1) and closes.
//   'E' echo (rr, crr): every later byte is written back; EOF -> close.
//   'I' idle hold: the server answers one byte 'K' (so the client knows the connection was
//       accepted and is ESTABLISHED at both ends), then holds it until EOF or RST.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace bench_kernel {

constexpr char kModeBulk = 'B';
constexpr char kModeEcho = 'E';
constexpr char kModeIdle = 'I';
constexpr char kIdleAck = 'K';

// The bulk pattern repeats with a prime period, so a segment delivered at the wrong offset (by
// any multiple of a page, an MSS or a 64 KiB chunk) never compares equal; a chunk of up to
// kPatternSlack bytes at any offset into the period is contiguous in bulk_pattern().
constexpr size_t kPatternPeriod = 65521;
constexpr size_t kPatternSlack = 65536;
const std::vector<uint8_t>& bulk_pattern();  // kPatternPeriod + kPatternSlack bytes
inline const uint8_t* pattern_at(uint64_t offset) {
  return bulk_pattern().data() + offset % kPatternPeriod;
}

struct Options {
  std::string workload;  // server | bulk | rr | crr | idle
  double seconds = 10;
  uint64_t bytes = 1ull << 30;
  int mtu = 0;  // not set by the program (the driver sets the link MTU); echoed in "info"
  int conns = 1;
  int count = 100000;
  int size = 64;
  std::string addr = "127.0.0.1";
  std::string bind = "0.0.0.0";
  int port = 5601;
  int ports = 4;  // listening ports port .. port+ports-1 (idle needs several, see idle.cc)
  bool local = false;
  double seconds_limit = 0;  // server: exit after this long (0: until SIGTERM/SIGINT)
  int cpu = -1;              // pin this process (client) or the server role to one CPU
  int server_cpu = -1;       // --local: pin the server process
  int server_pid = -1;       // --local: the server process (its CPU time goes into "info")
};

// Exits with a clear sentence on stderr (the contract: no JSON on failure, exit status 1).
[[noreturn]] void fatal(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
// Same, with strerror(err) appended.
[[noreturn]] void fatal_errno(int err, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

int64_t monotonic_ns();
int64_t thread_cpu_ns();   // CLOCK_THREAD_CPUTIME_ID
int64_t process_cpu_ns();  // CLOCK_PROCESS_CPUTIME_ID

void pin_to_cpu(int cpu);  // this thread; -1: no-op
// Raises RLIMIT_NOFILE towards `want` (the hard limit too, with CAP_SYS_RESOURCE; fs.nr_open
// caps it); without the capability, up to the hard limit. Returns the soft limit in effect.
uint64_t raise_nofile(uint64_t want);

sockaddr_storage make_addr(const std::string& host, int port, socklen_t* len);

// Values of one line of numbers and nested objects, printed as a single JSON line.
class Json {
 public:
  Json& num(std::string_view key, double v);
  Json& integer(std::string_view key, int64_t v);
  Json& str(std::string_view key, std::string_view v);
  Json& obj(std::string_view key, const Json& inner);
  std::string text() const { return "{" + body_ + "}"; }

 private:
  void key(std::string_view k);
  std::string body_;
};

// Kernel accounting. Slab caches are global to the machine (all namespaces, all processes):
// growth measured around an action includes whatever else ran meanwhile.
struct SlabCache {
  int64_t active_objs = 0;
  int64_t num_objs = 0;
  int64_t objsize = 0;
};
std::map<std::string, SlabCache> read_slabinfo();  // empty if unreadable (needs root)
int64_t read_meminfo_kb(std::string_view field);   // -1 if absent
// /proc/net/snmp "Tcp:" counters of this namespace (RetransSegs, OutSegs, ...); -1 if absent.
int64_t read_snmp_tcp(std::string_view field);
// /proc/net/netstat "TcpExt:" counters of this namespace (TCPLossProbes, ...); -1 if absent.
int64_t read_netstat_tcpext(std::string_view field);
// /proc/net/sockstat "TCP:" fields of this namespace (inuse, orphan, tw, alloc, mem).
int64_t read_sockstat_tcp(std::string_view field);
int64_t read_sysctl_int(const char* path, int index = 0);  // -1 if unreadable

// Percentile (0..100) of a sample, in the sample's unit; reorders it.
double percentile(std::vector<int64_t>& v, double p);

}  // namespace bench_kernel
