//! Parse errors carry Go's message and the offending token's line and column; hostile
//! templates stop with an error (depth, output, steps) and random input never panics.

use proptest::prelude::*;
use serde_json::json;
use template::{render_json, NoTemplates, ParseError, Template};

fn parse_err(src: &str) -> ParseError {
    match Template::parse("t", src) {
        Ok(_) => panic!("{src:?} should not parse"),
        Err(e) => e,
    }
}

fn at(src: &str) -> (usize, usize, String) {
    let e = parse_err(src);
    assert_eq!(e.template, "t");
    (e.line, e.column, e.message)
}

#[test]
fn if_without_pipeline() {
    assert_eq!(at("{{if}}x{{end}}"), (1, 5, "missing value for if".into()));
    assert_eq!(
        at("ab\n  {{ range }}{{end}}"),
        (2, 12, "missing value for range".into())
    );
}

#[test]
fn unclosed_action_points_at_its_start() {
    assert_eq!(at("line one\n  {{ .x "), (2, 3, "unclosed action".into()));
    assert_eq!(
        at("{{ (len \"a\" }}"),
        (1, 13, "unclosed left paren".into())
    );
}

#[test]
fn unknown_function_is_a_parse_error() {
    assert_eq!(
        at("a\nb\n\t{{ nosuchfn 1 }}"),
        (3, 5, "function \"nosuchfn\" not defined".into())
    );
    assert_eq!(
        at("{{ 1 | bogus }}"),
        (1, 8, "function \"bogus\" not defined".into())
    );
}

#[test]
fn structural_errors() {
    assert_eq!(at("x{{end}}"), (1, 4, "unexpected {{end}}".into()));
    assert_eq!(at("{{if 1}}no end"), (1, 15, "unexpected EOF".into()));
    assert_eq!(at("{{else}}"), (1, 3, "unexpected {{else}}".into()));
    assert_eq!(at("{{ $x }}"), (1, 4, "undefined variable \"$x\"".into()));
    assert_eq!(
        at("{{break}}"),
        (1, 3, "{{break}} outside {{range}}".into())
    );
    assert_eq!(at("{{\"abc}}"), (1, 3, "unterminated quoted string".into()));
    assert_eq!(at("{{/* never closed"), (1, 1, "unclosed comment".into()));
    assert_eq!(
        at("{{ 1.2.3 }}"),
        (1, 4, "illegal number syntax: \"1.2.3\"".into())
    );
    assert_eq!(
        at("{{ \"a\" | \"b\" }}"),
        (1, 10, "non executable command in pipeline stage 2".into())
    );
    assert_eq!(
        at("{{if 1}}{{define \"x\"}}{{end}}{{end}}"),
        (1, 11, "unexpected <define> in command".into())
    );
    assert_eq!(at("{{ .a ) }}"), (1, 7, "unexpected right paren".into()));
}

#[test]
fn columns_count_characters_not_bytes() {
    assert_eq!(
        at("éé{{ zz }}"),
        (1, 6, "function \"zz\" not defined".into())
    );
}

#[test]
fn display_names_template_line_and_column() {
    assert_eq!(
        parse_err("\n{{if}}").to_string(),
        "t:2:5: missing value for if"
    );
}

#[test]
fn assigning_an_undeclared_variable_fails_when_executed_as_in_go() {
    let t = Template::parse("t", "{{ $x = 1 }}").unwrap();
    let e = render_json(&t, &json!({}), &NoTemplates).unwrap_err();
    assert_eq!(e.message, "1:4: undefined variable: $x");
}

#[test]
fn render_errors_name_template_and_position() {
    let t = Template::parse("mytmpl", "ok\n{{ index .l 3 }}").unwrap();
    let e = render_json(&t, &json!({"l": [1]}), &NoTemplates).unwrap_err();
    assert_eq!(e.template, "mytmpl");
    assert_eq!(e.message, "2:4: error calling index: index out of range: 3");
}

#[test]
fn recursive_template_stops_at_depth_limit() {
    let t = Template::parse(
        "t",
        r#"{{define "r"}}x{{template "r" .}}{{end}}{{template "r" .}}"#,
    )
    .unwrap();
    let e = render_json(&t, &json!({}), &NoTemplates).unwrap_err();
    assert!(e.message.contains("maximum template depth"), "{e}");
}

#[test]
fn runaway_loop_stops_at_step_limit() {
    let t = Template::parse("t", "{{range 1000000000}}{{end}}").unwrap();
    let e = render_json(&t, &json!({}), &NoTemplates).unwrap_err();
    assert!(e.message.contains("steps"), "{e}");
}

#[test]
fn output_is_bounded() {
    let big = "x".repeat(1 << 20);
    let t = Template::parse("t", "{{range 20}}{{$.s}}{{end}}").unwrap();
    let e = render_json(&t, &json!({"s": big}), &NoTemplates).unwrap_err();
    assert!(e.message.contains("render output exceeds"), "{e}");
}

#[test]
fn doubling_strings_are_bounded() {
    let t = Template::parse(
        "t",
        r#"{{$s := "xxxxxxxx"}}{{range 40}}{{$s = cat $s $s}}{{end}}"#,
    )
    .unwrap();
    let e = render_json(&t, &json!({}), &NoTemplates).unwrap_err();
    assert!(e.message.contains("larger than"), "{e}");
}

#[test]
fn self_holding_map_prints_without_overflow() {
    let t = Template::parse(
        "t",
        r#"{{$d := dict}}{{$_ := set $d "me" $d}}{{len (print $d)}}"#,
    )
    .unwrap();
    let out = render_json(&t, &json!({}), &NoTemplates).unwrap();
    assert!(out.parse::<usize>().unwrap() > 0);
}

#[test]
fn deeply_nested_values_drop_without_overflow() {
    let t = Template::parse(
        "t",
        r#"{{$l := list}}{{range 200000}}{{$l = list $l}}{{end}}{{len $l}}"#,
    )
    .unwrap();
    assert_eq!(render_json(&t, &json!({}), &NoTemplates).unwrap(), "1");
    let t = Template::parse(
        "t",
        r#"{{$l := list}}{{range 1000}}{{$l = list $l}}{{end}}{{printf "%v" $l | len}}"#,
    )
    .unwrap();
    assert!(render_json(&t, &json!({}), &NoTemplates).is_ok());
}

#[test]
fn deep_nesting_is_a_parse_error_not_a_crash() {
    let src = "{{if 1}}".repeat(5000);
    let e = parse_err(&src);
    assert!(e.message.contains("nested deeper"), "{}", e.message);
    let parens = format!("{{{{{}1{}}}}}", "(".repeat(5000), ")".repeat(5000));
    assert!(parse_err(&parens).message.contains("nested deeper"));
}

/// Fragments of template syntax, so random input reaches deep into the parser and executor.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("{{".to_string()),
        Just("}}".to_string()),
        Just("{{- ".to_string()),
        Just(" -}}".to_string()),
        Just("if ".to_string()),
        Just("else ".to_string()),
        Just("end".to_string()),
        Just("range ".to_string()),
        Just("with ".to_string()),
        Just("define \"a\"".to_string()),
        Just("template \"a\" .".to_string()),
        Just("block \"b\" .".to_string()),
        Just("break".to_string()),
        Just("continue".to_string()),
        Just("$x := ".to_string()),
        Just("$x = ".to_string()),
        Just("$".to_string()),
        Just(".a".to_string()),
        Just(".".to_string()),
        Just("|".to_string()),
        Just("(".to_string()),
        Just(")".to_string()),
        Just("\"s\"".to_string()),
        Just("`r`".to_string()),
        Just("'c'".to_string()),
        Just("/*".to_string()),
        Just("*/".to_string()),
        Just("printf \"%v %d\" ".to_string()),
        Just("index ".to_string()),
        Just("slice ".to_string()),
        Just("len ".to_string()),
        Just("dict \"k\" ".to_string()),
        Just("set ".to_string()),
        Just("split \",\" ".to_string()),
        Just("eq ".to_string()),
        Just("and ".to_string()),
        Just("1".to_string()),
        Just("-2".to_string()),
        Just("0x1F".to_string()),
        Just("1e9".to_string()),
        Just("nil".to_string()),
        Just("true".to_string()),
        Just(" ".to_string()),
        Just("\n".to_string()),
        "[a-z{}()$.|\"'`:=,\\- ]{0,4}",
        any::<String>().prop_map(|s| s.chars().take(3).collect()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn random_input_never_panics(parts in prop::collection::vec(fragment(), 0..40)) {
        let src: String = parts.concat();
        if let Ok(t) = Template::parse("p", &src) {
            let data = json!({"a": [1, {"a": "x"}], "s": "str", "n": null});
            let _ = render_json(&t, &data, &NoTemplates);
        }
    }

    #[test]
    fn arbitrary_bytes_parse_or_error(src in any::<String>()) {
        if let Err(e) = Template::parse("p", &src) {
            prop_assert!(e.line >= 1 && e.column >= 1);
        }
    }
}

#[test]
fn deepest_allowed_nesting_fits_a_default_thread_stack() {
    // 99 nested ifs (the parser allows 100 levels) inside a template that calls itself: the
    // evaluation nesting bound must stop it before a 2 MiB stack (tokio's, std's) runs out.
    let ifs = "{{if 1}}".repeat(99);
    let ends = "{{end}}".repeat(99);
    let src = format!(
        r#"{{{{define "r"}}}}{ifs}{{{{template "r" .}}}}{ends}{{{{end}}}}{{{{template "r" .}}}}"#
    );
    let t = Template::parse("t", &src).unwrap();
    let handle = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || render_json(&t, &json!({}), &NoTemplates).map_err(|e| e.message))
        .unwrap();
    let err = handle
        .join()
        .expect("render overflowed its stack")
        .unwrap_err();
    assert!(
        err.contains("nested deeper") || err.contains("maximum template depth"),
        "{err}"
    );
    // Parenthesised pipelines nest too.
    let parens = format!("{{{{{}1{}}}}}", "(".repeat(99), ")".repeat(99));
    let src = format!(
        r#"{{{{define "p"}}}}{parens}{{{{template "p" .}}}}{{{{end}}}}{{{{template "p" .}}}}"#
    );
    let t = Template::parse("t", &src).unwrap();
    let handle = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || render_json(&t, &json!({}), &NoTemplates).map_err(|e| e.message))
        .unwrap();
    assert!(handle.join().expect("render overflowed its stack").is_err());
}

/// Maps are shared, as in Go: a map set into itself twice has a tree form that doubles with
/// every level. Converting, printing and comparing it stop at a budget of elements instead of
/// walking 2^64 of them (a fuzzer input took 30 s and ran out of memory).
#[test]
fn a_map_holding_itself_twice_is_walked_within_a_budget() {
    let setup = r#"{{ $d := dict "a" 2 }}{{ $_ := set $d "b" $d }}{{ $_ := set $d "c" $d }}"#;
    let run = |body: &str| {
        let t = Template::parse("t", &format!("{setup}{body}")).unwrap();
        let started = std::time::Instant::now();
        let out = render_json(&t, &json!({}), &NoTemplates);
        (out, started.elapsed())
    };
    // sprig's toJson prints nothing useful for a value it cannot encode (here `null`).
    let (out, _) = run("{{ toJson $d }}");
    assert_eq!(out.unwrap(), "null");
    for body in [
        "{{ $d }}",
        "{{ printf \"%v\" $d }}",
        "{{ eq $d $d }}",
        "{{ has $d (list $d) }}",
    ] {
        let (out, took) = run(body);
        // Bounded, not fast: the assertion is that it ends (within a generous minute), with
        // output no larger than the budget allows.
        assert!(
            took < std::time::Duration::from_secs(60),
            "{body}: {took:?}"
        );
        assert!(
            out.map_or(0, |o| o.len()) <= template::MAX_OUTPUT_BYTES,
            "{body}: output past the budget"
        );
    }
}
