// Oracle for template/tests/go_golden.rs: runs each case of cases.json through Go's own
// text/template (no sprig: the stdlib only) and writes what Go printed, or that it failed to
// parse or execute, to go-text-template.json. Regenerate after editing cases.json:
//
//	cd template/tests/golden && go run oracle.go
//
// The data of each case is JSON decoded into interface{}, as DRP decodes params.
package main

import (
	"bytes"
	"encoding/json"
	"os"
	"runtime"
	"text/template"
)

type testCase struct {
	Name     string          `json:"name"`
	Template string          `json:"template"`
	Data     json.RawMessage `json:"data"`
	// Optional: a template option such as "missingkey=error".
	Option string `json:"option,omitempty"`
}

type result struct {
	Name   string `json:"name"`
	Output string `json:"output,omitempty"`
	// "parse" or "exec" when Go refused the case; the message is Go's, for reference.
	Error   string `json:"error,omitempty"`
	Message string `json:"message,omitempty"`
}

func main() {
	raw, err := os.ReadFile("cases.json")
	if err != nil {
		panic(err)
	}
	var cases []testCase
	if err := json.Unmarshal(raw, &cases); err != nil {
		panic(err)
	}
	out := struct {
		Go      string   `json:"go"`
		Results []result `json:"results"`
	}{Go: runtime.Version()}
	for _, c := range cases {
		r := result{Name: c.Name}
		var data interface{}
		if len(c.Data) > 0 {
			if err := json.Unmarshal(c.Data, &data); err != nil {
				panic(err)
			}
		}
		t := template.New("t")
		if c.Option != "" {
			t = t.Option(c.Option)
		}
		t, err := t.Parse(c.Template)
		if err != nil {
			r.Error, r.Message = "parse", err.Error()
		} else {
			var buf bytes.Buffer
			if err := t.Execute(&buf, data); err != nil {
				r.Error, r.Message = "exec", err.Error()
			} else {
				r.Output = buf.String()
			}
		}
		out.Results = append(out.Results, r)
	}
	enc, _ := json.MarshalIndent(out, "", "  ")
	if err := os.WriteFile("go-text-template.json", append(enc, '\n'), 0o644); err != nil {
		panic(err)
	}
}
