// interop/host_process.cc — HostProcess and the report readers (see host_process.h).
#include "interop/host_process.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "tools/pcap_check.h"

namespace ustack::interop {

using namespace std::chrono_literals;

const std::string& ustack_bin() {
  static const std::string bin = USTACK_BIN;
  return bin;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// ---- HostProcess ----------------------------------------------------------------------------

HostProcess::HostProcess(const Netns& ns, const std::vector<std::string>& args,
                         const std::string& out_path, const std::string& err_path)
    : out_(out_path), err_(err_path) {
  std::vector<std::string> argv = {"ip", "netns", "exec", ns.name(), ustack_bin(), "host"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (std::string& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  pid_ = ::fork();
  if (pid_ == 0) {
    // Only async-signal-safe calls between fork and exec (the test may have threads).
    const int o = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const int e = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (o < 0 || e < 0 || in < 0) ::_exit(127);
    ::dup2(in, 0);
    ::dup2(o, 1);
    ::dup2(e, 2);
    ::execvp("ip", cargv.data());
    ::_exit(127);
  }
}

HostProcess::~HostProcess() {
  if (pid_ > 0 && status_ < 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

bool HostProcess::wait_ready(std::chrono::milliseconds limit) {
  if (pid_ < 0) return false;
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (slurp(err_).find("ustack host: ready") != std::string::npos) return true;
    if (exited(0ms)) return false;
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

void HostProcess::signal(int sig) {
  if (pid_ > 0 && status_ < 0) ::kill(pid_, sig);
}

bool HostProcess::exited(std::chrono::milliseconds limit) {
  if (pid_ < 0) return false;
  const auto end = std::chrono::steady_clock::now() + limit;
  do {
    if (status_ >= 0) return true;
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      return true;
    }
    std::this_thread::sleep_for(2ms);
  } while (std::chrono::steady_clock::now() < end);
  return false;
}

bool HostProcess::stop(int sig, std::chrono::milliseconds limit) {
  signal(sig);
  return exited(limit);
}

// ---- OneHostTest ----------------------------------------------------------------------------

void OneHostTest::SetUp() {
  if (std::string why = skip_reason(); !why.empty()) GTEST_SKIP() << why;
  ASSERT_TRUE(ns_.ok()) << ns_.error();
  ASSERT_TRUE(ns_.disable_ipv6().ok());
  ASSERT_TRUE(dir_.ok());
}

void OneHostTest::start_host(const std::vector<std::string>& extra, int mtu) {
  std::vector<std::string> args = {"--tap",  tap_,  "--addr", std::string(kUstack) + "/24",
                                   "--pcap", pcap()};
  args.insert(args.end(), extra.begin(), extra.end());
  host_ = std::make_unique<HostProcess>(ns_, args, dir_.file("out"), dir_.file("err"));
  ASSERT_TRUE(host_->wait_ready()) << host_->err();
  std::string cmd = "ip addr add " + std::string(kLinux) + "/24 dev " + tap_;
  if (mtu != 0) cmd += " && ip link set " + tap_ + " mtu " + std::to_string(mtu);
  cmd += " && ip link set " + tap_ + " up";
  const CmdResult r = ns_.exec(cmd);
  ASSERT_TRUE(r.ok()) << cmd << ": " << r.output;
}

void OneHostTest::stop_host(std::string* out) {
  ASSERT_NE(host_, nullptr);
  ASSERT_TRUE(host_->stop(SIGINT)) << "ustack host ignored SIGINT";
  *out = host_->out();
  EXPECT_EQ(host_->status(), 0) << host_->err();
  EXPECT_NE(host_->err().find("ustack host: stopped by"), std::string::npos) << host_->err();
  EXPECT_EQ(host_->err().find("Sanitizer"), std::string::npos) << host_->err();  // ASan builds
  EXPECT_TRUE(testtools::tshark_clean(pcap()));
}

// ---- report readers -------------------------------------------------------------------------

std::map<std::string, uint64_t> snmp_group(const std::string& text, const std::string& group) {
  const std::string prefix = group + ": ";
  std::istringstream in(text);
  std::string line;
  std::vector<std::string> lines;
  while (std::getline(in, line)) lines.push_back(line);
  const auto numeric = [](const std::string& w) {
    return !w.empty() && w.find_first_not_of("0123456789") == std::string::npos;
  };
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].rfind(prefix, 0) != 0) continue;
    std::istringstream h(lines[i].substr(prefix.size()));
    std::vector<std::string> words;
    for (std::string w; h >> w;) words.push_back(w);
    std::map<std::string, uint64_t> m;
    if (i + 1 < lines.size() && lines[i + 1].rfind(prefix, 0) == 0) {
      // Header line, then values line.
      std::istringstream v(lines[i + 1].substr(prefix.size()));
      for (const std::string& name : words) {
        std::string val;
        if (!(v >> val)) return {};
        // Linux prints a few signed fields (Tcp MaxConn -1): kept as their two's complement.
        const bool negative = val.size() > 1 && val[0] == '-' && numeric(val.substr(1));
        if (!negative && !numeric(val)) return {};
        m[name] = negative ? static_cast<uint64_t>(std::stoll(val)) : std::stoull(val);
      }
      return m;
    }
    // "Key value Key value ..." on one line.
    for (size_t k = 0; k + 1 < words.size(); k += 2) {
      if (!numeric(words[k + 1])) return {};
      m[words[k]] = std::stoull(words[k + 1]);
    }
    return m;
  }
  return {};
}

std::optional<uint64_t> snmp_value(const std::string& text, const std::string& group,
                                   const std::string& name) {
  const auto m = snmp_group(text, group);
  const auto it = m.find(name);
  if (it == m.end()) return std::nullopt;
  return it->second;
}

std::optional<uint64_t> rule_packets(const std::string& text, const std::string& chain,
                                     const std::string& needle) {
  std::istringstream in(text);
  std::string line;
  bool in_chain = false;
  while (std::getline(in, line)) {
    if (line.rfind("Chain ", 0) == 0) {
      in_chain = line.rfind("Chain " + chain + " ", 0) == 0;
      continue;
    }
    if (line.rfind("== ", 0) == 0) in_chain = false;
    if (!in_chain || line.find(needle) == std::string::npos) continue;
    std::istringstream w(line);
    std::string pkts;
    w >> pkts;
    if (pkts.empty() || pkts.find_first_not_of("0123456789") != std::string::npos) continue;
    return std::stoull(pkts);
  }
  return std::nullopt;
}

std::string ustack_mac(const std::string& text, const std::string& ifname) {
  // "1: tap0: <UP> mtu 1500 link/ether 02:c5:10:c7:0f:6d"
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find(": " + ifname + ": ") == std::string::npos) continue;
    const size_t at = line.find("link/ether ");
    if (at == std::string::npos) continue;
    return line.substr(at + 11, 17);
  }
  return "";
}

std::optional<EchoCounters> echo_counters(const std::string& text, uint16_t port) {
  const std::string key = "udp-echo :" + std::to_string(port) + " datagrams ";
  const size_t at = text.find(key);
  if (at == std::string::npos) return std::nullopt;
  std::istringstream w(text.substr(at + key.size()));
  EchoCounters c;
  std::string bytes_word;
  if (!(w >> c.datagrams >> bytes_word >> c.bytes) || bytes_word != "bytes") return std::nullopt;
  return c;
}

// ---- Linux as the peer ----------------------------------------------------------------------

std::string in_netns(const Netns& ns, const std::function<void()>& fn) {
  std::string error;
  std::thread t([&] {
    const std::string path = "/var/run/netns/" + ns.name();
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      error = "open " + path + ": " + std::strerror(errno);
      return;
    }
    const int r = ::setns(fd, CLONE_NEWNET);
    const int err = errno;
    ::close(fd);
    if (r != 0) {
      error = "setns " + path + ": " + std::strerror(err);
      return;
    }
    fn();
  });
  t.join();
  return error;
}

std::optional<PingSummary> ping_summary(const std::string& out) {
  // "200 packets transmitted, 200 received, 0% packet loss, time 3655ms"
  // "3 packets transmitted, 0 received, +3 errors, 100% packet loss, time 2037ms"
  const size_t at = out.find(" packets transmitted, ");
  if (at == std::string::npos) return std::nullopt;
  const size_t start = out.rfind('\n', at);
  std::istringstream w(out.substr(start == std::string::npos ? 0 : start + 1));
  PingSummary s;
  std::string word;
  if (!(w >> s.transmitted >> word >> word >> s.received)) return std::nullopt;
  std::string rest;
  std::getline(w, rest);
  const size_t plus = rest.find(", +");
  if (plus != std::string::npos && rest.find(" errors", plus) != std::string::npos)
    s.errors = std::stoi(rest.substr(plus + 3));
  return s;
}

int tshark_count(const std::string& pcap, const std::string& display_filter) {
  const CmdResult r =
      run_cmd("tshark -n -r " + shell_quote(pcap) + " -Y " + shell_quote(display_filter) +
              " -T fields -e frame.number 2>/dev/null");
  if (!r.ok()) return -1;
  int n = 0;
  for (char c : r.output) n += c == '\n';
  return n;
}

}  // namespace ustack::interop
