# What `cmake --install` puts in place, for a game's build to consume tessera:
#   include/tessera/tessera.h, tessera.hpp
#   lib/libtessera.a (static: runtime, compute, model readers and shaders in one archive) or
#   lib/libtessera.so (shared: exports the C ABI only, see tessera.map)
#   lib/cmake/tessera/tesseraConfig.cmake + tesseraConfigVersion.cmake (imported target tessera::tessera)
#   lib/pkgconfig/tessera.pc
#   share/tessera/default.tsr (the default model; tessera_DEFAULT_MODEL, pkg-config's modeldir)
# Both kits are built. Each is an install component ("static", "shared"); TESSERA_SHARED picks the
# one a plain `cmake --install` installs, `--component static|shared` installs either.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

option(TESSERA_SHARED "Install the shared library (C ABI exports only) instead of the static one" OFF)

set(TESSERA_PACKAGE_DIR ${PROJECT_BINARY_DIR}/package)

# The static kit: one archive merged from the four static libraries.
set(tessera_archives $<TARGET_FILE:tessera> $<TARGET_FILE:tessera_compute> $<TARGET_FILE:tessera_model>
                     $<TARGET_FILE:tessera_shaders>)
set(tessera_static_lib ${TESSERA_PACKAGE_DIR}/static/libtessera.a)
add_custom_command(OUTPUT ${tessera_static_lib}
                   COMMAND ${CMAKE_COMMAND} -DAR=${CMAKE_AR} -DOUT=${tessera_static_lib} "-DIN=${tessera_archives}"
                           -P ${PROJECT_SOURCE_DIR}/cmake/MergeArchives.cmake
                   DEPENDS tessera tessera_compute tessera_model tessera_shaders ${PROJECT_SOURCE_DIR}/cmake/MergeArchives.cmake
                   COMMENT "Merging the static libraries into the installable libtessera.a" VERBATIM)
add_custom_target(tessera_static_package ALL DEPENDS ${tessera_static_lib})

# The shared kit.
add_library(tessera_shared SHARED $<TARGET_OBJECTS:tessera_runtime>)
target_link_libraries(tessera_shared PRIVATE tessera_compute ${CMAKE_DL_LIBS})
target_link_options(tessera_shared PRIVATE -Wl,--version-script=${PROJECT_SOURCE_DIR}/cmake/tessera.map
                    -Wl,--no-undefined)
set_target_properties(tessera_shared PROPERTIES OUTPUT_NAME tessera VERSION ${PROJECT_VERSION}
                      SOVERSION ${PROJECT_VERSION_MAJOR} LINK_DEPENDS ${PROJECT_SOURCE_DIR}/cmake/tessera.map
                      LIBRARY_OUTPUT_DIRECTORY ${TESSERA_PACKAGE_DIR}/shared)

# A C host links the static kit with the C compiler: name the C++ runtime it needs.
set(tessera_cxx_runtime ${CMAKE_CXX_IMPLICIT_LINK_LIBRARIES})
if(CMAKE_C_IMPLICIT_LINK_LIBRARIES)
  list(REMOVE_ITEM tessera_cxx_runtime ${CMAKE_C_IMPLICIT_LINK_LIBRARIES})
endif()
set(tessera_pc_extra_libs "")
foreach(lib ${CMAKE_DL_LIBS} ${tessera_cxx_runtime})
  string(APPEND tessera_pc_extra_libs " -l${lib}")
endforeach()

set(tessera_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/tessera)
set(tessera_pc_dir ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
# tessera.pc finds the prefix from its own place, so an installed tree can move.
file(RELATIVE_PATH tessera_pc_to_prefix /prefix/${tessera_pc_dir} /prefix)
string(REGEX REPLACE "/$" "" tessera_pc_to_prefix "${tessera_pc_to_prefix}")

# 0.x: a minor version may change the ABI, so only the same minor version is compatible.
write_basic_package_version_file(${TESSERA_PACKAGE_DIR}/tesseraConfigVersion.cmake VERSION ${PROJECT_VERSION}
                                 COMPATIBILITY SameMinorVersion)

foreach(kit static shared)
  set(TESSERA_KIT ${kit})
  if(kit STREQUAL "static")
    set(TESSERA_LIBRARY_FILE libtessera.a)
    set(tessera_pc_requires "spirv-cross-c-shared zlib")
    set(tessera_pc_libs "-L\${libdir} -ltessera${tessera_pc_extra_libs}")
  else()
    set(TESSERA_LIBRARY_FILE libtessera.so.${PROJECT_VERSION_MAJOR})
    set(tessera_pc_requires "")
    set(tessera_pc_libs "-L\${libdir} -ltessera")
  endif()
  set(TESSERA_CXX_RUNTIME ${tessera_cxx_runtime})
  set(TESSERA_INSTALL_LIBDIR ${CMAKE_INSTALL_LIBDIR})
  set(TESSERA_INSTALL_INCLUDEDIR ${CMAKE_INSTALL_INCLUDEDIR})
  set(TESSERA_INSTALL_DATADIR ${CMAKE_INSTALL_DATADIR})
  configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/tesseraConfig.cmake.in
                                ${TESSERA_PACKAGE_DIR}/${kit}/tesseraConfig.cmake
                                INSTALL_DESTINATION ${tessera_cmake_dir})
  configure_file(${PROJECT_SOURCE_DIR}/cmake/tessera.pc.in ${TESSERA_PACKAGE_DIR}/${kit}/tessera.pc @ONLY)

  if((kit STREQUAL "shared" AND TESSERA_SHARED) OR (kit STREQUAL "static" AND NOT TESSERA_SHARED))
    set(tessera_exclude "")
  else()
    set(tessera_exclude EXCLUDE_FROM_ALL)
  endif()
  install(FILES runtime/include/tessera/tessera.h runtime/include/tessera/tessera.hpp
          DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/tessera COMPONENT ${kit} ${tessera_exclude})
  install(FILES models/default.tsr DESTINATION ${CMAKE_INSTALL_DATADIR}/tessera COMPONENT ${kit} ${tessera_exclude})
  install(FILES ${TESSERA_PACKAGE_DIR}/${kit}/tesseraConfig.cmake ${TESSERA_PACKAGE_DIR}/tesseraConfigVersion.cmake
          DESTINATION ${tessera_cmake_dir} COMPONENT ${kit} ${tessera_exclude})
  install(FILES ${TESSERA_PACKAGE_DIR}/${kit}/tessera.pc DESTINATION ${tessera_pc_dir} COMPONENT ${kit}
          ${tessera_exclude})
endforeach()

if(TESSERA_SHARED)
  set(tessera_static_exclude EXCLUDE_FROM_ALL)
  set(tessera_shared_exclude "")
else()
  set(tessera_static_exclude "")
  set(tessera_shared_exclude EXCLUDE_FROM_ALL)
endif()
install(FILES ${tessera_static_lib} DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT static ${tessera_static_exclude})
install(TARGETS tessera_shared LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT shared ${tessera_shared_exclude})
