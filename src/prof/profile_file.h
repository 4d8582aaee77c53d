// Writing a profile file safely: through a new owner-only (0600) temporary
// file beside the target, then a rename into place, so a reader never sees
// a half-written profile, and a file or symlink planted under the temporary
// name in a shared directory such as /tmp makes the write fail instead of
// redirecting it. Both profile writers (symbolized and address-only) use it.
#pragma once

#include <string>
#include <string_view>

namespace syncscope::prof::internal {

// Writes `bytes` to `path`. False with *error ("cannot write heap profile to
// PATH: why") on failure; the temporary file is removed then.
bool write_profile_file(const std::string& path, std::string_view bytes, std::string* error);

}  // namespace syncscope::prof::internal
