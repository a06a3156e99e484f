//! Binary chart files against Helm v4's own library (helm-python-sdk): `.Files.Get` returns a
//! Go string of the file's bytes and `.Files.GetBytes` a `[]byte`, so `b64enc`, the hashes,
//! `AsSecrets`, `printf` and `quote` see every byte; bytes printed as they are fail Helm's YAML
//! parse of the manifest with go-yaml's message. Each chart renders the same templates (the
//! SDK's JSON carries invalid bytes as U+FFFD, as Gantry's text form does) and the same release
//! manifest, or fails in both.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use gantry_helm::{Request, render};

/// Bytes no UTF-8 decoder accepts (a lone 0xff, a sequence cut short, a stray continuation
/// byte, a truncated 4-byte sequence at the end) between valid text, a NUL and an `é`.
const BIN: &[u8] = b"a\x00b\xff\xe2\x82z\xc3\xa9\x80\ntail\xf0\x9f";

struct Case {
    name: &'static str,
    files: Vec<(&'static str, Vec<u8>)>,
    /// A template whose output must be exactly these bytes.
    raw: Option<(&'static str, Vec<u8>)>,
    /// Helm renders it; Gantry refuses with this text in its error (a use of the bytes Gantry
    /// does not define).
    refused: Option<&'static str>,
}

fn chart(files: &[(&'static str, Vec<u8>)]) -> Vec<(&'static str, Vec<u8>)> {
    let mut all = vec![
        (
            "Chart.yaml",
            b"apiVersion: v2\nname: bin\nversion: 0.1.0\n".to_vec(),
        ),
        ("x.bin", BIN.to_vec()),
        ("t.txt", b"plain text\n".to_vec()),
    ];
    all.extend(files.iter().cloned());
    all
}

fn cm(value: &str) -> Vec<u8> {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  v: {value}\n")
        .into_bytes()
}

fn cases() -> Vec<Case> {
    let functions = r#"get_b64: {{ .Files.Get "x.bin" | b64enc }}
sha1: {{ .Files.Get "x.bin" | sha1sum }}
sha256: {{ .Files.Get "x.bin" | sha256sum }}
sha512: {{ .Files.Get "x.bin" | sha512sum }}
adler: {{ .Files.Get "x.bin" | adler32sum }}
b32: {{ .Files.Get "x.bin" | b32enc }}
len: {{ .Files.Get "x.bin" | len }}
lenb: {{ .Files.GetBytes "x.bin" | len }}
truth: {{ if .Files.Get "x.bin" }}yes{{ end }} {{ empty (.Files.Get "x.bin") }}
default: {{ default "d" (.Files.Get "x.bin") | b64enc }}
tostr: {{ .Files.GetBytes "x.bin" | toString | b64enc }}
printfs: {{ printf "%s" (.Files.GetBytes "x.bin") | b64enc }}
printv: {{ print (.Files.Get "x.bin") 1 | b64enc }}
printw: {{ printf "%20s|%-20s|%.4s" (.Files.Get "x.bin") (.Files.Get "x.bin") (.Files.Get "x.bin") | b64enc }}
printx: {{ printf "%x %X % x" (.Files.Get "x.bin") (.Files.Get "x.bin") (.Files.GetBytes "x.bin") }}
printq: {{ printf "%q %+q %#q" (.Files.Get "x.bin") (.Files.Get "x.bin") (.Files.Get "x.bin") }}
printgo: {{ printf "%#v" (.Files.Get "x.bin") }}
bytesv: {{ .Files.GetBytes "x.bin" }}
quote: {{ .Files.Get "x.bin" | quote }}
quoteb: {{ .Files.GetBytes "x.bin" | quote }}
squote: {{ .Files.Get "x.bin" | squote | b64enc }}
json: {{ .Files.Get "x.bin" | toJson }}
rawjson: {{ .Files.Get "x.bin" | toRawJson }}
listjson: {{ list (.Files.Get "x.bin") "b" | toJson }}
pretty: {{ dict "k" (.Files.Get "x.bin") | toPrettyJson | b64enc }}
yaml: {{ .Files.Get "x.bin" | toYaml | b64enc }}
dictyaml: {{ dict "k" (.Files.Get "x.bin") | toYaml | b64enc }}
secrets: {{ .Files.AsSecrets | b64enc }}
config: {{ .Files.AsConfig | b64enc }}
glob: {{ (.Files.Glob "*.bin").AsSecrets | b64enc }}
lines: {{ .Files.Lines "x.bin" | toJson }}
b64dec: {{ "YQBi/+KCesOpgAp0YWls8J8=" | b64dec | b64enc }} {{ "/w==" | b64dec | len }}
b32dec: {{ .Files.Get "x.bin" | b32enc | b32dec | sha256sum }}
text: {{ .Files.Get "t.txt" | b64enc }} {{ .Files.Get "t.txt" | upper }}
typeof: {{ typeOf (.Files.Get "x.bin") }} {{ kindOf (.Files.Get "x.bin") }}
"#;
    let include = r#"{{- define "bin.raw" }}{{ .Files.Get "x.bin" }}{{ end -}}
inc: {{ include "bin.raw" . | b64enc }}
incsha: {{ include "bin.raw" . | sha256sum }}
"#;
    let secret = r#"apiVersion: v1
kind: Secret
metadata:
  name: files
data:
  {{- (.Files.Glob "*.bin").AsSecrets | nindent 2 }}
  one: {{ .Files.Get "x.bin" | b64enc }}
binaryData:
  two: {{ .Files.GetBytes "x.bin" | toString | b64enc }}
"#;
    let mut out = vec![
        Case {
            name: "functions",
            // comments, so that the manifest step reads them whatever they print
            files: chart(&[(
                "templates/a.yaml",
                functions
                    .lines()
                    .map(|l| format!("# {l}\n"))
                    .collect::<String>()
                    .into_bytes(),
            )]),
            raw: None,
            refused: None,
        },
        Case {
            name: "include",
            files: chart(&[("templates/i.yaml", include.as_bytes().to_vec())]),
            raw: None,
            refused: None,
        },
        Case {
            name: "secret manifest",
            files: chart(&[("templates/s.yaml", secret.as_bytes().to_vec())]),
            raw: None,
            refused: None,
        },
        Case {
            name: "getbytes to a string parameter",
            files: chart(&[(
                "templates/b.yaml",
                b"{{ .Files.GetBytes \"x.bin\" | b64enc }}\n".to_vec(),
            )]),
            raw: None,
            refused: None,
        },
        Case {
            name: "raw bytes in NOTES.txt",
            files: chart(&[
                (
                    "templates/NOTES.txt",
                    b"{{ .Files.Get \"x.bin\" }}\n".to_vec(),
                ),
                ("templates/cm.yaml", cm("ok")),
            ]),
            raw: Some(("bin/templates/NOTES.txt", [BIN, b"\n"].concat())),
            refused: None,
        },
        Case {
            name: "a string function Gantry does not define on bytes",
            files: chart(&[(
                "templates/u.yaml",
                b"{{ .Files.Get \"x.bin\" | upper | b64enc }}\n".to_vec(),
            )]),
            raw: None,
            refused: Some("upper of a string that is not valid UTF-8"),
        },
    ];
    // Bytes printed into a manifest: the engine returns them; Helm's YAML parse of the
    // document fails with the first problem go-yaml's reader meets.
    for (name, bytes) in [
        ("raw NUL and 0xff", BIN.to_vec()),
        ("raw 0xff", b"b\xffz".to_vec()),
        ("raw cut sequence", b"b\xe2\x82z".to_vec()),
        ("raw stray continuation", b"b\x80z".to_vec()),
        ("raw overlong", b"b\xc0\xafz".to_vec()),
        ("raw surrogate", b"b\xed\xa0\x80z".to_vec()),
    ] {
        let mut t = cm("\"{{ .Files.Get \"r.bin\" }}\"");
        t.extend_from_slice(b"---\n# a second document\n");
        let files = chart(&[("templates/cm.yaml", t), ("r.bin", bytes.clone())]);
        let want = [
            b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  v: \"".as_slice(),
            &bytes,
            b"\"\n---\n# a second document\n",
        ]
        .concat();
        out.push(Case {
            name,
            files,
            raw: Some(("bin/templates/cm.yaml", want)),
            refused: None,
        });
    }
    // A cut sequence at the very end of a document.
    out.push(Case {
        name: "raw cut at the end",
        files: chart(&[
            (
                "templates/cm.yaml",
                b"# {{ .Files.Get \"r.bin\" }}".to_vec(),
            ),
            ("r.bin", b"b\xf0\x9f".to_vec()),
        ]),
        raw: Some(("bin/templates/cm.yaml", b"# b\xf0\x9f".to_vec())),
        refused: None,
    });
    out
}

fn write_chart(dir: &Path, files: &[(&'static str, Vec<u8>)]) {
    for (p, b) in files {
        let path = dir.join(p);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(path, b).expect("write");
    }
}

#[test]
fn binary_files_render_like_helm_library() {
    let tmp = tempfile::tempdir().expect("a temporary folder");
    let cases = cases();
    let mut dirs = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let dir = tmp.path().join(format!("case{i}"));
        write_chart(&dir, &c.files);
        dirs.push(dir);
    }
    let req: Vec<serde_json::Value> = dirs
        .iter()
        .map(|d| serde_json::json!({"chart": d, "values": null, "manifest": true}))
        .collect();
    let results = common::helm_oracle(&req);

    let mut problems = Vec::new();
    for (c, want) in cases.iter().zip(results) {
        let chart: BTreeMap<String, Vec<u8>> = c
            .files
            .iter()
            .map(|(p, b)| ((*p).to_owned(), b.clone()))
            .collect();
        let req = common::request(chart);
        let got = render(req.clone());
        if let Some(text) = c.refused {
            match (&got, want.get("error")) {
                (Err(e), None) if e.to_string().contains(text) => {}
                (got, helm) => problems.push(format!(
                    "{}: want Gantry to refuse with {text:?} where Helm renders; Gantry: {got:?}, Helm error: {helm:?}",
                    c.name
                )),
            }
            continue;
        }
        let r = match (got, want.get("error")) {
            (Err(_), Some(_)) => continue,
            (Err(e), None) => {
                problems.push(format!("{}: Gantry failed, Helm rendered: {e}", c.name));
                continue;
            }
            (Ok(_), Some(e)) => {
                problems.push(format!("{}: Helm failed, Gantry rendered: {e}", c.name));
                continue;
            }
            (Ok(r), None) => r,
        };
        let want_t: BTreeMap<String, String> =
            serde_json::from_value(want["templates"].clone()).expect("templates");
        if want_t != r.templates {
            problems.push(format!(
                "{}: templates differ:\nHelm:   {want_t:?}\nGantry: {:?}",
                c.name, r.templates
            ));
            continue;
        }
        if let Some((path, bytes)) = &c.raw
            && r.not_utf8.get(*path) != Some(bytes)
        {
            problems.push(format!(
                "{}: {path} is not the file's bytes: {:?}",
                c.name,
                r.not_utf8.get(*path)
            ));
        }
        let ours = gantry_helm::manifest::release_manifest(&r.templates, &r.not_utf8);
        match (
            ours,
            want.get("manifest").and_then(|m| m.as_str()),
            want.get("manifest_error").and_then(|m| m.as_str()),
        ) {
            (Ok(m), Some(h), _) if m == h => {}
            (Err(e), _, Some(h)) if e.to_string() == h => {}
            (ours, h, he) => problems.push(format!(
                "{}: release manifests differ: Gantry {ours:?}, Helm {h:?} / {he:?}",
                c.name
            )),
        }
        // `helm template`'s stream fails the same way as the install's manifest.
        let stream = render(Request {
            stream: true,
            ..req
        });
        if let Some(he) = want.get("manifest_error").and_then(|m| m.as_str())
            && !matches!(&stream, Err(e) if e.to_string() == he)
        {
            problems.push(format!(
                "{}: the stream should fail with {he:?}: {stream:?}",
                c.name
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
