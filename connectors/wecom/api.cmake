# connectors/wecom/api.cmake: the WeCom server API client (tokens, typed calls, quotas) and its
# pure sliding-window limiter. Included from connectors/wecom/CMakeLists.txt.
add_library(wg_wecom_api STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/api.c
  ${CMAKE_CURRENT_SOURCE_DIR}/calls.c
  ${CMAKE_CURRENT_SOURCE_DIR}/ratelimit.c
)
target_link_libraries(wg_wecom_api PUBLIC wg_http wg_crypto PkgConfig::JANSSON
                      PkgConfig::LIBEVENT)
