# Sanitizer builds. These flags are deliberately directory-wide (not
# target-scoped): every object in the process, tests included, must be
# instrumented or TSan reports false races and ASan misses bugs. -g1 (line
# tables, whatever the build type) is what a sanitizer report needs to name
# function, file and line.
if(SYNCSCOPE_SANITIZE STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer -g1)
  add_link_options(-fsanitize=thread)
  add_compile_definitions(SYNCSCOPE_TSAN=1)
elseif(SYNCSCOPE_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=undefined
                      -fno-omit-frame-pointer -g1)
  add_link_options(-fsanitize=address,undefined)
  add_compile_definitions(SYNCSCOPE_ASAN=1)
elseif(SYNCSCOPE_SANITIZE)
  message(FATAL_ERROR "SYNCSCOPE_SANITIZE must be 'thread' or 'address', got '${SYNCSCOPE_SANITIZE}'")
endif()
