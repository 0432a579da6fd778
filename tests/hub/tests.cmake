# `tritium pull` and --model ORG/NAME against a fake hub on the loopback (no network).
add_test(NAME hub_pull
         COMMAND ${CMAKE_BINARY_DIR}/.venv/bin/python ${CMAKE_CURRENT_LIST_DIR}/test_pull.py
                 --tritium $<TARGET_FILE:tritium_cli> --source ${CMAKE_SOURCE_DIR})
set_tests_properties(hub_pull PROPERTIES LABELS unit TIMEOUT 300)
