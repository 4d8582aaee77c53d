// The reports of syncscope-core that the retention API does not already
// format: summary (used/free/reachable/unreachable, by type or size class),
// leaks (unreachable blocks grouped by label, with a sample address) and the
// module list with each module's symbol status. Each as text and as JSON.
#pragma once

#include <string>

#include "retain/core_snapshot.h"

namespace syncscope::core_tool {

std::string summary_text(const retain::internal::CoreSnapshot& s, std::size_t top_groups);
std::string summary_json(const retain::internal::CoreSnapshot& s, std::size_t top_groups);
std::string leaks_text(const retain::internal::CoreSnapshot& s, std::size_t top_groups);
std::string leaks_json(const retain::internal::CoreSnapshot& s, std::size_t top_groups);
// One line per module whose symbols are not used ("" when all are).
std::string module_warnings(const retain::internal::CoreSnapshot& s);

}  // namespace syncscope::core_tool
