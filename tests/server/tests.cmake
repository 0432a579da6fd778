# `tritium serve` against the official clients (Python openai from build/.venv, npm openai and
# playwright-core from tests/server/node_modules), malformed requests, and load with disconnects,
# on tiny random models with real tokenizers (scripts/install-deps.sh --test installs them all).
set(_srv_args --tritium $<TARGET_FILE:tritium_cli>
              --node-modules ${CMAKE_SOURCE_DIR}/tests/conformance/node_modules
              --work ${CMAKE_BINARY_DIR}/test_tmp/server)
add_test(NAME server_openai_python
         COMMAND ${CMAKE_BINARY_DIR}/.venv/bin/python ${CMAKE_CURRENT_LIST_DIR}/test_openai_python.py ${_srv_args})
set_tests_properties(server_openai_python PROPERTIES LABELS conformance TIMEOUT 300)
add_test(NAME server_malformed
         COMMAND ${CMAKE_BINARY_DIR}/.venv/bin/python ${CMAKE_CURRENT_LIST_DIR}/test_malformed.py ${_srv_args})
set_tests_properties(server_malformed PROPERTIES LABELS conformance TIMEOUT 300)
add_test(NAME server_load
         COMMAND ${CMAKE_BINARY_DIR}/.venv/bin/python ${CMAKE_CURRENT_LIST_DIR}/test_load.py ${_srv_args})
set_tests_properties(server_load PROPERTIES LABELS conformance TIMEOUT 300)
add_test(NAME server_node_clients
         COMMAND ${CMAKE_BINARY_DIR}/.venv/bin/python ${CMAKE_CURRENT_LIST_DIR}/test_node_clients.py ${_srv_args})
set_tests_properties(server_node_clients PROPERTIES LABELS conformance TIMEOUT 300)
