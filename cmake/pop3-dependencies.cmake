# The system libraries behind the components: libxcrypt for pop3::crypt, Linux-PAM for
# pop3::pam, OpenSSL 3 for pop3::tls. The first two ship no CMake package and CMake 3.25 has
# no module for them, so both are found by header and library; OpenSSL by CMake's FindOpenSSL.
# Each is wrapped in an imported target, pop3::libcrypt, pop3::libpam or pop3::libtls, which
# the component's exported target links. The build (CMakeLists.txt) and the installed package
# (pop3-config.cmake) include this file, so both find them alike.
#
#   pop3_find_system_library(crypt)
#   if(TARGET pop3::libcrypt) ...
include_guard(GLOBAL)

function(pop3_find_system_library component)
  if(TARGET pop3::lib${component})
    return()
  endif()
  if(component STREQUAL "tls")
    find_package(OpenSSL 3.0 QUIET COMPONENTS SSL)  # libssl-dev
    if(OpenSSL_FOUND)
      add_library(pop3::libtls INTERFACE IMPORTED)
      set_target_properties(pop3::libtls PROPERTIES INTERFACE_LINK_LIBRARIES OpenSSL::SSL)
    endif()
    return()
  endif()
  if(component STREQUAL "crypt")
    set(header crypt.h)  # libcrypt-dev: crypt_rn, crypt_gensalt_rn, crypt_checksalt
  elseif(component STREQUAL "pam")
    set(header security/pam_appl.h)  # libpam0g-dev
  else()
    message(FATAL_ERROR "pop3: no system library for component ${component}")
  endif()
  string(TOUPPER ${component} upper)
  find_path(POP3_${upper}_INCLUDE_DIR ${header})
  find_library(POP3_${upper}_LIBRARY ${component})
  if(POP3_${upper}_INCLUDE_DIR AND POP3_${upper}_LIBRARY)
    add_library(pop3::lib${component} UNKNOWN IMPORTED)
    set_target_properties(pop3::lib${component} PROPERTIES
      IMPORTED_LOCATION ${POP3_${upper}_LIBRARY}
      INTERFACE_INCLUDE_DIRECTORIES ${POP3_${upper}_INCLUDE_DIR})
  endif()
endfunction()
