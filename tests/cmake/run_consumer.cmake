# Script mode: install, configure the consumer against the prefix, build, run.
file(REMOVE_RECURSE ${PREFIX} ${CONSUMER_BUILD})
foreach(step
    "${CMAKE_COMMAND};--install;${BUILD_DIR};--prefix;${PREFIX}"
    "${CMAKE_COMMAND};-S;${SOURCE};-B;${CONSUMER_BUILD};-G;${GENERATOR};-DCMAKE_PREFIX_PATH=${PREFIX}"
    "${CMAKE_COMMAND};--build;${CONSUMER_BUILD}"
    "${CONSUMER_BUILD}/consumer")
  execute_process(COMMAND ${step} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message("${out}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "step failed (${rc}): ${step}\n${err}")
  endif()
endforeach()
