# Helpers every part uses, so that flags, include paths and install rules are
# the same for all of them and stay target-scoped.
include(GNUInstallDirs)

# syncscope_apply_defaults(<target>): warnings (errors with SYNCSCOPE_WERROR).
function(syncscope_apply_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic
    -Wno-missing-field-initializers $<$<BOOL:${SYNCSCOPE_WERROR}>:-Werror>)
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
