// dev/fault_spec.h — the text form of a FaultInjectorConfig, as `ustack host --impair SPEC`
// takes it (netem's knobs, written as one comma-separated word).
//
//   SPEC  := ITEM ("," ITEM)*
//   ITEM  := [DIR "."] KEY "=" VALUE | "seed=" N
//   DIR   := "rx" | "tx"          (no DIR: both directions)
//   KEY   := "loss" | "dup" | "reorder" | "corrupt"    VALUE: a percentage, "2%", "0.1%"
//          | "delay" | "jitter" | "reorder-hold"       VALUE: a duration, "1ms", "250us", "2s"
//
// Examples: "loss=2%", "loss=2%,reorder=5%", "rx.loss=1%,tx.delay=1ms,jitter=200us",
// "dup=1%,corrupt=0.1%,seed=7". Percentages must carry '%' (a bare "2" could mean 2 % or 200 %)
// and lie in [0, 100]; durations need a unit (ns, us, ms, s) and may have a fraction ("1.5ms").
// A key given twice for the same direction is an error. Errors are one sentence naming the
// item.
#pragma once

#include <string>
#include <string_view>

#include "ustack/base/result.h"
#include "ustack/dev/fault_injector.h"

namespace ustack::dev {

// Keys not given keep `base`'s values (FaultInjectorConfig{} by default); so does the seed.
Result<FaultInjectorConfig, std::string> parse_fault_spec(std::string_view spec,
                                                          const FaultInjectorConfig& base = {});
// The non-default settings in SPEC syntax ("loss=2%,reorder=5%" when rx and tx agree, else
// with rx./tx. prefixes); "none" when nothing is impaired. parse_fault_spec reads it back.
std::string format_fault_spec(const FaultInjectorConfig& cfg);

}  // namespace ustack::dev
