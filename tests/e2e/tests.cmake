# End-to-end text pipeline (real tokenizer + chat template, random tiny model).
add_test(NAME e2e_text_pipeline
         COMMAND ${TRITIUM_TEST_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_text_pipeline.py
                 --tritium $<TARGET_FILE:tritium_cli>
                 --node-modules ${CMAKE_SOURCE_DIR}/tests/conformance/node_modules
                 --work ${CMAKE_BINARY_DIR}/test_tmp)
set_tests_properties(e2e_text_pipeline PROPERTIES LABELS conformance TIMEOUT 600)

# Structured output with a real tokenizer (Qwen3's), outputs validated with the jsonschema package.
add_test(NAME e2e_structured_output
         COMMAND ${CMAKE_BINARY_DIR}/.venv/bin/python ${CMAKE_CURRENT_LIST_DIR}/test_structured_output.py
                 --tritium $<TARGET_FILE:tritium_cli>
                 --node-modules ${CMAKE_SOURCE_DIR}/tests/conformance/node_modules
                 --work ${CMAKE_BINARY_DIR}/test_tmp/structured)
set_tests_properties(e2e_structured_output PROPERTIES LABELS conformance TIMEOUT 300)
