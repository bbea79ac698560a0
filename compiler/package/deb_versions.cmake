# deb_versions.cmake: the Debian packages whose static libraries link into
# every service binary (link.c's -l flags, libc and libgcc), and their
# versions, recorded when kiln is built for the SBOM (manifest.c): once for
# the host and once for the aarch64 cross target when kiln has it. Each
# library is located as the link will find it and its owner asked of dpkg;
# without dpkg the versions read "unknown".

# deb_owner(PATH PKG VER): the package owning PATH and its version.
function(deb_owner path pkg_out ver_out)
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
  set(${pkg_out} "${pkg}" PARENT_SCOPE)
  set(${ver_out} "${ver}" PARENT_SCOPE)
endfunction()

# The host: every library as the C compiler finds it.
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
  deb_owner("${path}" KILN_DEB_${var}_PKG KILN_DEB_${var}_VERSION)
endforeach()

# aarch64 (cmake/cross-aarch64.cmake): libc and libgcc of the cross
# toolchain, multiarch jansson, and libevent from the sysroot, which dpkg
# does not own: install-deps.sh records its package and version there.
set(KILN_DEB_ARCH_AARCH64 arm64)
foreach(var LIBEVENT JANSSON LIBC LIBGCC)
  set(KILN_DEB_A64_${var}_PKG unknown)
  set(KILN_DEB_A64_${var}_VERSION unknown)
endforeach()
if(AARCH64_CC)
  execute_process(COMMAND ${AARCH64_CC} -print-file-name=libc.a OUTPUT_VARIABLE path
                  OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  deb_owner("${path}" KILN_DEB_A64_LIBC_PKG KILN_DEB_A64_LIBC_VERSION)
  execute_process(COMMAND ${AARCH64_CC} -print-file-name=libgcc.a OUTPUT_VARIABLE path
                  OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  deb_owner("${path}" KILN_DEB_A64_LIBGCC_PKG KILN_DEB_A64_LIBGCC_VERSION)
endif()
deb_owner("${KILN_AARCH64_LIBDIR}/libjansson.a" KILN_DEB_A64_JANSSON_PKG KILN_DEB_A64_JANSSON_VERSION)
if(EXISTS "${KILN_AARCH64_SYSROOT}/kiln-versions")
  file(STRINGS "${KILN_AARCH64_SYSROOT}/kiln-versions" lines REGEX "^libevent-dev ")
  if(lines)
    list(GET lines 0 line)
    string(REGEX REPLACE "^libevent-dev " "" KILN_DEB_A64_LIBEVENT_VERSION "${line}")
    set(KILN_DEB_A64_LIBEVENT_PKG libevent-dev)
  endif()
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/deb_versions.h.in ${GEN}/deb_versions.h @ONLY)
