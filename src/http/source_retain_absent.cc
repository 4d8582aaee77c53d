// The retain adapter of a build without the retain part (the thread-sanitizer
// build, where the live scan's allocation hooks do not exist): every retain
// endpoint answers 501 naming the part. source_retain.cc otherwise.
#include "http/sources.h"
#include "http/sources_fleet.h"

namespace syncscope::http::internal {
namespace {

absl::Status no_retain() {
  return absl::UnimplementedError(
      "not implemented: this build of syncscope has no 'retain' part (link syncscope::retain)");
}

}  // namespace

absl::StatusOr<std::string> retention_profile() { return no_retain(); }
absl::StatusOr<std::string> retention_report(const RetainQuery&) { return no_retain(); }
absl::StatusOr<std::string> goroutineleak_profile(int) {
  return absl::UnimplementedError(
      "not implemented: the goroutineleak profile needs the 'retain' part (link syncscope::retain)");
}

PartsPresent parts_present() { return {.prof = true, .task = true, .retain = false, .map = true}; }

}  // namespace syncscope::http::internal
