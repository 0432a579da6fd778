// Jinja interpreter: one test per feature, expected outputs as Jinja2 (with transformers'
// settings: trim_blocks, lstrip_blocks, loop controls) produces them.
#include <gtest/gtest.h>

#include <functional>

#include "core/error.h"
#include "tokenizer/jinja_eval.h"

namespace tritium::jinja {
namespace {

using ojson = nlohmann::ordered_json;

std::string render(const std::string& src, const ojson& ctx = ojson::object()) {
  return Template(src).render(Value::from_json(ctx));
}

std::string error_of(const std::string& src, const ojson& ctx = ojson::object()) {
  try {
    render(src, ctx);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

const ojson kMsgs = ojson::parse(R"([
  {"role": "system", "content": "Be brief."},
  {"role": "user", "content": "  Hi  "},
  {"role": "assistant", "content": "Hello", "tool_calls": [{"function": {"name": "f", "arguments": {"x": 1}}}]}
])");

TEST(JinjaExpr, Arithmetic) {
  EXPECT_EQ(render("{{ 1 + 2 * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 / 2 }} {{ -7 % 3 }} {{ 2 ** 10 }}"),
            "7 3 -4 3.5 2 1024");
  EXPECT_EQ(render("{{ 0.1 + 0.2 }} {{ 1e20 }} {{ 1e-7 }} {{ 3.0 }} {{ 10 / 5 }}"),
            "0.30000000000000004 1e+20 1e-07 3.0 2.0");
}

TEST(JinjaExpr, ComparisonAndLogic) {
  EXPECT_EQ(render("{{ 1 < 2 < 3 }} {{ 1 == 1.0 }} {{ not true }} {{ true and 'x' }} {{ false or 'y' }}"),
            "True True False x y");
  EXPECT_EQ(render("{{ 'ab' in 'xaby' }} {{ 3 not in [1, 2] }} {{ 'k' in {'k': 1} }}"), "True True True");
}

TEST(JinjaExpr, LiteralsPrintLikePython) {
  EXPECT_EQ(render("{{ [1, 'a', none, true, 2.5, {'k': 'v'}] }} {{ (1,) }} {{ \"it's\" }}"),
            "[1, 'a', None, True, 2.5, {'k': 'v'}] (1,) it's");
  EXPECT_EQ(render("{{ ['it\\'s'] }}"), "[\"it's\"]");
}

TEST(JinjaExpr, ConcatTernarySlice) {
  EXPECT_EQ(render("{{ 'a' ~ 1 ~ none ~ nope }}"), "a1None");
  EXPECT_EQ(render("{{ 'y' if 1 else 'n' }}|{{ 'x' if false }}|"), "y||");
  EXPECT_EQ(render("{{ 'abcdef'[::2] }} {{ 'abcdef'[-2:] }} {{ [1,2,3][::-1] }} {{ 'héllo'[1:3] }}"),
            "ace ef [3, 2, 1] él");
}

TEST(JinjaExpr, AttributeAndItem) {
  ojson ctx = {{"messages", kMsgs}};
  EXPECT_EQ(render("{{ messages[0].role }} {{ messages[-1]['tool_calls'][0].function.name }}", ctx), "system f");
  EXPECT_EQ(render("{% for k, v in messages[0].items() %}{{ k }}={{ v }};{% endfor %}", ctx),
            "role=system;content=Be brief.;");
  EXPECT_EQ(render("{{ messages[0].get('nope', 'd') }} {{ messages[0].keys() | list }}", ctx), "d ['role', 'content']");
}

TEST(JinjaExpr, StringMethods) {
  EXPECT_EQ(render("{{ '  x  '.strip() }}|{{ 'xxhixx'.strip('x') }}|{{ 'a,b'.split(',') }}|{{ ' a  b '.split() }}"),
            "x|hi|['a', 'b']|['a', 'b']");
  EXPECT_EQ(render("{{ 'abc'.startswith('ab') }}{{ 'abc'.endswith(('x', 'c')) }}{{ 'hello wORLD'.title() }}"),
            "TrueTrueHello World");
  EXPECT_EQ(render("{{ 'aXb'.replace('X', '-') }} {{ 'ß'.upper() }} {{ 'ÄÖ'.lower() }}"), "a-b SS äö");
}

TEST(JinjaFilters, Text) {
  EXPECT_EQ(render("{{ '  p  ' | trim }}|{{ 'hello world' | capitalize }}|{{ 'big-world (x)' | title }}|{{ 'a.b' | replace('.', '/') }}"),
            "p|Hello world|Big-World (X)|a/b");
  EXPECT_EQ(render("{{ nope | default('d') }}|{{ '' | default('e', true) }}|{{ none | d('n') }}"), "d|e|None");
  EXPECT_EQ(render("{{ 'a\nb\n\nc' | indent }}"), "a\n    b\n\n    c");
}

TEST(JinjaFilters, Lists) {
  EXPECT_EQ(render("{{ [3,1,2] | sort }}|{{ ['b','A','c'] | sort }}|{{ [1,2,2] | unique | list }}|{{ [1,2] | join('-') }}"),
            "[1, 2, 3]|['A', 'b', 'c']|[1, 2]|1-2");
  EXPECT_EQ(render("{{ [1,2,3] | first }}{{ [1,2,3] | last }}{{ [1,2,3] | length }}{{ [1,2,3] | sum }}"), "1336");
  EXPECT_EQ(render("{{ [1,2,3,4,5] | batch(2) | list }}"), "[[1, 2], [3, 4], [5]]");
  ojson ctx = {{"messages", kMsgs}};
  EXPECT_EQ(render("{{ messages | map(attribute='role') | join(',') }}", ctx), "system,user,assistant");
  EXPECT_EQ(render("{{ messages | selectattr('role', 'equalto', 'user') | list | length }}", ctx), "1");
  EXPECT_EQ(render("{{ [1,2,3,4] | select('odd') | list }}{{ [1,2,3] | reject('even') | list }}"), "[1, 3][1, 3]");
  EXPECT_EQ(render("{{ {'b': 1, 'a': 2} | dictsort }}"), "[('a', 2), ('b', 1)]");
}

TEST(JinjaFilters, Numbers) {
  EXPECT_EQ(render("{{ '42' | int }} {{ '4.7' | int }} {{ 'x' | int }} {{ '2.5' | float }} {{ -3 | abs }}"),
            "42 4 0 2.5 3");
  EXPECT_EQ(render("{{ 2.567 | round(2) }} {{ 2.5 | round }} {{ 2.1 | round(0, 'ceil') }}"), "2.57 2.0 3.0");
}

TEST(JinjaFilters, ToJsonLikePythonJsonDumps) {
  EXPECT_EQ(render("{{ {'a': [1, 2.0, none, true], 'b': 'é\"\n'} | tojson }}"),
            "{\"a\": [1, 2.0, null, true], \"b\": \"é\\\"\\n\"}");
  EXPECT_EQ(render("{{ {'a': [1], 'b': {}} | tojson(indent=2) }}"), "{\n  \"a\": [\n    1\n  ],\n  \"b\": {}\n}");
  EXPECT_EQ(render("{{ 'é' | tojson(ensure_ascii=true) }}"), "\"\\u00e9\"");
  EXPECT_EQ(render("{{ {'b': 1, 'a': 2} | tojson(separators=(',', ':'), sort_keys=true) }}"), "{\"a\":2,\"b\":1}");
}

TEST(JinjaTests, Builtins) {
  EXPECT_EQ(render("{{ x is defined }}{{ x is undefined }}{{ none is none }}{{ 'a' is string }}{{ true is number }}"),
            "FalseTrueTrueTrueTrue");
  EXPECT_EQ(render("{{ 1 is integer }}{{ 1.0 is integer }}{{ {} is mapping }}{{ 'a' is iterable }}{{ [] is sequence }}"),
            "TrueFalseTrueTrueTrue");
  EXPECT_EQ(render("{{ 3 is odd }}{{ 9 is divisibleby 3 }}{{ 1 is eq 1 }}{{ 2 is ge 3 }}{{ 'a' is in 'abc' }}{{ 0 is false }}"),
            "TrueTrueTrueFalseTrueFalse");
}

TEST(JinjaStatements, IfForLoop) {
  ojson ctx = {{"messages", kMsgs}};
  EXPECT_EQ(render("{% for m in messages %}{% if m.role == 'system' %}S{% elif m.role == 'user' %}U{% else %}A{% endif %}{% endfor %}", ctx),
            "SUA");
  EXPECT_EQ(render("{% for m in messages %}{{ loop.index }}{{ loop.first }}{{ loop.last }}{{ loop.revindex0 }}{{ loop.cycle('a', 'b') }};{% endfor %}", ctx),
            "1TrueFalse2a;2FalseFalse1b;3FalseTrue0a;");
  EXPECT_EQ(render("{% for m in messages %}{{ loop.previtem.role if loop.previtem is defined else '-' }}{% endfor %}", ctx),
            "-systemuser");
  EXPECT_EQ(render("{% for x in [] %}x{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(render("{% for m in messages if m.role != 'system' %}{{ loop.index }}{{ loop.length }}{% endfor %}", ctx), "1222");
  EXPECT_EQ(render("{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }}{% endfor %}"), "37");
  EXPECT_EQ(render("{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}{% endif %}{{ i }}{% endfor %}"),
            "0134");
}

TEST(JinjaStatements, SetScopingAndNamespace) {
  EXPECT_EQ(render("{% set x = 1 %}{% for i in [1, 2] %}{% set x = x + i %}{{ x }}{% endfor %}|{{ x }}"), "23|1");
  EXPECT_EQ(render("{% if true %}{% set y = 5 %}{% endif %}{{ y }}"), "5");
  EXPECT_EQ(render("{% set ns = namespace(n=0) %}{% for i in [1, 2, 3] %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}"), "6");
  EXPECT_EQ(render("{% set a, b = 1, 2 %}{{ a }}{{ b }}"), "12");
  EXPECT_EQ(render("{% set blk | upper %} x {% endset %}[{{ blk }}]"), "[ X ]");
}

TEST(JinjaStatements, MacroCallFilterRaw) {
  EXPECT_EQ(render("{% macro g(n, p='!') %}Hi {{ n }}{{ p }}{% endmacro %}{{ g('A') }} {{ g(p='?', n='B') }}"), "Hi A! Hi B?");
  EXPECT_EQ(render("{% macro w(t) %}<{{ t }}>{{ caller() }}</{{ t }}>{% endmacro %}{% call w('b') %}in{% endcall %}"),
            "<b>in</b>");
  EXPECT_EQ(render("{% filter upper %}abc{% endfilter %}"), "ABC");
  EXPECT_EQ(render("{% raw %}{{ x }}{% endraw %}"), "{{ x }}");
}

TEST(JinjaWhitespace, ControlAndTransformersSettings) {
  EXPECT_EQ(render("A  {{- ' B ' -}}  C"), "A B C");
  // trim_blocks removes the newline after a block tag, lstrip_blocks the indentation before it.
  EXPECT_EQ(render("<\n  {% if true %}\n  x\n  {% endif %}\n>"), "<\n  x\n>");
  EXPECT_EQ(render("  {%+ if true %}k{% endif %}"), "  k");
  EXPECT_EQ(render("a {# c #} b\n{# line #}\nc"), "a  b\nc");
  EXPECT_EQ(render("x\n"), "x");  // one trailing newline dropped
}

TEST(JinjaUndefined, SemanticsLikeJinja2) {
  EXPECT_EQ(render("[{{ nope }}][{{ nope | length }}][{% for x in nope %}x{% endfor %}][{{ nope is defined }}]"),
            "[][0][][False]");
  EXPECT_NE(error_of("{{ nope.attr }}").find("'nope' is undefined"), std::string::npos);
  ojson ctx = {{"m", {{"a", 1}}}};
  EXPECT_EQ(render("[{{ m.b }}]", ctx), "[]");
  EXPECT_NE(error_of("{{ m.b.c }}", ctx).find("'dict object' has no attribute 'b'"), std::string::npos);
  EXPECT_NE(error_of("{{ m.b + 1 }}", ctx).find("has no attribute 'b'"), std::string::npos);
}

TEST(JinjaErrors, NameLineAndColumn) {
  std::string e = error_of("line one\n{% if true %}\nno end");
  EXPECT_NE(e.find("line 3"), std::string::npos) << e;
  EXPECT_NE(e.find("endif"), std::string::npos) << e;
  e = error_of("ok\n  {{ 1 + }}");
  EXPECT_NE(e.find("line 2, column 10"), std::string::npos) << e;
  e = error_of("a\nb {{ raise_exception('Roles must alternate') }}");
  EXPECT_NE(e.find("line 2"), std::string::npos) << e;
  EXPECT_NE(e.find("Roles must alternate"), std::string::npos) << e;
  e = error_of("{% include 'x.jinja' %}");
  EXPECT_NE(e.find("not supported"), std::string::npos) << e;
  e = error_of("{{ 1 + 'a' }}");
  EXPECT_NE(e.find("unsupported operand"), std::string::npos) << e;
  e = error_of("{% set l = [] %}{{ l.append(1) }}");
  EXPECT_NE(e.find("unsafe"), std::string::npos) << e;
  e = error_of("{{ x | nosuchfilter }}");
  EXPECT_NE(e.find("no filter named 'nosuchfilter'"), std::string::npos) << e;
  e = error_of("{% frobnicate %}");
  EXPECT_NE(e.find("line 1, column 4"), std::string::npos) << e;
}

TEST(JinjaErrors, HostileTemplatesGiveErrorsNotCrashes) {
  std::string deep(5000, '(');
  EXPECT_NE(error_of("{{ " + deep + "1" + std::string(5000, ')') + " }}").find("nested too deeply"), std::string::npos);
  std::string blocks;
  for (int i = 0; i < 1000; ++i) blocks += "{% if true %}";
  EXPECT_NE(error_of(blocks).find("nested too deeply"), std::string::npos);
  EXPECT_NE(error_of("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}").find("recursion depth"), std::string::npos);
  EXPECT_NE(error_of("{{ '\\xZZ' }}").find("invalid escape"), std::string::npos);
  EXPECT_NE(error_of("{{ 99999999999999999999999 }}").find("out of range"), std::string::npos);
}

TEST(JinjaValue, FloatReprAndJson) {
  EXPECT_EQ(float_repr(1.0), "1.0");
  EXPECT_EQ(float_repr(1e16), "1e+16");
  EXPECT_EQ(float_repr(1e15), "1000000000000000.0");
  EXPECT_EQ(float_repr(0.0001), "0.0001");
  EXPECT_EQ(float_repr(0.00001), "1e-05");
  EXPECT_EQ(float_repr(-2.5), "-2.5");
  EXPECT_EQ(string_repr("a'b"), "\"a'b\"");
  EXPECT_EQ(string_repr("a\"b'"), "'a\"b\\''");
}

}  // namespace
}  // namespace tritium::jinja


namespace {
std::string limit_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const tritium::Error& e) {
    return e.what();
  }
  return "<no error>";
}
}  // namespace
#define EXPECT_LIMIT_ERROR(expr, ...)                                                              \
  do {                                                                                             \
    std::string msg = limit_error_of([&] { (void)(expr); });                                       \
    for (const char* s : {__VA_ARGS__}) EXPECT_NE(msg.find(s), std::string::npos) << "message: " << msg; \
  } while (0)
namespace tritium {
// ---- render limits: a runaway template fails fast with an error naming the limit ----

TEST(JinjaLimits, StepLimit) {
  jinja::RenderLimits lim;
  lim.max_steps = 10000;
  jinja::Template t("{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}");
  EXPECT_LIMIT_ERROR(t.render(jinja::Value::dict(), lim), "render step limit (10000 steps)");
}

TEST(JinjaLimits, OutputLimit) {
  jinja::RenderLimits lim;
  lim.max_output_bytes = 1000;
  jinja::Template loop("{% for i in range(2000) %}x{% endfor %}");
  EXPECT_LIMIT_ERROR(loop.render(jinja::Value::dict(), lim), "output exceeded the size limit (1000 bytes)");
  EXPECT_EQ(jinja::Template("{% for i in range(1000) %}x{% endfor %}").render(jinja::Value::dict(), lim).size(), 1000u);
  // Values built on the way are bounded too, before any memory is taken for them.
  EXPECT_LIMIT_ERROR(jinja::Template("{{ ('x' * 1000000000000)|length }}").render(jinja::Value::dict()),
                   "string exceeded the size limit");
  EXPECT_LIMIT_ERROR(jinja::Template("{{ ([1] * 1000000000)|length }}").render(jinja::Value::dict()),
                   "list exceeded the size limit");
  EXPECT_LIMIT_ERROR(jinja::Template("{{ 'x'|center(100000000000) }}").render(jinja::Value::dict()), "size limit");
  EXPECT_LIMIT_ERROR(jinja::Template("{% set ns = namespace(s='xxxxxxxx') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}")
                       .render(jinja::Value::dict()),
                   "size limit");
}

TEST(JinjaLimits, RecursionLimit) {
  jinja::RenderLimits lim;
  lim.max_call_depth = 20;
  jinja::Template t("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
  EXPECT_LIMIT_ERROR(t.render(jinja::Value::dict(), lim), "maximum macro recursion depth (20)");
  jinja::Template ok("{% macro f(n) %}{% if n < 10 %}{{ f(n + 1) }}{% else %}{{ n }}{% endif %}{% endmacro %}{{ f(0) }}");
  EXPECT_EQ(ok.render(jinja::Value::dict(), lim), "10");
}

TEST(JinjaLimits, IntegerOverflowIsAnError) {
  auto r = [](const std::string& s) { return jinja::Template(s).render(jinja::Value::dict()); };
  EXPECT_EQ(r("{{ 2 ** 62 }}"), "4611686018427387904");
  EXPECT_LIMIT_ERROR(r("{{ 2 ** 1000000000000 }}"), "integer overflow in **");
  EXPECT_LIMIT_ERROR(r("{{ 9223372036854775807 + 1 }}"), "integer overflow in +");
  EXPECT_LIMIT_ERROR(r("{{ 4611686018427387904 * 4 }}"), "integer overflow in *");
  EXPECT_LIMIT_ERROR(r("{{ -(-9223372036854775807 - 1) }}"), "integer overflow");
  EXPECT_EQ(r("{{ (-9223372036854775807 - 1) % -1 }}"), "0");
  EXPECT_LIMIT_ERROR(r("{{ '%999999d' % 1 }}"), "format width");
}

}  // namespace tritium
