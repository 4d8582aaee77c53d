# find_package(syncscope) support: exported targets, config and version files.
include(CMakePackageConfigHelpers)
set(SYNCSCOPE_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/syncscope)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/syncscope
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT syncscope-targets NAMESPACE syncscope::
        DESTINATION ${SYNCSCOPE_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/syncscope-config.cmake.in
  ${PROJECT_BINARY_DIR}/syncscope-config.cmake INSTALL_DESTINATION ${SYNCSCOPE_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/syncscope-config-version.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/syncscope-config.cmake
              ${PROJECT_BINARY_DIR}/syncscope-config-version.cmake
        DESTINATION ${SYNCSCOPE_CMAKE_DIR})
