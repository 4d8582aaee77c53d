# The fleet-scraper surface (issue 18): CPU profile, goroutineleak, strict
# pprof validity, the scrape configs of docs/fleet.md. Included from
# tests/http/CMakeLists.txt.

# All stages build http_fleet_test: the CPU and contention profiles are
# served by the most concurrent code we have (SIGPROF handlers, the server's
# threads, tasks). What needs the allocation hooks or the preload object,
# which sanitizer builds leave out, is compiled only where they exist
# (FleetLinked, FleetPreload, HeapLabels); there FleetDocs checks the clear
# refusal a scraper gets for the heap profiles instead.

# tools/pprofcheck: pprof's own profile package (Debian's
# golang-github-google-pprof-dev, source under /usr/share/gocode), built
# offline in GOPATH mode. Without Go or the package the tests that need it
# fail with a message naming scripts/install-deps.sh.
find_program(SYNCSCOPE_GO_PROGRAM go)
set(SYNCSCOPE_PPROF_GOPATH /usr/share/gocode)
set(pprofcheck_bin ${PROJECT_BINARY_DIR}/bin/pprofcheck)
if(SYNCSCOPE_GO_PROGRAM AND EXISTS ${SYNCSCOPE_PPROF_GOPATH}/src/github.com/google/pprof/profile)
  add_custom_command(
    OUTPUT ${pprofcheck_bin}
    COMMAND ${CMAKE_COMMAND} -E env GO111MODULE=off GOPATH=${SYNCSCOPE_PPROF_GOPATH}
            GOCACHE=${PROJECT_BINARY_DIR}/go-cache GOFLAGS= GOTOOLCHAIN=local
            ${SYNCSCOPE_GO_PROGRAM} build -o ${pprofcheck_bin} main.go
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}/tools/pprofcheck
    DEPENDS ${PROJECT_SOURCE_DIR}/tools/pprofcheck/main.go
    COMMENT "Building pprofcheck (pprof's profile package, offline)"
    VERBATIM)
  add_custom_target(pprofcheck ALL DEPENDS ${pprofcheck_bin})
else()
  message(WARNING "go or golang-github-google-pprof-dev missing: pprofcheck not built; "
                  "the fleet tests will fail (run scripts/install-deps.sh)")
endif()

syncscope_add_test(http_fleet_test
  SOURCES fleet_validity_test.cc cpu_profile_test.cc contention_profile_test.cc fleet_docs_test.cc
    heap_labels_test.cc pprofcheck_runner.cc
  LIBS syncscope_http_test_support nlohmann_json::nlohmann_json
  LABELS integration TIMEOUT 120)
if(TARGET pprofcheck)
  add_dependencies(http_fleet_test pprofcheck)
endif()
if(TARGET syncscope_preload)
  add_dependencies(http_fleet_test syncscope_preload)
endif()
