# Installs the built tree into a fresh prefix, then configures, builds and runs the consumer.
file(REMOVE_RECURSE ${WORK_DIR})
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "failed: ${ARGN}\n${out}")
  endif()
endfunction()
run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK_DIR}/prefix)
run(${CMAKE_COMMAND} -S ${CONSUMER_DIR} -B ${WORK_DIR}/build -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix
    -DCMAKE_CXX_COMPILER=${CXX})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
# Through a file: execute_process would turn the CR LF into LF.
execute_process(COMMAND ${WORK_DIR}/build/consumer INPUT_FILE /dev/null RESULT_VARIABLE result
  OUTPUT_FILE ${WORK_DIR}/consumer.out)
file(READ ${WORK_DIR}/consumer.out out_hex HEX)
if(NOT result EQUAL 0 OR NOT out_hex STREQUAL "2b4f4b0d0a")  # "+OK\r\n"
  message(FATAL_ERROR "the consumer did not greet and end at end of input: ${out_hex} (${result})")
endif()
