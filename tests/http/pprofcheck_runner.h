// Runs tools/pprofcheck (pprof's own profile package: Parse + CheckValid,
// every Location mapped, Go's sample/period types for the kind) on profile
// bytes, for the fleet tests.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "http/start_server.h"

namespace syncscope::http::testing {

// build/bin/pprofcheck, or "" when it was not built.
std::string pprofcheck_path();

// Writes `bytes` to a temporary file and runs
// `pprofcheck -kind KIND <extra...> FILE`; exit_code 0 = valid.
test_support::CommandResult pprofcheck(const std::string& bytes, const std::string& kind,
                         const std::vector<std::string>& extra = {});

// The value pprofcheck printed for -sum-function NAME ("sum NAME V unit").
std::optional<std::int64_t> pprofcheck_sum(const test_support::CommandResult& r, const std::string& name);

}  // namespace syncscope::http::testing
