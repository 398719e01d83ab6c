//! Go text/template semantics, construct by construct. Expected outputs are what Go's
//! `text/template` prints for the same template over the same JSON decoded into
//! `map[string]interface{}` (so numbers are float64).

use serde_json::{json, Value};
use template::{render_json, NoTemplates, Template};

fn run(src: &str, data: Value) -> String {
    let t = Template::parse("t", src).unwrap_or_else(|e| panic!("parse {src:?}: {e}"));
    render_json(&t, &data, &NoTemplates).unwrap_or_else(|e| panic!("render {src:?}: {e}"))
}

fn run_err(src: &str, data: Value) -> String {
    let t = Template::parse("t", src).unwrap_or_else(|e| panic!("parse {src:?}: {e}"));
    match render_json(&t, &data, &NoTemplates) {
        Ok(out) => panic!("render {src:?} should fail, printed {out:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn text_and_trim_markers() {
    assert_eq!(run("plain text", json!({})), "plain text");
    assert_eq!(run("a  {{- 1 -}}  b", json!({})), "a1b");
    assert_eq!(run("a \n {{- 1}} \n b", json!({})), "a1 \n b");
    assert_eq!(run("a {{1 -}} \n\t b", json!({})), "a 1b");
    // Without the space the dash is a sign, not a trim marker.
    assert_eq!(run("a {{-3}} b", json!({})), "a -3 b");
    assert_eq!(run("x {{- /* comment */ -}} y", json!({})), "xy");
    assert_eq!(run("x{{/* a\nmulti-line comment */}}y", json!({})), "xy");
}

#[test]
fn literals() {
    assert_eq!(run(r#"{{"a\tb\u00e9\x41"}}"#, json!({})), "a\tbéA");
    assert_eq!(run(r"{{`raw\n`}}", json!({})), "raw\\n");
    assert_eq!(run("{{'a'}} {{'\\n'}}", json!({})), "97 10");
    assert_eq!(
        run("{{0x1F}} {{0o17}} {{017}} {{0b101}} {{1_000}}", json!({})),
        "31 15 15 5 1000"
    );
    assert_eq!(
        run("{{1.5}} {{1e3}} {{-2}} {{+4}} {{.5}}", json!({})),
        "1.5 1000 -2 4 0.5"
    );
    assert_eq!(run("{{true}} {{false}}", json!({})), "true false");
    assert!(run_err("{{nil}}", json!({})).contains("nil is not a command"));
}

#[test]
fn json_numbers_print_as_go_float64() {
    let data = json!({"i": 1, "f": 1.5, "big": 1000000, "mid": 123456, "small": 0.0001, "tiny": 0.00001, "neg": -3, "huge": 1.5e300});
    assert_eq!(
        run(
            "{{.i}} {{.f}} {{.big}} {{.mid}} {{.small}} {{.tiny}} {{.neg}} {{.huge}}",
            data
        ),
        "1 1.5 1e+06 123456 0.0001 1e-05 -3 1.5e+300"
    );
}

#[test]
fn pipelines_and_parentheses() {
    assert_eq!(run(r#"{{"x" | printf "%s-%s" "a"}}"#, json!({})), "a-x");
    assert_eq!(run(r#"{{len "abc" | printf "%d"}}"#, json!({})), "3");
    assert_eq!(run(r#"{{printf "%d" (len "abcd")}}"#, json!({})), "4");
    assert_eq!(run("{{(.a).b}}", json!({"a": {"b": "deep"}})), "deep");
    assert_eq!(run("{{.l | len}}", json!({"l": [1, 2]})), "2");
}

#[test]
fn variables() {
    assert_eq!(run("{{$x := 1}}{{$x}}{{$x = 2}}{{$x}}", json!({})), "12");
    assert_eq!(run("{{$x := .a}}{{$x.b}}", json!({"a": {"b": "v"}})), "v");
    assert_eq!(
        run("{{$}}", json!({"b": 2, "a": [1, "x"]})),
        "map[a:[1 x] b:2]"
    );
    // A variable declared in a block is gone after its end; one assigned keeps the value.
    assert_eq!(
        run(
            "{{$x := 1}}{{if true}}{{$x = 2}}{{$y := 3}}{{$y}}{{end}}{{$x}}",
            json!({})
        ),
        "32"
    );
    assert_eq!(
        run("{{with $v := .a}}{{$v}}{{end}}", json!({"a": "with-var"})),
        "with-var"
    );
}

#[test]
fn if_else_if_else() {
    let src = "{{if .a}}A{{else if .b}}B{{else}}C{{end}}";
    assert_eq!(run(src, json!({"a": 1})), "A");
    assert_eq!(run(src, json!({"b": true})), "B");
    assert_eq!(run(src, json!({})), "C");
}

#[test]
fn truthiness_follows_go() {
    let src = "{{if .v}}T{{else}}F{{end}}";
    for (v, want) in [
        (json!(0), "F"),
        (json!(0.5), "T"),
        (json!(""), "F"),
        (json!("0"), "T"),
        (json!([]), "F"),
        (json!([0]), "T"),
        (json!({}), "F"),
        (json!({"k": 0}), "T"),
        (json!(null), "F"),
        (json!(false), "F"),
        (json!(true), "T"),
    ] {
        assert_eq!(run(src, json!({"v": v})), want, "value {v}");
    }
    assert_eq!(run(src, json!({})), "F", "missing key");
}

#[test]
fn range_forms() {
    assert_eq!(
        run("{{range .l}}[{{.}}]{{end}}", json!({"l": [1, "a"]})),
        "[1][a]"
    );
    assert_eq!(
        run(
            "{{range $i, $e := .l}}{{$i}}={{$e}} {{end}}",
            json!({"l": ["a", "b"]})
        ),
        "0=a 1=b "
    );
    assert_eq!(
        run("{{range $e := .l}}{{$e}}{{end}}", json!({"l": ["a", "b"]})),
        "ab"
    );
    assert_eq!(
        run(
            "{{range $k, $v := .m}}{{$k}}={{$v}};{{end}}",
            json!({"m": {"b": 2, "a": 1, "c": 3}})
        ),
        "a=1;b=2;c=3;"
    );
    assert_eq!(
        run("{{range .m}}{{.}}{{end}}", json!({"m": {"z": 1, "y": 2}})),
        "21"
    );
    assert_eq!(run("{{range 3}}{{.}}{{end}}", json!({})), "012");
    assert_eq!(
        run("{{range .e}}x{{else}}none{{end}}", json!({"e": []})),
        "none"
    );
    assert_eq!(
        run("{{range .missing}}x{{else}}none{{end}}", json!({})),
        "none"
    );
    assert_eq!(
        run(
            "{{range .l}}{{if eq . 2}}{{continue}}{{end}}{{if eq . 4}}{{break}}{{end}}{{.}}{{end}}",
            json!({"l": [1, 2, 3, 4, 5]})
        ),
        "13"
    );
    assert!(run_err("{{range .s}}{{end}}", json!({"s": "abc"}))
        .contains("range can't iterate over abc"));
}

#[test]
fn with_else_with() {
    let src = "{{with .a}}a={{.}}{{else with .b}}b={{.}}{{else}}none{{end}}";
    assert_eq!(run(src, json!({"a": "x"})), "a=x");
    assert_eq!(run(src, json!({"b": "y"})), "b=y");
    assert_eq!(run(src, json!({})), "none");
}

#[test]
fn define_template_block() {
    assert_eq!(
        run(
            r#"{{define "x"}}X{{.}}{{end}}{{template "x" "y"}}"#,
            json!({})
        ),
        "Xy"
    );
    assert_eq!(
        run(r#"{{define "x"}}[{{.}}]{{end}}{{template "x"}}"#, json!({})),
        "[<no value>]"
    );
    assert_eq!(
        run(r#"{{block "b" .v}}default {{.}}{{end}}"#, json!({"v": 7})),
        "default 7"
    );
    // Two definitions of a name in one text are refused, as in Go; an empty one is ignored.
    let err = Template::parse(
        "t",
        r#"{{block "b" .}}first{{end}}{{define "b"}}second{{end}}"#,
    )
    .unwrap_err();
    assert_eq!(
        err.message,
        "template: multiple definition of template \"b\""
    );
    assert_eq!(
        run(
            r#"{{define "x"}}full{{end}}{{define "x"}} {{end}}{{template "x"}}"#,
            json!({})
        ),
        "full"
    );
    // `$` inside a called template is the value passed to it.
    assert_eq!(
        run(
            r#"{{define "d"}}{{$.k}}{{end}}{{template "d" .m}}"#,
            json!({"m": {"k": "inner"}})
        ),
        "inner"
    );
    assert!(
        run_err(r#"{{template "nope" .}}"#, json!({})).contains("template \"nope\" not defined")
    );
}

#[test]
fn field_chains_and_missing_keys() {
    let data = json!({"a": {"b": {"c": "deep"}}, "n": null, "s": "str"});
    assert_eq!(run("{{.a.b.c}}", data.clone()), "deep");
    assert_eq!(run("{{.nope}}", data.clone()), "<no value>");
    assert_eq!(run("{{.nope.deeper}}", data.clone()), "<no value>");
    assert_eq!(run("{{.n}}", data.clone()), "<no value>");
    assert_eq!(run("{{print .nope}}", data.clone()), "<nil>");
    assert!(run_err("{{.n.x}}", data.clone()).contains("nil pointer evaluating interface {}.x"));
    assert!(run_err("{{.s.x}}", data.clone()).contains("can't evaluate field x in type string"));
    assert!(run_err("{{.a.b 1}}", data).contains("b is not a method but has arguments"));
}

#[test]
fn comparison_builtins() {
    assert_eq!(
        run(
            "{{and 1 0 2}} {{and 1 2}} {{or 0 \"\" \"x\"}} {{or 0 false}}",
            json!({})
        ),
        "0 2 x false"
    );
    assert_eq!(run("{{not 0}} {{not .l}}", json!({"l": [1]})), "true false");
    assert_eq!(
        run("{{eq 1 2 3 1}} {{eq \"a\" \"b\"}} {{ne 1 2}}", json!({})),
        "true false true"
    );
    assert_eq!(
        run(
            "{{lt 1 2}} {{le 2 2}} {{gt \"b\" \"a\"}} {{ge 1 2}}",
            json!({})
        ),
        "true true true false"
    );
    assert_eq!(run("{{eq .n 3}} {{lt .n 4}}", json!({"n": 3})), "true true");
    assert!(run_err("{{eq \"a\" 1}}", json!({})).contains("incompatible types for comparison"));
    assert!(run_err("{{lt true false}}", json!({})).contains("invalid type for comparison"));
    // and/or stop at the deciding argument: the failing call is never made.
    assert_eq!(run("{{or 1 (index .l 5)}}", json!({"l": []})), "1");
}

#[test]
fn len_index_slice() {
    let data = json!({"l": ["a", "b", "c"], "m": {"k": {"x": 9}}, "s": "hello"});
    assert_eq!(
        run("{{len .l}} {{len .m}} {{len .s}}", data.clone()),
        "3 1 5"
    );
    assert_eq!(
        run(
            "{{index .l 1}} {{index .m \"k\" \"x\"}} {{index .s 1}}",
            data.clone()
        ),
        "b 9 101"
    );
    assert_eq!(run("{{index .m \"none\"}}", data.clone()), "<no value>");
    // DRP's function map has sprig's slice in place of Go's: lists only, JSON numbers as
    // indexes (flexiflow slices Machine.Tasks at CurrentTask), an empty list gives nil.
    assert_eq!(
        run(
            "{{slice .l 1}} {{slice .l 0 2}} {{slice .l}} {{slice .l 0 .n}} {{slice .e}}",
            json!({"l": ["a", "b", "c"], "n": 1, "e": []})
        ),
        "[b c] [a b] [a b c] [a] <no value>"
    );
    assert!(run_err("{{index .l 5}}", data.clone()).contains("index out of range: 5"));
    assert!(run_err("{{slice .l 2 1}}", data.clone()).contains("slice bounds out of range [2:1]"));
    assert!(run_err("{{slice .s 1 3}}", data)
        .contains("list should be type of slice or array but string"));
}

#[test]
fn print_family_and_escapers() {
    assert_eq!(run(r#"{{print 1 2 "a" 3 "b" "c"}}"#, json!({})), "1 2a3bc");
    assert_eq!(run(r#"{{println 1 "a"}}"#, json!({})), "1 a\n");
    assert_eq!(
        run(r#"{{html "<a href='x'>&\"</a>"}}"#, json!({})),
        "&lt;a href=&#39;x&#39;&gt;&amp;&#34;&lt;/a&gt;"
    );
    assert_eq!(
        run(r#"{{js "a'b\"<>&="}}"#, json!({})),
        r#"a\'b\"\u003C\u003E\u0026\u003D"#
    );
    assert_eq!(
        run(r#"{{urlquery "a b&c=d/é"}}"#, json!({})),
        "a+b%26c%3Dd%2F%C3%A9"
    );
    assert!(run_err("{{call 1}}", json!({})).contains("error calling call"));
}

#[test]
fn printf_verbs() {
    assert_eq!(
        run(
            r#"{{printf "%s|%d|%v|%q|%x|%X|%t|%%|%f|%.2f|%e|%g" "s" 42 .f "q\n" 255 "hi" true 3.5 3.14159 1234.5 .f}}"#,
            json!({"f": 0.25})
        ),
        "s|42|0.25|\"q\\n\"|ff|6869|true|%|3.500000|3.14|1.234500e+03|0.25"
    );
    assert_eq!(
        run(
            r#"{{printf "[%5d|%-5s|%05.1f|%+d|%5.1s]" 42 "ab" 3.14159 7 "xyz"}}"#,
            json!({})
        ),
        "[   42|ab   |003.1|+7|    x]"
    );
    assert_eq!(
        run(
            r#"{{printf "%v %v %v" .l .m .n}}"#,
            json!({"l": [1, "a"], "m": {"k": true}, "n": null})
        ),
        "[1 a] map[k:true] <nil>"
    );
    assert_eq!(run(r#"{{printf "%d" "x"}}"#, json!({})), "%!d(string=x)");
    assert_eq!(
        run(r#"{{printf "%d" .f}}"#, json!({"f": 1})),
        "%!d(float64=1)"
    );
    assert_eq!(
        run(r#"{{printf "%s %s" "a"}}"#, json!({})),
        "a %!s(MISSING)"
    );
    assert_eq!(
        run(r#"{{printf "%s" "a" "b"}}"#, json!({})),
        "a%!(EXTRA string=b)"
    );
    assert_eq!(run(r#"{{printf "%s" .missing}}"#, json!({})), "%!s(<nil>)");
    assert_eq!(run(r#"{{printf "%c%c" 72 105}}"#, json!({})), "Hi");
}

#[test]
fn sprig_dicts_and_lists() {
    assert_eq!(
        run(
            r#"{{$d := dict "a" 1 "b" "x"}}{{$_ := set $d "c" 3}}{{get $d "c"}} {{hasKey $d "a"}} {{get $d "zz"}}|{{len $d}}"#,
            json!({})
        ),
        "3 true |3"
    );
    assert_eq!(
        run(
            r#"{{$l := list 1 "a" 1 2}}{{uniq $l}} {{first $l}} {{last $l}} {{rest $l}}"#,
            json!({})
        ),
        "[1 a 2] 1 2 [a 1 2]"
    );
    assert_eq!(
        run(r#"{{concat (list 1) (list 2 3) | len}}"#, json!({})),
        "3"
    );
    assert_eq!(run(r#"{{first (list)}}"#, json!({})), "<no value>");
    assert_eq!(
        run(r#"{{keys .m | join ","}}"#, json!({"m": {"b": 1, "a": 2}})),
        "a,b"
    );
    assert_eq!(
        run(
            r#"{{toJson .m}}"#,
            json!({"m": {"b": "<x>&", "a": [1, 2.5, null]}})
        ),
        r#"{"a":[1,2.5,null],"b":"\u003cx\u003e\u0026"}"#
    );
}

#[test]
fn sprig_paths_digests_and_variadics() {
    assert_eq!(
        run(
            r#"{{base "/a/b.tar.gz"}} {{dir "/a/b/c"}} {{clean "a/../b/./c//"}} {{ext "x/y.sh"}} {{isAbs "/x"}}"#,
            json!({})
        ),
        "b.tar.gz /a/b b/c .sh true"
    );
    assert_eq!(
        run(r#"{{sha256sum "abc"}}"#, json!({})),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        run(
            r#"{{mul 2 3 4}} {{substr 1 3 "hello"}} {{substr -1 2 "hello"}} {{substr 2 99 "hello"}}"#,
            json!({})
        ),
        "24 el he llo"
    );
    assert_eq!(
        run(
            r#"{{deepEqual (list 1 (dict "a" 2)) (list 1 (dict "a" 2))}} {{trimall "$" "$$x$"}}"#,
            json!({})
        ),
        "true x"
    );
}

#[test]
fn sprig_strings_and_math() {
    assert_eq!(
        run(
            r#"{{(split "," "a,b,c")._1}} {{splitList "," "a,b" | len}}"#,
            json!({})
        ),
        "b 2"
    );
    assert_eq!(
        run(
            r#"{{cat "a" nil "b" 1}}|{{join "-" (list "x" 1 nil)}}"#,
            json!({})
        ),
        "a b 1|x-1"
    );
    assert_eq!(
        run(
            r#"{{trim "  x \n"}}|{{lower "AbC"}}|{{upper "abc"}}|{{replace "a" "b" "banana"}}"#,
            json!({})
        ),
        "x|abc|ABC|bbnbnb"
    );
    assert_eq!(
        run(
            r#"{{contains "an" "banana"}} {{hasPrefix "ba" "banana"}} {{trimSuffix ".sh" "x.sh"}}"#,
            json!({})
        ),
        "true true x"
    );
    assert_eq!(
        run(
            r#"{{regexMatch "^a.c$" "abc"}} {{regexFind "[0-9]+" "ab123cd45"}} {{regexMatch "(" "x"}}"#,
            json!({})
        ),
        "true 123 false"
    );
    assert_eq!(
        run(
            r#"{{add 1 2 "3"}} {{sub 5 2}} {{mul 2 .n}} {{div 7 2}} {{add1 .n}}"#,
            json!({"n": 4})
        ),
        "6 3 8 3 5"
    );
    assert_eq!(
        run(
            r#"{{float64 "1.5"}} {{toString 1.5}} {{.v | toString | printf "%q"}}"#,
            json!({"v": 3})
        ),
        "1.5 1.5 \"3\""
    );
    assert_eq!(
        run(
            r#"{{default "d" .missing}} {{default "d" ""}} {{default "d" "set"}} {{.missing | default "p"}}"#,
            json!({})
        ),
        "d d set p"
    );
    assert_eq!(
        run(
            r#"{{empty ""}} {{empty 0}} {{empty .l}} {{empty "x"}}"#,
            json!({"l": []})
        ),
        "true true true false"
    );
    assert_eq!(
        run(
            r#"{{indent 2 "a\nb"}}|{{nindent 1 "c"}}|{{quote "x" 1}}|{{squote "y"}}"#,
            json!({})
        ),
        "  a\n  b|\n c|\"x\" \"1\"|'y'"
    );
    assert_eq!(
        run(
            r#"{{b64enc "hi"}} {{b64dec "aGk="}} {{ternary "y" "n" true}}"#,
            json!({})
        ),
        "aGk= hi y"
    );
    assert!(run_err(r#"{{trim 3}}"#, json!({})).contains("expected string; got int"));
    assert!(run_err(r#"{{div 1 0}}"#, json!({})).contains("integer divide by zero"));
}

#[test]
fn parsed_templates_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Template>();
    assert_send_sync::<template::ParseError>();
    assert_send_sync::<template::RenderError>();
    assert_send_sync::<template::drp::DrpContext>();
    let t = std::sync::Arc::new(Template::parse("t", "{{.a}}").unwrap());
    let handle = {
        let t = t.clone();
        std::thread::spawn(move || render_json(&t, &json!({"a": "x"}), &NoTemplates).unwrap())
    };
    assert_eq!(handle.join().unwrap(), "x");
}
