// The JSON document /debug/api/summary returns and the dashboard polls:
// {time_s, parts, process, heap|null, tasks|null, resident|[], maps|[],
//  top_sites|[], errors:{part: reason}}.
#pragma once

#include <string>

namespace syncscope::http::internal {

// `top_sites` limits the allocation-site table (0 = omit it).
std::string summary_json(int top_sites);
std::string maps_json();
std::string maps_text();

}  // namespace syncscope::http::internal
