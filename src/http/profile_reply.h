// The answer every /debug/pprof profile endpoint gives once its parameters
// are parsed (Go net/http/pprof's contract): with ?seconds=N a delta profile
// over N seconds, taken in one of the server's long-request slots; else the
// current profile, as text for debug > 0 and as a named binary profile for
// debug=0.
#pragma once

#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "http/canceller.h"
#include "http/message.h"
#include "http/params.h"
#include "http/server_context.h"

namespace syncscope::http::internal {

using ProfileNow = absl::FunctionRef<absl::StatusOr<std::string>(int debug)>;
using ProfileDelta = absl::FunctionRef<absl::StatusOr<std::string>(int seconds, const Canceller& canceller)>;

// A profile with a delta form (heap, allocs, mutex, block).
void reply_pprof(Response& res, ServerContext& ctx, const ProfileParams& params, std::string_view name,
                 ProfileNow now, ProfileDelta delta);

// A profile without one (goroutine, goroutineleak): seconds is a 400.
void reply_pprof(Response& res, const ProfileParams& params, std::string_view name, ProfileNow now);

}  // namespace syncscope::http::internal
