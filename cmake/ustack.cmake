# Helpers shared by every layer folder.

# ustack_layer(<name> [DEPS <libs...>] [PUBLIC_LIBS <libs...>])
# Builds src/ustack/<name>/*.cc into the static library ustack_<name>. Sources are globbed per
# folder (CONFIGURE_DEPENDS) so adding a file to a layer needs no CMake edit.
function(ustack_layer name)
  cmake_parse_arguments(L "" "" "DEPS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cc)
  file(GLOB hdrs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.h)
  if(srcs)
    add_library(ustack_${name} STATIC ${srcs} ${hdrs})
    target_include_directories(ustack_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(ustack_${name} PUBLIC ${L_DEPS})
  else()
    add_library(ustack_${name} INTERFACE)
    target_include_directories(ustack_${name} INTERFACE ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(ustack_${name} INTERFACE ${L_DEPS})
  endif()
  add_library(ustack::${name} ALIAS ustack_${name})
endfunction()

# ustack_unit_tests(<layer> DEPS <libs...>)
# Each tests/unit/<layer>/<name>_test.cc becomes its own GoogleTest binary unit_<layer>_<name>
# (small binaries: one broken file never blocks the others), tests labelled "unit".
function(ustack_unit_tests layer)
  cmake_parse_arguments(T "" "" "DEPS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*_test.cc)
  foreach(src ${srcs})
    get_filename_component(name ${src} NAME_WE)
    string(REGEX REPLACE "_test$" "" name ${name})
    set(exe unit_${layer}_${name})
    add_executable(${exe} ${src})
    target_link_libraries(${exe} PRIVATE ${T_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
    target_include_directories(${exe} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
    target_compile_definitions(${exe} PRIVATE USTACK_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
    gtest_discover_tests(${exe} TEST_PREFIX "unit.${layer}.${name}." PROPERTIES LABELS unit
                         DISCOVERY_TIMEOUT 30)
    # Per-layer lists of test binaries (tests/CMakeLists.txt builds some layers' under TSan).
    set_property(GLOBAL APPEND PROPERTY USTACK_UNIT_TESTS_${layer} ${exe})
  endforeach()
endfunction()
