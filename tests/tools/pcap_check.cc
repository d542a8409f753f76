// tests/tools/pcap_check.cc — runs tshark over a pcap and turns its verdict into a gtest result.
//
// tshark prints one line per frame with the fields we ask for (-T fields): the malformed marker,
// each protocol's checksum status, and every expert item (severity, group, message). We judge
// the items ourselves rather than with a display filter, so a failure can quote exactly what
// tshark said about which frame.
#include "tools/pcap_check.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

extern char** environ;

namespace ustack::testtools {
namespace {

// Wireshark's expert severities and groups (epan/proto.h: PI_WARN, PI_CHECKSUM, ...).
constexpr uint32_t kSeverityWarn = 0x00600000;
constexpr uint32_t kSeverityError = 0x00800000;
constexpr uint32_t kGroupChecksum = 0x01000000;
constexpr uint32_t kGroupMalformed = 0x07000000;
// Checksum status values (proto_checksum_enum_e): 0 bad, 1 good, 2 unverified, 3 not present,
// 4 illegal (e.g. a TCP checksum of 0xffff).
constexpr char kChecksumBad = '0';
constexpr char kChecksumIllegal = '4';
// Separates the occurrences of a field that appears more than once in a frame (-E aggregator).
constexpr char kAggregator = '\x1f';

struct RunResult {
  bool spawned = false;
  int exit_code = -1;
  std::string out;
  std::string err;
  std::string spawn_error;
};

// Runs argv[0] (searched in PATH) and collects stdout and stderr. poll() drains both pipes so
// neither can fill up and stall the child.
RunResult run(const std::vector<std::string>& args) {
  RunResult r;
  int out_pipe[2];
  int err_pipe[2];
  if (pipe(out_pipe) != 0) {
    r.spawn_error = std::string("pipe: ") + std::strerror(errno);
    return r;
  }
  if (pipe(err_pipe) != 0) {
    r.spawn_error = std::string("pipe: ") + std::strerror(errno);
    close(out_pipe[0]);
    close(out_pipe[1]);
    return r;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
  for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) {
    posix_spawn_file_actions_addclose(&fa, fd);
  }
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (rc != 0) {
    r.spawn_error = args[0] + ": " + std::strerror(rc);
    close(out_pipe[0]);
    close(err_pipe[0]);
    return r;
  }
  r.spawned = true;
  std::array<pollfd, 2> fds{{{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}}};
  std::array<std::string*, 2> dst{&r.out, &r.err};
  int open_fds = 2;
  while (open_fds > 0) {
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      const ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        dst[i]->append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (pollfd& p : fds) {
    if (p.fd >= 0) close(p.fd);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    const size_t pos = s.find(sep, start);
    parts.push_back(s.substr(start, pos - start));
    if (pos == std::string::npos) return parts;
    start = pos + 1;
  }
}

// tshark's stderr without the banner it prints whenever it runs as root.
std::string relevant_stderr(const std::string& err) {
  std::string out;
  for (const std::string& line : split(err, '\n')) {
    if (line.empty() || line.rfind("Running as user", 0) == 0) continue;
    out += line + "\n";
  }
  return out;
}

// pcap (either byte order, micro- or nanosecond) or pcapng. tshark also opens dozens of other
// formats, some by heuristics: a file that is not a capture at all must not pass by luck.
bool looks_like_capture(const std::string& path, std::string* why) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    *why = "cannot open " + path;
    return false;
  }
  std::array<unsigned char, 4> m{};
  if (!f.read(reinterpret_cast<char*>(m.data()), m.size())) {
    *why = path + " is shorter than a pcap file header";
    return false;
  }
  const uint32_t le = m[0] | (m[1] << 8) | (m[2] << 16) | (uint32_t{m[3]} << 24);
  for (uint32_t magic : {0xa1b2c3d4u, 0xa1b23c4du, 0x0a0d0d0au}) {
    if (le == magic || __builtin_bswap32(le) == magic) return true;
  }
  *why = path + " is not a pcap or pcapng file";
  return false;
}

constexpr const char* kFields[] = {
    "frame.number",        "_ws.malformed",       "ip.checksum.status",  "icmp.checksum.status",
    "udp.checksum.status", "tcp.checksum.status", "_ws.expert.severity", "_ws.expert.group",
    "_ws.expert.message",  "_ws.col.Protocol",    "_ws.col.Info",
};
enum Field {
  kNumber,
  kMalformed,
  kIp,
  kIcmp,
  kUdp,
  kTcp,
  kSeverity,
  kGroup,
  kMessage,
  kProto,
  kInfo,
  kFieldCount
};

std::vector<std::string> tshark_args(const std::string& path,
                                     const std::vector<std::string>& extra) {
  std::vector<std::string> a = {"tshark", "-n", "-r", path,
                                // Checksum validation is off by default (tshark -G defaultprefs).
                                "-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
                                "-o", "udp.check_checksum:TRUE", "-T", "fields", "-E", "header=n",
                                "-E", "occurrence=a", "-E",
                                std::string("aggregator=") + kAggregator};
  for (const char* f : kFields) {
    a.push_back("-e");
    a.push_back(f);
  }
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

// What is wrong with one frame's line, or "" if nothing.
std::string judge(const std::vector<std::string>& f) {
  std::string problems;
  auto add = [&](const std::string& p) { problems += (problems.empty() ? "" : "; ") + p; };
  if (!f[kMalformed].empty()) add("malformed");
  const std::pair<Field, const char*> sums[] = {
      {kIp, "IPv4"}, {kIcmp, "ICMP"}, {kUdp, "UDP"}, {kTcp, "TCP"}};
  for (const auto& [field, proto] : sums) {
    for (const std::string& st : split(f[field], kAggregator)) {
      if (st.size() == 1 && (st[0] == kChecksumBad || st[0] == kChecksumIllegal)) {
        add(std::string(proto) + " checksum " + (st[0] == kChecksumBad ? "bad" : "illegal"));
      }
    }
  }
  const std::vector<std::string> sev = split(f[kSeverity], kAggregator);
  const std::vector<std::string> grp = split(f[kGroup], kAggregator);
  const std::vector<std::string> msg = split(f[kMessage], kAggregator);
  for (size_t i = 0; i < sev.size(); ++i) {
    if (sev[i].empty()) continue;
    const uint32_t s = static_cast<uint32_t>(std::strtoul(sev[i].c_str(), nullptr, 10));
    const uint32_t g =
        i < grp.size() ? static_cast<uint32_t>(std::strtoul(grp[i].c_str(), nullptr, 10)) : 0;
    const bool defect_group = g == kGroupChecksum || g == kGroupMalformed;
    if (s >= kSeverityError || (s >= kSeverityWarn && defect_group)) {
      add(std::string(s >= kSeverityError ? "error" : "warning") + ": " +
          (i < msg.size() ? msg[i] : "?"));
    }
  }
  return problems;
}

}  // namespace

std::vector<std::string> tcp_payload_as_data(const std::vector<uint16_t>& ports) {
  std::vector<std::string> a;
  for (uint16_t p : ports) {
    a.push_back("-d");
    a.push_back("tcp.port==" + std::to_string(p) + ",data");
  }
  return a;
}

bool tshark_available() {
  const RunResult r = run({"tshark", "-v"});
  return r.spawned && r.exit_code == 0;
}

::testing::AssertionResult tshark_clean(const std::string& pcap_path) {
  return tshark_clean(pcap_path, {});
}

::testing::AssertionResult tshark_clean(const std::string& pcap_path,
                                        const std::vector<std::string>& extra_args) {
  std::string why;
  if (!looks_like_capture(pcap_path, &why)) return ::testing::AssertionFailure() << why;
  const RunResult r = run(tshark_args(pcap_path, extra_args));
  if (!r.spawned) {
    return ::testing::AssertionFailure()
           << "cannot run tshark (" << r.spawn_error << "); install it: apt-get install -y tshark";
  }
  const std::string err = relevant_stderr(r.err);
  if (r.exit_code != 0) {
    return ::testing::AssertionFailure()
           << "tshark -r " << pcap_path << " exited with " << r.exit_code << ":\n"
           << err;
  }
  std::ostringstream bad;
  int frames = 0;
  int bad_frames = 0;
  for (const std::string& line : split(r.out, '\n')) {
    if (line.empty()) continue;
    ++frames;
    std::vector<std::string> f = split(line, '\t');
    if (f.size() < kFieldCount) {
      ++bad_frames;
      bad << "  unexpected tshark output: " << line << "\n";
      continue;
    }
    const std::string problems = judge(f);
    if (problems.empty()) continue;
    ++bad_frames;
    bad << "  frame " << f[kNumber] << " (" << f[kProto] << " " << f[kInfo] << "): " << problems
        << "\n";
  }
  if (bad_frames > 0) {
    return ::testing::AssertionFailure() << "tshark: " << bad_frames << " of " << frames
                                         << " frames in " << pcap_path << " are defective:\n"
                                         << bad.str() << err;
  }
  return ::testing::AssertionSuccess() << "tshark: " << frames << " clean frames in " << pcap_path;
}

}  // namespace ustack::testtools
