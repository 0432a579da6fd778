add_test(NAME cli COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_cli.sh $<TARGET_FILE:tritium_cli> ${CMAKE_SOURCE_DIR})
set_tests_properties(cli PROPERTIES LABELS unit)
