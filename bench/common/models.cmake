# weft_models: the header-only helpers that examples/ and bench/ share
# (bench/common/: task_model.hpp, skynet.hpp, workloads.hpp), included as
# "common/<name>.hpp". Included from both examples/CMakeLists.txt and
# bench/CMakeLists.txt; whichever comes first defines the target.
if(NOT TARGET weft_models)
  add_library(weft_models INTERFACE)
  target_include_directories(weft_models INTERFACE ${CMAKE_CURRENT_LIST_DIR}/..)
  target_link_libraries(weft_models INTERFACE weft::weft)
endif()
