# Helpers every part uses, so that flags, include paths and install rules are
# the same for all of them and stay target-scoped.
include(GNUInstallDirs)

# syncscope_apply_defaults(<target>): warnings (errors with SYNCSCOPE_WERROR).
function(syncscope_apply_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic
    -Wno-missing-field-initializers $<$<BOOL:${SYNCSCOPE_WERROR}>:-Werror>)
endfunction()

# syncscope_use_library_pch(<target>): the target's sources start from one
# precompiled header of the standard headers the libraries share, built once
# per build directory (syncscope_library_pch) with the libraries' flags. Most
# of a library file's compile time is spent parsing those headers: on 60
# files of http, retain and task, -O2 -g1, 111.8 s without the precompiled
# header and 66.7 s with it. Only for targets compiled with exactly the
# libraries' default flags (syncscope_apply_defaults, position-independent)
# or options that do not change what the headers declare (the lab's
# -fno-omit-frame-pointer): GCC refuses a precompiled header built with
# options that matter (-Winvalid-pch, an error with SYNCSCOPE_WERROR), and
# the LD_PRELOAD objects, built without exceptions and RTTI, go without. The header adds declarations only, no static initializer
# (no <iostream>). SYNCSCOPE_PCH=OFF compiles every file alone, which is how
# a missing #include shows.
option(SYNCSCOPE_PCH "Precompile the standard headers the libraries share" ON)
function(syncscope_use_library_pch target)
  if(NOT SYNCSCOPE_PCH)
    return()
  endif()
  if(NOT TARGET syncscope_library_pch)
    add_library(syncscope_library_pch OBJECT EXCLUDE_FROM_ALL
      ${PROJECT_SOURCE_DIR}/src/common/library_pch_anchor.cc)
    syncscope_apply_defaults(syncscope_library_pch)
    target_precompile_headers(syncscope_library_pch PRIVATE
      <algorithm> <atomic> <chrono> <cstddef> <cstdint> <cstdio> <cstdlib> <cstring>
      <functional> <map> <memory> <mutex> <optional> <string> <string_view> <thread>
      <unordered_map> <utility> <vector>)
  endif()
  target_precompile_headers(${target} REUSE_FROM syncscope_library_pch)
endfunction()

# syncscope_add_library(<part> [SOURCES ...] [DEPS ...] [PRIVATE_DEPS ...])
# Creates the static library syncscope_<part>, its alias syncscope::<part>,
# public include paths and install/export rules. With no SOURCES the library
# is INTERFACE (header-only).
function(syncscope_add_library part)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  set(target syncscope_${part})
  if(ARG_SOURCES)
    add_library(${target} STATIC ${ARG_SOURCES})
    target_include_directories(${target}
      PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
             $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
      PRIVATE ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(${target} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
    syncscope_apply_defaults(${target})
    syncscope_use_library_pch(${target})
  else()
    add_library(${target} INTERFACE)
    target_include_directories(${target}
      INTERFACE $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
                $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
    target_link_libraries(${target} INTERFACE ${ARG_DEPS})
  endif()
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${part})
  add_library(syncscope::${part} ALIAS ${target})
  install(TARGETS ${target} EXPORT syncscope-targets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
endfunction()
