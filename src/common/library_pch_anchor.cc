// The one source file of syncscope_library_pch (cmake/SyncscopeTargets.cmake,
// syncscope_use_library_pch): the target exists to build the precompiled
// header the libraries reuse, and CMake builds a target's precompiled header
// only for a target with a source of its language. Nothing links it.
namespace syncscope::internal {
[[maybe_unused]] constexpr int kLibraryPchAnchor = 0;
}  // namespace syncscope::internal
