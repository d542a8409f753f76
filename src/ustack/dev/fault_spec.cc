// dev/fault_spec.cc — parsing and printing FaultInjectorConfig's text form (fault_spec.h).
#include "ustack/dev/fault_spec.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <optional>
#include <system_error>

namespace ustack::dev {
namespace {

std::optional<double> to_double(std::string_view s) {
  if (s.empty()) return std::nullopt;
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

// "2%" -> 0.02.
Result<double, std::string> parse_percent(std::string_view item, std::string_view v) {
  if (v.empty() || v.back() != '%')
    return Err{fmt::format("'{}': give a percentage such as 2%", item)};
  auto d = to_double(v.substr(0, v.size() - 1));
  if (!d || *d < 0 || *d > 100)
    return Err{fmt::format("'{}': the percentage must be a number from 0% to 100%", item)};
  return *d / 100.0;
}

// "1.5ms" -> 1 500 000 ns.
Result<Duration, std::string> parse_duration(std::string_view item, std::string_view v) {
  struct Unit {
    std::string_view suffix;
    double ns;
  };
  // Longest suffixes first: "ms" and "ns" before "s".
  static constexpr Unit kUnits[] = {{"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}};
  for (const Unit& u : kUnits) {
    if (v.size() <= u.suffix.size() || v.substr(v.size() - u.suffix.size()) != u.suffix) continue;
    auto d = to_double(v.substr(0, v.size() - u.suffix.size()));
    if (!d || *d < 0 || *d * u.ns > 3600e9)
      return Err{fmt::format("'{}': the duration must be a number from 0 to 1 hour", item)};
    return Duration::ns(static_cast<int64_t>(std::llround(*d * u.ns)));
  }
  return Err{fmt::format("'{}': give a duration with a unit (ns, us, ms, s), e.g. 1ms", item)};
}

std::string percent(double p) { return fmt::format("{:g}%", p * 100.0); }

std::string duration(Duration d) {
  const int64_t ns = d.nanos();
  if (ns % 1'000'000'000 == 0) return fmt::format("{}s", ns / 1'000'000'000);
  if (ns % 1'000'000 == 0) return fmt::format("{}ms", ns / 1'000'000);
  if (ns % 1'000 == 0) return fmt::format("{}us", ns / 1'000);
  return fmt::format("{}ns", ns);
}

// The items of one direction that differ from the defaults, each prefixed with `prefix`.
void format_dir(const FaultConfig& c, std::string_view prefix, std::string& out) {
  const FaultConfig def;
  auto add = [&](std::string_view key, const std::string& v) {
    out += fmt::format("{}{}{}={}", out.empty() ? "" : ",", prefix, key, v);
  };
  if (c.drop != def.drop) add("loss", percent(c.drop));
  if (c.duplicate != def.duplicate) add("dup", percent(c.duplicate));
  if (c.reorder != def.reorder) add("reorder", percent(c.reorder));
  if (c.corrupt != def.corrupt) add("corrupt", percent(c.corrupt));
  if (c.delay != def.delay) add("delay", duration(c.delay));
  if (c.jitter != def.jitter) add("jitter", duration(c.jitter));
  if (c.reorder_hold != def.reorder_hold) add("reorder-hold", duration(c.reorder_hold));
}

}  // namespace

Result<FaultInjectorConfig, std::string> parse_fault_spec(std::string_view spec,
                                                          const FaultInjectorConfig& base) {
  if (spec.empty()) return Err{std::string("empty impairment (e.g. loss=2%,reorder=5%)")};
  FaultInjectorConfig cfg = base;
  // Which keys each direction got, to refuse repeats: bit k of seen[dir].
  uint32_t seen[2] = {0, 0};
  bool seed_seen = false;
  size_t start = 0;
  while (start <= spec.size()) {
    const size_t comma = std::min(spec.find(',', start), spec.size());
    const std::string_view item = spec.substr(start, comma - start);
    start = comma + 1;
    const size_t eq = item.find('=');
    if (item.empty() || eq == std::string_view::npos || eq == 0 || eq + 1 == item.size())
      return Err{fmt::format("'{}': expected KEY=VALUE (e.g. loss=2%)", item)};
    std::string_view key = item.substr(0, eq);
    const std::string_view value = item.substr(eq + 1);
    if (key == "seed") {
      uint64_t s = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), s);
      if (ec != std::errc() || p != value.data() + value.size())
        return Err{fmt::format("'{}': the seed must be an unsigned integer", item)};
      if (seed_seen) return Err{fmt::format("'{}': seed given twice", item)};
      seed_seen = true;
      cfg.seed = s;
      continue;
    }
    bool rx = true, tx = true;
    if (key.starts_with("rx.")) {
      tx = false;
      key.remove_prefix(3);
    } else if (key.starts_with("tx.")) {
      rx = false;
      key.remove_prefix(3);
    }
    static constexpr std::string_view kKeys[] = {"loss",  "dup",    "reorder",     "corrupt",
                                                 "delay", "jitter", "reorder-hold"};
    size_t k = 0;
    while (k < std::size(kKeys) && kKeys[k] != key) ++k;
    if (k == std::size(kKeys))
      return Err{
          fmt::format("'{}': unknown key '{}' (known: loss, dup, reorder, corrupt, delay, jitter, "
                      "reorder-hold, seed; prefix rx. or tx. for one direction)",
                      item, key)};
    const uint32_t bit = 1u << k;
    if ((rx && (seen[0] & bit)) || (tx && (seen[1] & bit)))
      return Err{fmt::format("'{}': {} given twice for the same direction", item, key)};
    if (rx) seen[0] |= bit;
    if (tx) seen[1] |= bit;
    auto set = [&](auto member, auto v) {
      if (rx) cfg.rx.*member = v;
      if (tx) cfg.tx.*member = v;
    };
    if (k < 4) {
      auto p = parse_percent(item, value);
      if (!p) return Err{p.error()};
      static constexpr double FaultConfig::*kProb[] = {&FaultConfig::drop, &FaultConfig::duplicate,
                                                       &FaultConfig::reorder,
                                                       &FaultConfig::corrupt};
      set(kProb[k], *p);
    } else {
      auto d = parse_duration(item, value);
      if (!d) return Err{d.error()};
      static constexpr Duration FaultConfig::*kDur[] = {&FaultConfig::delay, &FaultConfig::jitter,
                                                        &FaultConfig::reorder_hold};
      set(kDur[k - 4], *d);
    }
  }
  return cfg;
}

std::string format_fault_spec(const FaultInjectorConfig& cfg) {
  std::string out;
  if (cfg.rx == cfg.tx) {
    format_dir(cfg.rx, "", out);
  } else {
    format_dir(cfg.rx, "rx.", out);
    format_dir(cfg.tx, "tx.", out);
  }
  return out.empty() ? "none" : out;
}

}  // namespace ustack::dev
