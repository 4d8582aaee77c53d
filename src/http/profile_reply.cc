#include "http/profile_reply.h"

#include <string>
#include <utility>

#include "http/responses.h"

namespace syncscope::http::internal {

void reply_pprof(Response& res, ServerContext& ctx, const ProfileParams& params, std::string_view name,
                 ProfileNow now, ProfileDelta delta) {
  if (params.seconds) {
    LongRequestSlot slot(ctx);
    if (!slot.ok()) return reply_error(res, 503, "too many long-running requests; retry later");
    absl::StatusOr<std::string> prof = delta(*params.seconds, ctx.canceller);
    if (!prof.ok()) return reply_status(res, prof.status());
    return reply_profile(res, *std::move(prof), name, /*delta=*/true);
  }
  reply_pprof(res, params, name, now);
}

void reply_pprof(Response& res, const ProfileParams& params, std::string_view name, ProfileNow now) {
  if (params.seconds) return reply_error(res, 400, std::string(name) + " profile does not support seconds");
  absl::StatusOr<std::string> prof = now(params.debug);
  if (!prof.ok()) return reply_status(res, prof.status());
  if (params.debug > 0) return reply_text(res, *std::move(prof));
  reply_profile(res, *std::move(prof), name, /*delta=*/false);
}

}  // namespace syncscope::http::internal
