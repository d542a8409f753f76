// bench/kernel/kernel_common.cc — helpers shared by bench_kernel's client and server: the bulk
// pattern, clocks, fatal errors, CPU pinning, RLIMIT_NOFILE, the JSON line and the readers of
// the kernel's accounting files under /proc.
#include "kernel_common.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sched.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace bench_kernel {

const std::vector<uint8_t>& bulk_pattern() {
  static const std::vector<uint8_t> pattern = [] {
    std::vector<uint8_t> p(kPatternPeriod + kPatternSlack);
    uint64_t x = 0x9e3779b97f4a7c15ull;  // xorshift64: cheap, and no byte run repeats early
    for (size_t i = 0; i < kPatternPeriod; ++i) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      p[i] = static_cast<uint8_t>(x >> 32);
    }
    for (size_t i = kPatternPeriod; i < p.size(); ++i) p[i] = p[i - kPatternPeriod];
    return p;
  }();
  return pattern;
}

namespace {
[[noreturn]] void vfatal(int err, const char* fmt, va_list ap) {
  char msg[1024];
  std::vsnprintf(msg, sizeof msg, fmt, ap);
  if (err != 0)
    std::fprintf(stderr, "bench_kernel: %s: %s\n", msg, std::strerror(err));
  else
    std::fprintf(stderr, "bench_kernel: %s\n", msg);
  std::fflush(stderr);
  std::_Exit(1);  // other threads (the --local server) may be mid-call: no destructors
}

int64_t clock_ns(clockid_t clock) {
  timespec ts{};
  ::clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}
}  // namespace

void fatal(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfatal(0, fmt, ap);
}

void fatal_errno(int err, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfatal(err, fmt, ap);
}

int64_t monotonic_ns() { return clock_ns(CLOCK_MONOTONIC); }
int64_t thread_cpu_ns() { return clock_ns(CLOCK_THREAD_CPUTIME_ID); }
int64_t process_cpu_ns() { return clock_ns(CLOCK_PROCESS_CPUTIME_ID); }

void pin_to_cpu(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (::sched_setaffinity(0, sizeof set, &set) != 0) fatal_errno(errno, "pin to CPU %d", cpu);
}

uint64_t raise_nofile(uint64_t want) {
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want) return rl.rlim_cur;
  rlimit up{.rlim_cur = want, .rlim_max = std::max<rlim_t>(rl.rlim_max, want)};
  if (::setrlimit(RLIMIT_NOFILE, &up) == 0) return want;
  up = rlimit{.rlim_cur = rl.rlim_max, .rlim_max = rl.rlim_max};  // no CAP_SYS_RESOURCE
  if (::setrlimit(RLIMIT_NOFILE, &up) == 0) return rl.rlim_max;
  return rl.rlim_cur;
}

sockaddr_storage make_addr(const std::string& host, int port, socklen_t* len) {
  sockaddr_storage ss{};
  auto* in = reinterpret_cast<sockaddr_in*>(&ss);
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (::inet_pton(AF_INET, host.c_str(), &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons(static_cast<uint16_t>(port));
    *len = sizeof(sockaddr_in);
  } else if (::inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<uint16_t>(port));
    *len = sizeof(sockaddr_in6);
  } else {
    fatal("'%s' is not a numeric IPv4 or IPv6 address", host.c_str());
  }
  return ss;
}

void Json::key(std::string_view k) {
  if (!body_.empty()) body_ += ", ";
  body_ += '"';
  body_ += k;
  body_ += "\": ";
}

Json& Json::num(std::string_view k, double v) {
  key(k);
  char buf[64];
  if (!std::isfinite(v)) v = 0;
  std::snprintf(buf, sizeof buf, "%.6g", v);
  body_ += buf;
  return *this;
}

Json& Json::integer(std::string_view k, int64_t v) {
  key(k);
  body_ += std::to_string(v);
  return *this;
}

Json& Json::str(std::string_view k, std::string_view v) {
  key(k);
  body_ += '"';
  for (char c : v) {
    if (c == '"' || c == '\\') body_ += '\\';
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
    body_ += c;
  }
  body_ += '"';
  return *this;
}

Json& Json::obj(std::string_view k, const Json& inner) {
  key(k);
  body_ += inner.text();
  return *this;
}

std::map<std::string, SlabCache> read_slabinfo() {
  std::map<std::string, SlabCache> caches;
  std::ifstream in("/proc/slabinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || line.starts_with("slabinfo")) continue;
    std::istringstream fields(line);
    std::string name;
    SlabCache c;
    if (fields >> name >> c.active_objs >> c.num_objs >> c.objsize) caches[name] = c;
  }
  return caches;
}

int64_t read_meminfo_kb(std::string_view field) {
  std::ifstream in("/proc/meminfo");
  std::string name;
  int64_t kb = 0;
  std::string unit;
  while (in >> name >> kb) {
    std::getline(in, unit);
    if (name.size() == field.size() + 1 && name.starts_with(field) && name.back() == ':') return kb;
  }
  return -1;
}

namespace {
// Files of the form "Prefix: name name ...\nPrefix: value value ..." (/proc/net/snmp).
int64_t read_header_value_pair(const char* path, std::string_view prefix, std::string_view field) {
  std::ifstream in(path);
  std::string names;
  std::string values;
  while (std::getline(in, names)) {
    if (!names.starts_with(prefix)) continue;
    if (!std::getline(in, values)) break;
    std::istringstream n(names);
    std::istringstream v(values);
    std::string name;
    std::string value;
    while (n >> name && v >> value)
      if (name == field) return std::strtoll(value.c_str(), nullptr, 10);
    break;
  }
  return -1;
}
}  // namespace

int64_t read_snmp_tcp(std::string_view field) {
  return read_header_value_pair("/proc/net/snmp", "Tcp:", field);
}

int64_t read_netstat_tcpext(std::string_view field) {
  return read_header_value_pair("/proc/net/netstat", "TcpExt:", field);
}

int64_t read_sockstat_tcp(std::string_view field) {
  // "TCP: inuse 5 orphan 0 tw 2 alloc 7 mem 1"
  std::ifstream in("/proc/net/sockstat");
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with("TCP:")) continue;
    std::istringstream words(line.substr(4));
    std::string name;
    int64_t value = 0;
    while (words >> name >> value)
      if (name == field) return value;
  }
  return -1;
}

int64_t read_sysctl_int(const char* path, int index) {
  std::ifstream in(path);
  int64_t v = -1;
  for (int i = 0; i <= index; ++i)
    if (!(in >> v)) return -1;
  return v;
}

double percentile(std::vector<int64_t>& v, double p) {
  if (v.empty()) return 0;
  size_t k = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  k = std::min(k, v.size() - 1);
  std::nth_element(v.begin(), v.begin() + static_cast<ptrdiff_t>(k), v.end());
  return static_cast<double>(v[k]);
}

}  // namespace bench_kernel
