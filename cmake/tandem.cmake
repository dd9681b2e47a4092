# tandem_component(name DEPS ...): a static library from src/<name>/*.cc.
# Sources are globbed so adding a file to a component needs no CMake edit.
function(tandem_component name)
  cmake_parse_arguments(ARG "" "" "DEPS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/${name}/*.cc)
  add_library(tandem_${name} STATIC ${srcs})
  target_include_directories(tandem_${name} PUBLIC ${CMAKE_SOURCE_DIR}/src)
  target_link_libraries(tandem_${name} PUBLIC ${ARG_DEPS})
endfunction()

# tandem_tests(name): tests/<name>/*_test.cc become <name>_unit_tests
# (label unit: no network, no services) and tests/<name>/*_it.cc become
# <name>_integration_tests (label integration: real ES / Kafka, loopback).
# Extra shared helpers live in tests/support.
function(tandem_tests name)
  file(GLOB unit CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/${name}/*_test.cc)
  file(GLOB integ CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/${name}/*_it.cc)
  if(unit)
    add_executable(${name}_unit_tests ${unit})
    target_include_directories(${name}_unit_tests PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/tests)
    target_link_libraries(${name}_unit_tests PRIVATE tandem_${name} tandem_test_support GTest::gtest GTest::gtest_main
                          GTest::gmock nlohmann_json::nlohmann_json)
    add_test(NAME ${name}_unit COMMAND ${name}_unit_tests)
    add_dependencies(unit_tests ${name}_unit_tests)
    set_tests_properties(${name}_unit PROPERTIES LABELS unit TIMEOUT 600)
  endif()
  if(integ AND NOT TANDEM_UNIT_ONLY)
    add_executable(${name}_integration_tests ${integ})
    target_include_directories(${name}_integration_tests PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/tests)
    target_link_libraries(${name}_integration_tests PRIVATE tandem_${name} tandem_test_support GTest::gtest GTest::gtest_main
                          GTest::gmock nlohmann_json::nlohmann_json)
    add_test(NAME ${name}_integration COMMAND ${name}_integration_tests)
    set_tests_properties(${name}_integration PROPERTIES LABELS integration TIMEOUT 1800)
  endif()
endfunction()
