# Installs the built tree into a fresh prefix, then configures, builds and runs the consumer:
# the core links neither libcrypt nor libpam, the components link theirs, and a component the
# package does not have fails find_package.
file(REMOVE_RECURSE ${WORK_DIR})
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "failed: ${ARGN}\n${out}")
  endif()
endfunction()
run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK_DIR}/prefix)

# No package has a component by this name.
execute_process(COMMAND ${CMAKE_COMMAND} -S ${CONSUMER_DIR} -B ${WORK_DIR}/build-nonesuch
    -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DCMAKE_CXX_COMPILER=${CXX} -DPOP3_CONSUMER_EXTRA_COMPONENT=nonesuch
  RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(result EQUAL 0 OR NOT out MATCHES "no component nonesuch in this package")
  message(FATAL_ERROR "find_package(pop3 COMPONENTS nonesuch) did not fail as it should:\n${out}")
endif()

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
file(MAKE_DIRECTORY ${WORK_DIR}/auth)
run(${WORK_DIR}/build/consumer_auth ${WORK_DIR}/auth)
run(${WORK_DIR}/build/consumer_tls)

# What each executable was linked with: the core pulls in no library of a component.
find_program(READELF readelf REQUIRED)
foreach(program IN ITEMS consumer consumer_auth consumer_tls)
  execute_process(COMMAND ${READELF} --dynamic ${WORK_DIR}/build/${program}
    OUTPUT_VARIABLE ${program}_dynamic COMMAND_ERROR_IS_FATAL ANY)
endforeach()
# Each component's executable needs its library; the core alone needs none of them.
foreach(needed IN ITEMS consumer_auth:libcrypt consumer_auth:libpam consumer_tls:libssl)
  string(REPLACE ":" ";" needed ${needed})
  list(GET needed 0 program)
  list(GET needed 1 library)
  if(consumer_dynamic MATCHES "\\(NEEDED\\)[^\n]*\\[${library}\\.so")
    message(FATAL_ERROR "pop3::pop3 alone linked ${library}:\n${consumer_dynamic}")
  endif()
  if(NOT ${program}_dynamic MATCHES "\\(NEEDED\\)[^\n]*\\[${library}\\.so")
    message(FATAL_ERROR "the component of ${program} did not link ${library}:\n${${program}_dynamic}")
  endif()
endforeach()
