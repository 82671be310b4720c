import Testing
@testable import HeraldWire

/// Cases in the manner of Nicolas Seriot's JSONTestSuite: `y_` must parse, `n_` must be
/// refused, `i_` is where RFC 8259 lets a parser choose (the choice is written next to it).
@Suite struct JSONSuiteTests {
    static let accepted: [(String, [UInt8])] = [
        ("y_array_empty", b("[]")),
        ("y_array_with_spaces", b(" [ 1 , 2 ] ")),
        ("y_array_nested_empty", b("[[],[[]]]")),
        ("y_array_heterogeneous", b(#"[null, 1, "1", {}, true, false]"#)),
        ("y_object_empty", b("{}")),
        ("y_object_empty_key", b(#"{"":0}"#)),
        ("y_object_duplicated_key", b(#"{"a":"b","a":"c"}"#)),
        ("y_object_simple", b(#"{"a":[]}"#)),
        ("y_object_with_newlines", b("{\n\"a\": \"b\"\n}")),
        ("y_object_escaped_null_in_key", b(#"{"foo\u0000bar": 42}"#)),
        ("y_structure_whitespace_all_kinds", b(" \t\r\n[1]\r\n\t ")),
        ("y_structure_lonely_int", b("42")),
        ("y_structure_lonely_string", b(#""asd""#)),
        ("y_structure_lonely_null", b("null")),
        ("y_structure_lonely_negative_real", b("-0.1")),
        ("y_number_0e1", b("[0e1]")),
        ("y_number_0e+1", b("[0e+1]")),
        ("y_number_capital_E_neg_exp", b("[1E-2]")),
        ("y_number_real_fraction_exponent", b("[123.456e78]")),
        ("y_number_negative_zero", b("[-0]")),
        ("y_number_huge_exp_underflow", b("[1.5e-9999]")),
        ("y_number_very_big_integer", b("[100000000000000000000000000000000000000]")),
        ("y_number_double_close_to_zero", b("[-0.000000000000000000000000000000000000000000000000000000000000000000000000000001]")),
        ("y_string_escaped_control", b(#"["\u0012"]"#)),
        ("y_string_unicode_escapes_upper_and_lower", b(#"["\u00E9\u00e9"]"#)),
        ("y_string_surrogate_pair", b(#"["\uD801\udc37"]"#)),
        ("y_string_two_surrogate_pairs", b(#"["\ud83d\ude39\ud83d\udc8d"]"#)),
        ("y_string_allowed_escapes", b(#"["\"\\\/\b\f\n\r\t"]"#)),
        ("y_string_escaped_noncharacter", b(#"["\uFFFF"]"#)),
        ("y_string_utf8_noncharacter", [0x5B, 0x22, 0xEF, 0xBF, 0xBF, 0x22, 0x5D]),
        ("y_string_last_code_point", [0x5B, 0x22, 0xF4, 0x8F, 0xBF, 0xBF, 0x22, 0x5D]),
        ("y_string_raw_del", b("[\"\u{7F}\"]")),
        ("y_string_raw_u2028", b("[\"\u{2028}\"]")),
        ("y_string_comments_inside", b(#"["a/*b*/c/*d//e"]"#)),
        ("i_number_huge_underflows_to_zero (accepted as 0)", b("[1e-400]")),
        ("i_object_duplicate_keys (accepted, flagged by hasDuplicateKeys)", b(#"{"a":1,"a":1}"#)),
    ]

    static let refused: [(String, [UInt8])] = [
        ("n_array_trailing_comma", b("[1,]")),
        ("n_array_double_comma", b("[1,,2]")),
        ("n_array_leading_comma", b("[,1]")),
        ("n_array_only_comma", b("[,]")),
        ("n_array_unclosed", b("[1")),
        ("n_array_extra_close", b("[]]")),
        ("n_array_colon_instead_of_comma", b(#"["": 1]"#)),
        ("n_array_missing_comma", b("[1 true]")),
        ("n_object_trailing_comma", b(#"{"a":1,}"#)),
        ("n_object_missing_colon", b(#"{"a" 1}"#)),
        ("n_object_unquoted_key", b("{a:1}")),
        ("n_object_single_quote", b("{'a':0}")),
        ("n_object_non_string_key", b("{1:1}")),
        ("n_object_missing_value", b(#"{"a":}"#)),
        ("n_object_double_colon", b(#"{"x"::"b"}"#)),
        ("n_object_comma_instead_of_colon", b(#"{"x", null}"#)),
        ("n_object_trailing_comment", b(#"{"a":"b"}/**/"#)),
        ("n_number_leading_zero", b("[01]")),
        ("n_number_neg_leading_zero", b("[-012]")),
        ("n_number_plus", b("[+1]")),
        ("n_number_starting_with_dot", b("[.1]")),
        ("n_number_ending_with_dot", b("[1.]")),
        ("n_number_minus_alone", b("[-]")),
        ("n_number_minus_space", b("[- 1]")),
        ("n_number_exp_without_digits", b("[1e]")),
        ("n_number_double_exp", b("[1e1e1]")),
        ("n_number_hex", b("[0x1]")),
        ("n_number_NaN", b("[NaN]")),
        ("n_number_Infinity", b("[Infinity]")),
        ("n_number_minus_infinity", b("[-Infinity]")),
        ("n_number_overflow", b("[1e999]")),
        ("n_number_negative_overflow", b("[-1e400]")),
        ("n_number_with_alpha", b("[1.2a-3]")),
        ("n_number_fullwidth_digit", b("[\u{FF11}]")),
        ("n_string_unescaped_tab", b("[\"\t\"]")),
        ("n_string_unescaped_newline", b("[\"a\nb\"]")),
        ("n_string_unescaped_nul", [0x5B, 0x22, 0x00, 0x22, 0x5D]),
        ("n_string_single_quote", b("['single quote']")),
        ("n_string_incomplete_escape", b(#"["\u00"]"#)),
        ("n_string_invalid_escape", b(#"["\a"]"#)),
        ("n_string_escaped_emoji", b("[\"\\😀\"]")),
        ("n_string_unterminated", b(#"["abc]"#)),
        ("n_string_lone_high_surrogate", b(#""\ud800""#)),
        ("n_string_lone_low_surrogate", b(#"["\uDFAA"]"#)),
        ("n_string_high_then_high", b(#"["\uD800\uD800"]"#)),
        ("n_string_invalid_utf8", [0x5B, 0x22, 0xFF, 0x22, 0x5D]),
        ("n_string_overlong_utf8", [0x5B, 0x22, 0xC0, 0xAF, 0x22, 0x5D]),
        ("n_string_utf8_surrogate", [0x5B, 0x22, 0xED, 0xA0, 0x80, 0x22, 0x5D]),
        ("n_string_utf8_truncated", [0x5B, 0x22, 0xE2, 0x82, 0x22, 0x5D]),
        ("n_literal_truncated_true", b("tru")),
        ("n_literal_capitalized", b("[True]")),
        ("n_literal_nil", b("[nil]")),
        ("n_structure_empty", b("")),
        ("n_structure_whitespace_only", b(" \n ")),
        ("n_structure_two_values", b("[1] [2]")),
        ("n_structure_trailing_garbage", b("{}x")),
        ("n_structure_comment", b("[1] // one")),
        ("n_structure_bom", [0xEF, 0xBB, 0xBF, 0x7B, 0x7D]),
        ("n_structure_nul_after", [0x5B, 0x5D, 0x00]),
        ("n_structure_vertical_tab_whitespace", b("[\u{0B}1]")),
        ("n_structure_nbsp_whitespace", b("[\u{A0}1]")),
        ("n_structure_close_mismatch", b("[}")),
        ("n_structure_open_object_close_array", b("{]")),
        ("n_structure_object_in_array_unclosed", b(#"[{"a":1]"#)),
        ("n_structure_angle_bracket", b("<null>")),
    ]

    static func b(_ s: String) -> [UInt8] { Array(s.utf8) }

    @Test(arguments: accepted.map(\.0))
    func acceptedCasesParseAndRoundTrip(_ name: String) throws {
        let bytes = try #require(Self.accepted.first { $0.0 == name }?.1)
        let value = try JSONParser.parse(bytes)
        #expect(try JSONParser.parse(JSONWriter.encode(value)) == value)
    }

    @Test(arguments: refused.map(\.0))
    func refusedCasesThrowWithAnOffsetInsideTheInput(_ name: String) throws {
        let bytes = try #require(Self.refused.first { $0.0 == name }?.1)
        do {
            let value = try JSONParser.parse(bytes)
            Issue.record("\(name) parsed as \(value)")
        } catch {
            #expect(error.offset >= 0 && error.offset <= bytes.count)
            #expect(error.message.hasSuffix("at byte \(error.offset)") || error.message.contains("at byte \(error.offset),")
                || error.message.contains("at byte \(error.offset);"), "\(name): \(error.message)")
        }
    }

    @Test func theTableHasAboutSixtyRefusalsAndAllAcceptancesAreDistinct() {
        #expect(Self.refused.count >= 60)
        #expect(Set(Self.accepted.map(\.0)).count == Self.accepted.count)
        #expect(Set(Self.refused.map(\.0)).count == Self.refused.count)
    }
}
