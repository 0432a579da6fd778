// Jinja parser: tokens -> syntax tree (jinja_ast.h). Operator precedence and statement forms
// follow Jinja2's grammar; include/import/extends are rejected (templates get no file access).
#pragma once
#include <string>

#include "tokenizer/jinja_ast.h"

namespace tritium::jinja {

// Parses template source; throws tritium::Error naming line and column on a syntax error.
Body parse_template(const std::string& source);

}  // namespace tritium::jinja
