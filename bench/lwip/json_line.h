// bench/lwip/json_line.h — builds the one JSON line a workload program prints (flat keys and
// one level of nested objects; keys and strings are ours, so no escaping is needed).
#pragma once

#include <cmath>
#include <cstdio>
#include <string>

namespace lwip_bench {

class JsonLine {
 public:
  JsonLine& num(const char* key, double v) {
    char buf[64];
    if (!std::isfinite(v)) v = 0;
    if (v == std::floor(v) && std::fabs(v) < 1e15)
      std::snprintf(buf, sizeof buf, "%.0f", v);
    else
      std::snprintf(buf, sizeof buf, "%.6g", v);
    return raw(key, buf);
  }
  JsonLine& str(const char* key, const std::string& v) { return raw(key, "\"" + v + "\""); }
  JsonLine& begin(const char* key) {
    key_(key);
    s_ += "{";
    first_ = true;
    return *this;
  }
  JsonLine& end() {
    s_ += "}";
    first_ = false;
    return *this;
  }
  std::string text() const { return s_ + "}"; }

 private:
  JsonLine& raw(const char* key, const std::string& v) {
    key_(key);
    s_ += v;
    return *this;
  }
  void key_(const char* key) {
    if (!first_) s_ += ", ";
    first_ = false;
    s_ += "\"";
    s_ += key;
    s_ += "\": ";
  }
  std::string s_ = "{";
  bool first_ = true;
};

}  // namespace lwip_bench
