# man/popa3d.8 renders without a single warning: groff's mdoc lint (-ww, every warning), then
# man(1) as an admin would read it. Run as: cmake -DMAN_PAGE=<file> -P man_page_test.cmake
if(NOT DEFINED MAN_PAGE OR NOT EXISTS "${MAN_PAGE}")
  message(FATAL_ERROR "man_page_test: MAN_PAGE is not set or does not exist: ${MAN_PAGE}")
endif()

find_program(GROFF groff REQUIRED)
execute_process(COMMAND ${GROFF} -mandoc -z -ww "${MAN_PAGE}"
  RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT status EQUAL 0 OR NOT out STREQUAL "" OR NOT err STREQUAL "")
  message(FATAL_ERROR "groff -mandoc -z -ww ${MAN_PAGE} (status ${status}):\n${out}${err}")
endif()

find_program(MAN man)
if(MAN)
  set(ENV{MANWIDTH} 80)
  set(ENV{MAN_KEEP_FORMATTING} "")
  execute_process(COMMAND ${MAN} --warnings=w -E UTF-8 -l "${MAN_PAGE}"
    RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT status EQUAL 0 OR NOT err STREQUAL "")
    message(FATAL_ERROR "man -l ${MAN_PAGE} (status ${status}):\n${err}")
  endif()
  # Every section the page promises is there once rendered.
  foreach(section NAME SYNOPSIS DESCRIPTION COMMANDS "USERS FILE" LIMITS "SOCKET ACTIVATION" SIGNALS FILES EXAMPLES "SEE ALSO" CAVEATS
                "SECURITY CONSIDERATIONS")
    string(FIND "${out}" "\n${section}\n" at)
    if(at EQUAL -1)
      message(FATAL_ERROR "man -l ${MAN_PAGE}: no ${section} section in the rendered page")
    endif()
  endforeach()
else()
  message(STATUS "man(1) not installed: only the groff check ran")
endif()
