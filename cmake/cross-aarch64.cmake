# cross-aarch64.cmake: what `kiln compile --target aarch64-linux-gnu` needs,
# built beside the host pieces and embedded into kiln the same way:
#   kernels-aarch64.bc      the kernels (KERNEL_SRC) as aarch64 bitcode, by
#                           clang-19 against the cross glibc headers
#                           (libc6-dev-arm64-cross);
#   libkilnrt-aarch64.a     the service runtime (RT_SRC) by
#                           aarch64-linux-gnu-gcc, against the arm64 libevent
#                           of the sysroot that scripts/install-deps.sh
#                           unpacks and the multiarch jansson headers.
# Each piece is built only when what it needs is installed; a missing one is
# embedded empty, and kiln then refuses that target with exit 3 naming the
# packages (codegen.c, link.c). Included from CMakeLists.txt after the kernel
# and runtime blocks, whose KERNEL_SRC, KERNEL_CFLAGS, KERNEL_HDR and RT_SRC
# it reuses; the runtime's flags mirror target kilnrt's. Sets
# KILN_KERNELS_AARCH64_BC and KILN_RT_AARCH64_A (the files, or "") for the
# embedding objects' OBJECT_DEPENDS.

option(KILN_CROSS_AARCH64 "build the aarch64 kernels and runtime when their tools are installed" ON)
set(KILN_AARCH64_SYSROOT /opt/kiln/sysroot-aarch64 CACHE PATH
    "arm64 libevent (headers and .a files) for --target aarch64-linux-gnu; scripts/install-deps.sh")
set(KILN_AARCH64_LIBDIR /usr/lib/aarch64-linux-gnu CACHE PATH
    "multiarch arm64 libraries (libjansson.a from libjansson-dev:arm64)")
find_program(AARCH64_CC aarch64-linux-gnu-gcc)
find_program(AARCH64_AR aarch64-linux-gnu-ar)
find_file(AARCH64_LIBC_STDIO stdio.h PATHS /usr/aarch64-linux-gnu/include NO_DEFAULT_PATH)
find_file(AARCH64_JANSSON_A libjansson.a PATHS ${KILN_AARCH64_LIBDIR} NO_DEFAULT_PATH)
find_file(AARCH64_EVENT_CORE_A libevent_core.a PATHS ${KILN_AARCH64_SYSROOT}/usr/lib/aarch64-linux-gnu
          NO_DEFAULT_PATH)
find_path(JANSSON_INCLUDE jansson.h)

# --- kernel bitcode --------------------------------------------------------
# Empty unless built: embed_kernels.S always has the symbols.
set(KILN_KERNELS_AARCH64_INCBIN "")
set(KILN_KERNELS_AARCH64_BC "")
if(KILN_CROSS_AARCH64 AND AARCH64_LIBC_STDIO)
  get_filename_component(AARCH64_LIBC_INCLUDE ${AARCH64_LIBC_STDIO} DIRECTORY)
  set(KERNEL_BCS_AARCH64)
  foreach(src ${KERNEL_SRC})
    get_filename_component(stem ${src} NAME_WE)
    set(bc ${CMAKE_BINARY_DIR}/kernels-aarch64/${stem}.bc)
    add_custom_command(
      OUTPUT ${bc}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/kernels-aarch64
      COMMAND ${CLANG19} --target=aarch64-linux-gnu -isystem ${AARCH64_LIBC_INCLUDE}
              ${KERNEL_CFLAGS} -emit-llvm -c ${src} -o ${bc}
      DEPENDS ${src} ${KERNEL_HDR}
      COMMENT "clang-19 --target=aarch64-linux-gnu -emit-llvm ${stem}.c")
    list(APPEND KERNEL_BCS_AARCH64 ${bc})
  endforeach()
  add_custom_command(
    OUTPUT ${CMAKE_BINARY_DIR}/kernels-aarch64.bc
    COMMAND ${LLVM_LINK19} ${KERNEL_BCS_AARCH64} -o ${CMAKE_BINARY_DIR}/kernels-aarch64.bc
    DEPENDS ${KERNEL_BCS_AARCH64}
    COMMENT "llvm-link kernels-aarch64.bc")
  set(KILN_KERNELS_AARCH64_BC ${CMAKE_BINARY_DIR}/kernels-aarch64.bc)
  set(KILN_KERNELS_AARCH64_INCBIN ".incbin \"${CMAKE_BINARY_DIR}/kernels-aarch64.bc\"")
  message(STATUS "aarch64 kernels: yes")
else()
  message(STATUS "aarch64 kernels: no (KILN_CROSS_AARCH64=OFF, or libc6-dev-arm64-cross "
                 "missing: scripts/install-deps.sh)")
endif()

# --- service runtime -------------------------------------------------------
set(KILN_RT_AARCH64_INCBIN "")
set(KILN_RT_AARCH64_A "")
if(KILN_CROSS_AARCH64 AND AARCH64_CC AND AARCH64_AR AND AARCH64_JANSSON_A AND AARCH64_EVENT_CORE_A AND JANSSON_INCLUDE)
  # jansson's two headers are Multi-Arch: same (identical on every
  # architecture) but live in /usr/include beside the host's libc headers,
  # so they are copied into a directory of their own.
  set(RT_AARCH64_DIR ${CMAKE_BINARY_DIR}/kilnrt-aarch64)
  file(COPY ${JANSSON_INCLUDE}/jansson.h ${JANSSON_INCLUDE}/jansson_config.h
       DESTINATION ${RT_AARCH64_DIR}/include)
  string(TOUPPER "${CMAKE_BUILD_TYPE}" cfg)
  separate_arguments(RT_AARCH64_CFG_FLAGS UNIX_COMMAND "${CMAKE_C_FLAGS_${cfg}}")
  file(GLOB RT_HDR CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/runtime/service/*.h
       ${CMAKE_SOURCE_DIR}/runtime/*.h ${CMAKE_SOURCE_DIR}/runtime/*.def)
  set(RT_AARCH64_OBJS)
  foreach(src ${RT_SRC})
    get_filename_component(stem ${src} NAME_WE)
    set(obj ${RT_AARCH64_DIR}/${stem}.o)
    add_custom_command(
      OUTPUT ${obj}
      COMMAND ${AARCH64_CC} -std=c11 ${RT_AARCH64_CFG_FLAGS} ${KILN_WARNINGS} -O2
              -ffile-prefix-map=${CMAKE_SOURCE_DIR}/=
              -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE "-DKILN_VERSION=\"${PROJECT_VERSION}\""
              -I${CMAKE_SOURCE_DIR}/runtime -I${CMAKE_SOURCE_DIR}/runtime/service
              -isystem ${KILN_AARCH64_SYSROOT}/usr/include -isystem ${RT_AARCH64_DIR}/include
              -c ${CMAKE_SOURCE_DIR}/${src} -o ${obj}
      DEPENDS ${CMAKE_SOURCE_DIR}/${src} ${RT_HDR}
      COMMENT "aarch64-linux-gnu-gcc ${stem}.c"
      VERBATIM)
    list(APPEND RT_AARCH64_OBJS ${obj})
  endforeach()
  # D: no timestamps, uids or modes in the archive.
  add_custom_command(
    OUTPUT ${CMAKE_BINARY_DIR}/libkilnrt-aarch64.a
    COMMAND ${CMAKE_COMMAND} -E rm -f ${CMAKE_BINARY_DIR}/libkilnrt-aarch64.a
    COMMAND ${AARCH64_AR} rcsD ${CMAKE_BINARY_DIR}/libkilnrt-aarch64.a ${RT_AARCH64_OBJS}
    DEPENDS ${RT_AARCH64_OBJS}
    COMMENT "aarch64-linux-gnu-ar libkilnrt-aarch64.a"
    VERBATIM)
  set(KILN_RT_AARCH64_A ${CMAKE_BINARY_DIR}/libkilnrt-aarch64.a)
  set(KILN_RT_AARCH64_INCBIN ".incbin \"${CMAKE_BINARY_DIR}/libkilnrt-aarch64.a\"")
  message(STATUS "aarch64 runtime: yes")
else()
  message(STATUS "aarch64 runtime: no (KILN_CROSS_AARCH64=OFF, or missing gcc-aarch64-linux-gnu, "
                 "libjansson-dev:arm64 or ${KILN_AARCH64_SYSROOT}: scripts/install-deps.sh)")
endif()
