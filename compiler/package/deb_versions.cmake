# deb_versions.cmake: the Debian packages whose static libraries link into
# every service binary (link.c's -l flags, libc and libgcc), and their
# versions, recorded when kiln is built for the SBOM (sbom.c). Each library
# is located through the C compiler, as the link will find it, and its owner
# asked of dpkg; without dpkg the versions read "unknown".
set(KILN_DEB_LIBS event_core:LIBEVENT jansson:JANSSON c:LIBC gcc:LIBGCC)
execute_process(COMMAND dpkg --print-architecture OUTPUT_VARIABLE KILN_DEB_ARCH
                OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT KILN_DEB_ARCH)
  set(KILN_DEB_ARCH unknown)
endif()
foreach(pair ${KILN_DEB_LIBS})
  string(REPLACE ":" ";" pair "${pair}")
  list(GET pair 0 lib)
  list(GET pair 1 var)
  execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=lib${lib}.a
                  OUTPUT_VARIABLE path OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  set(pkg unknown)
  set(ver unknown)
  if(IS_ABSOLUTE "${path}" AND EXISTS "${path}")
    file(REAL_PATH "${path}" path)
    execute_process(COMMAND dpkg-query -S ${path} OUTPUT_VARIABLE owner
                    OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rc)
    if(rc EQUAL 0)
      # "libjansson-dev:amd64: /usr/lib/...": ask for that architecture's
      # instance (a multiarch system may have several).
      string(REGEX REPLACE ": .*" "" qualified "${owner}")
      string(REGEX REPLACE "[:,].*" "" pkg "${owner}")
      execute_process(COMMAND dpkg-query -W -f=\${Version}\n ${qualified} OUTPUT_VARIABLE ver
                      OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
      string(REGEX REPLACE "\n.*" "" ver "${ver}")
    endif()
  endif()
  set(KILN_DEB_${var}_PKG "${pkg}")
  set(KILN_DEB_${var}_VERSION "${ver}")
endforeach()
configure_file(${CMAKE_CURRENT_LIST_DIR}/deb_versions.h.in ${GEN}/deb_versions.h @ONLY)
