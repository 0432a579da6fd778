#!/usr/bin/env python3
"""Builds tests/conformance/corpus.jsonl: the strings the tokenizer conformance test encodes.

Deterministic (fixed seed, no external data): every string is generated here from small
hand-written word lists and code-point ranges. One JSON string per line.
Usage: make_corpus.py [OUT]   (default: corpus.jsonl next to this script)
"""
import json
import os
import random
import sys

R = random.Random(20261122)

WORDS = """the of and to in is you that it he was for on are as with his they at be this have from
or one had by word but not what all were we when your can said there use an each which she do how
their if will up other about out many then them these so some her would make like him into time has
look two more write go see number no way could people my than first water been call who oil its now
find long down day did get come made may part model token engine inference server batch latency
throughput kernel memory cache prefix decode encode stream request response quick brown fox jumps
over lazy dog isn't don't can't won't it's I'm you're we've they'll she'd O'Neil rock'n'roll""".split()

def sentence(n=None):
    n = n or R.randint(3, 18)
    w = [R.choice(WORDS) for _ in range(n)]
    if R.random() < 0.5:
        w[0] = w[0].capitalize()
    s = " ".join(w)
    return s + R.choice([".", "!", "?", "", ",", ";", ":", "...", " .", " !"])

def prose():
    return " ".join(sentence() for _ in range(R.randint(1, 5)))

IDENT = ["x", "y", "value", "count", "tokenizer", "self", "data", "buf", "i", "j", "idx", "my_var", "MAX_LEN",
         "camelCase", "PascalCase", "snake_case_name", "__init__", "_private", "ptr", "len"]

def ident():
    return R.choice(IDENT)

CODE = [
    lambda: f"def {ident()}({ident()}, {ident()}=None):\n    return {ident()} + {R.randint(0, 999)}\n",
    lambda: f"for {ident()} in range({R.randint(1, 100)}):\n\tif {ident()} % 2 == 0:\n\t\tprint(f\"{{{ident()}}}\")\n",
    lambda: f"#include <vector>\nint main() {{\n  std::vector<int> {ident()}({R.randint(1, 64)});\n  return 0;\n}}\n",
    lambda: f"const {ident()} = async ({ident()}) => {{ await fetch(`/api/v1/${{{ident()}}}`); }};",
    lambda: f"fn {ident()}(&mut self, {ident()}: &[u8]) -> Result<Vec<u32>, Error> {{ Ok(vec![]) }}",
    lambda: f"SELECT {ident()}, COUNT(*) FROM users WHERE age >= {R.randint(18, 99)} GROUP BY {ident()};",
    lambda: f"<div class=\"{ident()}\" id='{ident()}'><p>{sentence()}</p></div>",
    lambda: json.dumps({ident(): R.randint(-1000, 1000), ident(): [1.5, None, True], "s": sentence()}, indent=R.choice([None, 2, 4])),
    lambda: f"func {ident()}(ctx context.Context) error {{\n\treturn nil\n}}",
    lambda: f"$ ls -la /usr/local/bin | grep -E '^[d-]' && echo \"done\" >> ~/.log 2>&1",
    lambda: f"    if ({ident()} != NULL && {ident()}->{ident()} >= 0x{R.randint(0, 65535):04X}) {{ {ident()}++; }}",
    lambda: f"x = [i**2 for i in range(10) if i&1]  # comment: {sentence()}",
    lambda: f"\\begin{{equation}} E = mc^2 + \\frac{{a}}{{b}} \\end{{equation}}",
    lambda: f"a:=b;c+=d;e-=f;g*=h;i/=j;k%=l;m<<=2;n>>=3;o&&p||q;!r;~s;t^u",
    lambda: "\r\n".join(f"line {k}: {sentence()}" for k in range(R.randint(2, 5))),
]

def number():
    k = R.randint(0, 11)
    if k == 0: return str(R.randint(0, 10 ** R.randint(1, 20)))
    if k == 1: return f"{R.uniform(-1e6, 1e6):.{R.randint(0, 8)}f}"
    if k == 2: return f"{R.randint(1900, 2100)}-{R.randint(1, 12):02d}-{R.randint(1, 28):02d}T{R.randint(0, 23):02d}:{R.randint(0, 59):02d}:{R.randint(0, 59):02d}Z"
    if k == 3: return f"{R.randint(1, 12)}/{R.randint(1, 28)}/{R.randint(0, 99):02d}"
    if k == 4: return f"${R.randint(0, 10 ** 7):,}.{R.randint(0, 99):02d}"
    if k == 5: return f"+1 ({R.randint(200, 999)}) {R.randint(100, 999)}-{R.randint(1000, 9999)}"
    if k == 6: return f"{R.uniform(0, 10):.3e}"
    if k == 7: return f"v{R.randint(0, 9)}.{R.randint(0, 99)}.{R.randint(0, 999)}-rc{R.randint(1, 9)}"
    if k == 8: return f"{R.randint(0, 255)}.{R.randint(0, 255)}.{R.randint(0, 255)}.{R.randint(0, 255)}:{R.randint(1, 65535)}"
    if k == 9: return f"{R.randint(1, 100)}% of {R.randint(1, 10 ** 6)} = {R.random() * 1e4:.2f}"
    if k == 10: return " ".join(str(R.randint(0, 9999)) for _ in range(R.randint(2, 12)))
    return f"On {R.choice(['Monday', 'May 5th', '3rd of June', 'Q4 2025'])} at {R.randint(1, 12)}:{R.randint(0, 59):02d}{R.choice(['am', 'pm', ' PM'])}"

WS = [" ", "  ", "   ", "\t", "\n", "\r\n", "\r", "\n\n", "\n\n\n", " \n ", "\t\t", "\u00a0", "\u3000", "\u2009",
      "\u180e", "\u200b", "\ufeff", "\u2028", "\u2029", "\x0b", "\x0c", "\u0085", " " * 17, "\n" * 33, "\t \t"]

def whitespace():
    parts = []
    for _ in range(R.randint(1, 8)):
        parts.append(R.choice(WS) * R.randint(1, 3))
        if R.random() < 0.6:
            parts.append(R.choice(WORDS))
    return "".join(parts)

SCRIPTS = {
    "zh": "我们今天在北京的会议上讨论了人工智能模型的推理速度和内存使用情况这个问题非常重要",
    "ja": "きょうはとてもいいてんきですねカタカナテキストとひらがなを混ぜた日本語の文章です東京",
    "ko": "안녕하세요오늘날씨가정말좋네요한국어문장을토큰화합니다서울특별시",
    "ar": "مرحبا بالعالم هذه جملة عربية لاختبار المحلل اللغوي والأرقام ١٢٣٤٥٦٧٨٩٠",
    "he": "שלום עולם זה משפט בעברית עם ניקוד שָׁלוֹם",
    "hi": "नमस्ते दुनिया यह हिंदी में एक वाक्य है क्षत्रिय संस्कृत ज्ञान १२३४",
    "th": "สวัสดีชาวโลกนี่คือประโยคภาษาไทยที่ไม่มีช่องว่างระหว่างคำ",
    "ru": "Привет мир это предложение на русском языке Ёжик в тумане",
    "el": "Γειά σου κόσμε αυτή είναι μια ελληνική πρόταση ΣΊΣΥΦΟΣ ὁ ἄνθρωπος",
    "vi": "Xin chào thế giới đây là một câu tiếng Việt có dấu Nguyễn Trường Tộ",
    "ta": "வணக்கம் உலகம் இது ஒரு தமிழ் வாக்கியம்",
    "am": "ሰላም ልዑል ይህ የአማርኛ ዓረፍተ ነገር ነው",
    "ka": "გამარჯობა მსოფლიო ეს არის ქართული წინადადება",
    "my": "မင်္ဂလာပါ ကမ္ဘာလောက",
}

def script_text():
    name = R.choice(list(SCRIPTS))
    src = SCRIPTS[name]
    if name in ("zh", "ja", "ko", "th"):
        a = R.randint(0, len(src) - 2)
        s = src[a:a + R.randint(1, 30)]
    else:
        w = src.split()
        a = R.randint(0, len(w) - 1)
        s = " ".join(w[a:a + R.randint(1, 8)])
    if R.random() < 0.4:
        s = R.choice([sentence() + " " + s, s + " " + sentence(), s + R.choice(["。", "、", "！", "？", "؟", "।", "…"])])
    return s

EMOJI = ["😀", "👍", "👍🏽", "👍🏿", "👨‍👩‍👧‍👦", "👩🏽‍💻", "🏳️‍🌈", "🇯🇵", "🇺🇸🇫🇷", "❤️", "❤", "1️⃣", "#️⃣",
         "🧑🏻‍🤝‍🧑🏿", "🤷‍♀️", "💩", "🦀", "🐍", "✅", "☕", "🫠", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "👁️‍🗨️", "🙂🙃"]

def emoji_text():
    return "".join(R.choice(EMOJI + [" ", " ", R.choice(WORDS)]) for _ in range(R.randint(1, 10)))

COMBINING = ["e\u0301", "a\u0300\u0316", "n\u0303", "o\u0308\u0304", "\u0041\u030A", "\u212B", "\u00C5", "\u1E9B\u0323",
             "Z\u0351\u0352\u0353\u0354\u0355\u0356", "\u0915\u094D\u0937", "\uFB01", "\uFF21\uFF42\uFF43", "\u2460\u2461",
             "x\u00B2\u00B3", "\u216B", "\u3392", "\u00BD", "\uFE64script\uFE65", "\u1100\u1161\u11A8", "\uAC00",
             "\u0130stanbul", "STRASSE stra\u00DFe", "\u03A3\u039F\u03A3 \u03C3\u03BF\u03C2", "\u2126", "\u017F\u0307",
             "I'S it'\u017F", "K\u212A", "\u1F80\u0345", "\u0F73", "\u0344", "\u2ADC"]

def combining():
    return "".join(R.choice(COMBINING + [" ", R.choice(WORDS)]) for _ in range(R.randint(1, 6)))

SPECIALS = ["<|endoftext|>", "<s>", "</s>", "<unk>", "<|im_start|>", "<|im_end|>", "<|begin_of_text|>",
            "<|end_of_text|>", "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>", "<bos>", "<eos>", "<pad>",
            "<mask>", "<start_of_turn>", "<end_of_turn>", "<start_of_image>", "<|startoftext|>", "<|return|>",
            "<|start|>", "<|end|>", "<|message|>", "<|channel|>", "<|call|>", "<|constrain|>",
            "<\uff5cbegin\u2581of\u2581sentence\uff5c>", "<\uff5cend\u2581of\u2581sentence\uff5c>",
            "<\uff5cUser\uff5c>", "<\uff5cAssistant\uff5c>", "<think>", "</think>", "<tool_call>", "</tool_call>",
            "<|fim_prefix|>", "<|vision_start|>", "<|reserved_special_token_5|>", "<0x41>", "<|im_", "im_end|>",
            "<|", "|>", "<s", "</", "[multimodal]", "<unused0>", "<start_function_call>"]

def specials():
    parts = []
    for _ in range(R.randint(1, 6)):
        parts.append(R.choice(SPECIALS))
        if R.random() < 0.7:
            parts.append(R.choice(["", " ", "  ", "\n", " x ", sentence(), "Hello", "\u4f60\u597d"]))
    return "".join(parts)

ODD = ["\ufffd", "\ufffe", "\uffff", "\ufdd0", "\ufdef", "\U0001fffe", "\U0010ffff", "\U0010fffd", "\ue000",
       "\uf8ff", "\U000f0000", "\x00", "\x01", "\x07", "\x08", "\x1b[31m", "\x7f", "\x80", "\x9f", "\u202e", "\u200d",
       "\u200c", "\ufe0f", "\U000e0041", "\u00ad", "\u034f", "\u2062", "\U0001d54f", "\U00020000", "\U0002a6d6",
       "\U0001f9ff", "\u0600", "\u061c", "\u2066", "\uff5c", "\u2581", "\u0120", "\u010a", "\u0100", "\u00ff"]

def odd():
    return "".join(R.choice(ODD + [" ", "a", R.choice(WORDS)]) for _ in range(R.randint(1, 8)))

def random_cps():
    ranges = [(0x20, 0x7E), (0xA0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x6FF), (0x900, 0x97F),
              (0xE00, 0xE7F), (0x1100, 0x11FF), (0x2000, 0x206F), (0x2190, 0x23FF), (0x3000, 0x30FF),
              (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0xF900, 0xFAFF), (0xFF00, 0xFFEF), (0x1F300, 0x1FAFF),
              (0x10000, 0x1007F), (0x1D400, 0x1D7FF), (0x20000, 0x2A6DF)]
    out = []
    for _ in range(R.randint(1, 40)):
        a, b = R.choice(ranges)
        out.append(chr(R.randint(a, b)))
    return "".join(out)

def long_word():
    k = R.randint(0, 9)
    n = R.randint(1000, 6000)
    if k == 0: return "a" * n
    if k == 1: return "".join(R.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(n))
    if k == 2: return "\U0001f600" * (n // 4)
    if k == 3: return "".join(R.choice("0123456789") for _ in range(n))
    if k == 4: return "ab" * (n // 2)
    if k == 5: return "https://example.com/" + "/".join(R.choice(WORDS) for _ in range(n // 8)) + "?q=" + "x" * 50
    if k == 6: return "".join(R.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") for _ in range(n)) + "=="
    if k == 7: return " " * n
    if k == 8: return "\u4e2d" * (n // 3)
    return "-" * (n // 2) + "=" * (n // 2)

FIXED = ["", " ", "  ", "\n", "\t", "\r\n", "a", "A", "0", ".", "'", "'s", "'S", " 's", "don't", "DON'T", "I'LL",
         "Hello", " Hello", "Hello ", "  Hello  world  ", "hello\nworld", "hello\r\nworld\r\n", "a\rb\rc",
         "\u2581", "\u2581\u2581", " \u2581x", "\u0120", "<0x0A>", "\u00e9", "e\u0301", "\ufb01", "\u2581Hello",
         "1", "12", "123", "1234", "12345", "1,234,567.89", "3.14159", "-42", "1e-9", "\u0661\u0662\u0663", "\u00bd",
         "<s>", " <s> ", "<s><s>", "</s></s>", "<|endoftext|><|endoftext|>", "<|im_start|>user\nHi<|im_end|>\n",
         "<start_of_turn>user\nhello<end_of_turn>\n<start_of_turn>model\n", "x<|endoftext|>y", "<|endoftext|",
         "    def f():\n        pass\n", "\t\tindented\ttabs", "trailing spaces   ", "   leading spaces",
         "\n\n\nnewlines\n\n\n", "\r\r\r", "mixed \r\n \n \r endings", "\u00a0nbsp\u00a0", "zero\u200bwidth",
         "\U0001f468\u200d\U0001f469\u200d\U0001f467", "\U0001f44d\U0001f3fd", "\ufffd\ufffd", "\x00", "a\x00b"]

def main():
    out_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus.jsonl")
    gens = [(prose, 300), (lambda: R.choice(CODE)(), 260), (number, 200), (whitespace, 200), (script_text, 260),
            (emoji_text, 120), (combining, 120), (specials, 200), (odd, 120), (random_cps, 150), (long_word, 24)]
    corpus = list(FIXED)
    for g, n in gens:
        corpus += [g() for _ in range(n)]
    # Mixtures of everything above.
    for _ in range(150):
        parts = [g() for g, _ in R.sample(gens[:-1], R.randint(2, 4))]
        corpus.append(R.choice(["", " ", "\n", "\t"]).join(parts))
    with open(out_path, "w", encoding="utf-8", newline="\n") as f:
        for s in corpus:
            f.write(json.dumps(s, ensure_ascii=True) + "\n")
    print(f"{out_path}: {len(corpus)} strings, {os.path.getsize(out_path)} bytes")

if __name__ == "__main__":
    main()
