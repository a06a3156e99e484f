//! `helm template`'s output: CRDs from `crds/` first, then the rendered manifests split into
//! documents and sorted by kind in Helm's install order, then hooks (tests left out), each
//! document under a `# Source:` comment.

use std::collections::BTreeMap;

use crate::HelmError;
use crate::ahead::{ParseAhead, Shared};
use crate::chart::{Chart, fields, name_matches, scalar_string, set_string};
use crate::yaml::{Head as Built, YVal, YamlLimits, parse_head};

const INSTALL_ORDER: &[&str] = &[
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

const HOOK_EVENTS: &[&str] = &[
    "pre-install",
    "post-install",
    "pre-delete",
    "post-delete",
    "pre-upgrade",
    "post-upgrade",
    "pre-rollback",
    "post-rollback",
    "test",
    "test-success",
];

/// One document of the output.
#[derive(Debug, Clone)]
pub struct Doc {
    /// The template path (`# Source:`).
    pub source: String,
    /// The document's text.
    pub content: String,
    /// Its kind.
    pub kind: String,
}

/// Helm v4.2's `SplitManifests`: documents separated by `---` at the start of the text or
/// after a line break, the separator taking the surrounding white space with it.
pub fn split_manifests(big: &str) -> Vec<String> {
    let sep = separator();
    let trimmed = big.trim_start();
    let mut docs = Vec::new();
    let mut beg = 0;
    for m in sep.find_iter(trimmed) {
        if m.end() != 0 {
            docs.push(&trimmed[beg..m.start()]);
        }
        beg = m.end();
    }
    if beg != trimmed.len() || docs.is_empty() {
        docs.push(&trimmed[beg..]);
    }
    docs.into_iter()
        .filter(|d| !d.trim().is_empty())
        .map(|d| d.trim_start().to_owned())
        .collect()
}

fn separator() -> &'static regex::Regex {
    static SEP: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    SEP.get_or_init(|| {
        regex::Regex::new(r"(?:^|[\t\n\x0c\r ]*\n)---[\t\n\x0c\r ]*")
            .unwrap_or_else(|e| panic!("separator: {e}"))
    })
}

/// [`split_manifests`] on the bytes of a template whose output is not valid UTF-8: the same
/// documents, as bytes, in order.
fn split_manifests_bytes(big: &[u8]) -> Vec<Vec<u8>> {
    static SEP: std::sync::OnceLock<regex::bytes::Regex> = std::sync::OnceLock::new();
    let sep = SEP.get_or_init(|| {
        regex::bytes::Regex::new(separator().as_str()).unwrap_or_else(|e| panic!("separator: {e}"))
    });
    let trimmed = trim_start_bytes(big);
    let mut docs = Vec::new();
    let mut beg = 0;
    for m in sep.find_iter(trimmed) {
        if m.end() != 0 {
            docs.push(&trimmed[beg..m.start()]);
        }
        beg = m.end();
    }
    if beg != trimmed.len() || docs.is_empty() {
        docs.push(&trimmed[beg..]);
    }
    docs.into_iter()
        .filter(|d| match std::str::from_utf8(d) {
            Ok(t) => !t.trim().is_empty(),
            Err(_) => true,
        })
        .map(|d| trim_start_bytes(d).to_vec())
        .collect()
}

/// Go's `strings.TrimLeftFunc(s, unicode.IsSpace)` on bytes (an invalid byte is not space).
fn trim_start_bytes(b: &[u8]) -> &[u8] {
    let mut at = 0;
    for chunk in b.utf8_chunks() {
        let v = chunk.valid();
        let t = v.trim_start();
        at += v.len() - t.len();
        if !t.is_empty() || !chunk.invalid().is_empty() {
            break;
        }
    }
    &b[at..]
}

/// The error go-yaml's reader (yaml.v2, which Helm's sort parses each document with) stops at
/// in a document that is not valid UTF-8, checking characters in order as it decodes them.
fn yaml_reader_error(b: &[u8]) -> Option<&'static str> {
    let mut i = 0;
    while i < b.len() {
        let o = b[i];
        let width = if o & 0x80 == 0 {
            1
        } else if o & 0xE0 == 0xC0 {
            2
        } else if o & 0xF0 == 0xE0 {
            3
        } else if o & 0xF8 == 0xF0 {
            4
        } else {
            return Some("invalid leading UTF-8 octet");
        };
        let mut value: u32 = match width {
            1 => u32::from(o & 0x7F),
            2 => u32::from(o & 0x1F),
            3 => u32::from(o & 0x0F),
            _ => u32::from(o & 0x07),
        };
        for k in 1..width {
            let Some(&t) = b.get(i + k) else {
                return Some("incomplete UTF-8 octet sequence");
            };
            if t & 0xC0 != 0x80 {
                return Some("invalid trailing UTF-8 octet");
            }
            value = (value << 6) + u32::from(t & 0x3F);
        }
        let shortest = match width {
            1 => true,
            2 => value >= 0x80,
            3 => value >= 0x800,
            _ => value >= 0x10000,
        };
        if !shortest {
            return Some("invalid length of a UTF-8 sequence");
        }
        if (0xD800..=0xDFFF).contains(&value) || value > 0x10FFFF {
            return Some("invalid Unicode character");
        }
        let allowed = matches!(value, 0x09 | 0x0A | 0x0D | 0x20..=0x7E | 0x85 | 0xA0..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF);
        if !allowed {
            return Some("control characters are not allowed");
        }
        i += width;
    }
    None
}

struct Head {
    kind: String,
    annotations: Option<BTreeMap<String, String>>,
}

/// Helm's `util.SimpleHead`: the fields its sort reads of each document, by their JSON names,
/// which are all [`head`] decodes and all the head build keeps.
pub(crate) const SIMPLE_HEAD: Built = Built {
    fields: &[API_VERSION, KIND, METADATA],
    nested: METADATA,
    nested_fields: &[NAME, ANNOTATIONS],
};
const API_VERSION: &str = "apiVersion";
const KIND: &str = "kind";
const METADATA: &str = "metadata";
const NAME: &str = "name";
const ANNOTATIONS: &str = "annotations";

fn head(doc: &str, path: &str) -> Result<Head, HelmError> {
    let err = |m: String| HelmError::Template(format!("YAML parse error on {path}: {m}"));
    let docs = parse_head(doc, YamlLimits::default(), SIMPLE_HEAD)
        .map_err(|e| err(format!("error converting YAML to JSON: {}", e.msg)))?;
    let y = docs.into_iter().next().unwrap_or(YVal::Null);
    let fs = fields(&y, "util.SimpleHead")
        .map_err(|e| err(format!("error unmarshaling JSON: while decoding JSON: {e}")))?;
    let mut h = Head {
        kind: String::new(),
        annotations: None,
    };
    for (k, v) in fs {
        if name_matches(&k, API_VERSION) {
            // `SimpleHead.Version` is read as a string: only its type can fail.
            set_string(&mut String::new(), v, "SimpleHead", "apiVersion")
                .map_err(|e| err(format!("error unmarshaling JSON: while decoding JSON: {e}")))?;
        } else if name_matches(&k, KIND) {
            set_string(&mut h.kind, v, "SimpleHead", "kind")
                .map_err(|e| err(format!("error unmarshaling JSON: while decoding JSON: {e}")))?;
        } else if name_matches(&k, METADATA) {
            let mfs = fields(v, "struct { Name string \"json:\\\"name\\\"\"; Annotations map[string]string \"json:\\\"annotations\\\"\" }")
                .map_err(|e| err(format!("error unmarshaling JSON: while decoding JSON: {e}")))?;
            for (mk, mv) in mfs {
                if name_matches(&mk, NAME) {
                    // A field of an anonymous struct: Go names it from the top.
                    set_string(&mut String::new(), mv, "", "metadata.name").map_err(|e| {
                        err(format!("error unmarshaling JSON: while decoding JSON: {e}"))
                    })?;
                } else if name_matches(&mk, ANNOTATIONS) {
                    h.annotations = match &mv {
                        YVal::Null => None,
                        YVal::Map(entries) => {
                            let mut out = BTreeMap::new();
                            for (ak, av) in entries {
                                let ak = crate::yaml::key_string(ak, av).map_err(err)?;
                                let av = match av {
                                    YVal::Null => String::new(),
                                    other => scalar_string(other).ok_or_else(|| {
                                        err(format!(
                                            "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go struct field .metadata.annotations of type string",
                                            crate::yaml::json_kind(other)
                                        ))
                                    })?,
                                };
                                out.insert(ak, av);
                            }
                            Some(out)
                        }
                        other => {
                            return Err(err(format!(
                                "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go struct field .metadata.annotations of type map[string]string",
                                crate::yaml::json_kind(other)
                            )));
                        }
                    };
                }
            }
        }
    }
    Ok(h)
}

fn kind_rank(k: &str) -> Option<usize> {
    INSTALL_ORDER.iter().position(|x| *x == k)
}

fn sort_by_kind(docs: &mut [Doc]) {
    docs.sort_by(|a, b| {
        use std::cmp::Ordering;
        match (kind_rank(&a.kind), kind_rank(&b.kind)) {
            (None, None) => a.kind.cmp(&b.kind),
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(x), Some(y)) => x.cmp(&y),
        }
    });
}

/// The manifests and hooks (test hooks dropped) of rendered templates, sorted as Helm sorts
/// them.
///
/// `not_utf8` holds the bytes of the templates whose output is not valid UTF-8 (their entry in
/// `templates` has U+FFFD for each invalid byte): a document of one fails as Helm's YAML parse
/// of it does.
pub fn sort_manifests(
    templates: &BTreeMap<String, String>,
    not_utf8: &BTreeMap<String, Vec<u8>>,
) -> Result<(Vec<Doc>, Vec<Doc>), HelmError> {
    sort_filed(
        templates
            .iter()
            .filter(|(path, content)| !left_out(path, content))
            .map(|(path, content)| file_template(path, content, not_utf8.get(path))),
    )
}

/// [`sort_manifests`], the templates filed by this thread and the parse helper together
/// ([`ParseAhead::lend`]): reading each document's head is a YAML parse of the whole output, a
/// third of the 1,000-template chart's render (92M of 283M instructions), done on one thread
/// while the helper, its parsing done, waited for the end. The templates' texts are lent to it
/// and put back.
fn sort_manifests_lent(
    templates: &mut BTreeMap<String, String>,
    not_utf8: &BTreeMap<String, Vec<u8>>,
    ahead: &ParseAhead,
) -> Result<(Vec<Doc>, Vec<Doc>), HelmError> {
    type Texts = Vec<(String, String, Option<Vec<u8>>)>;
    let lent: Texts = templates
        .iter_mut()
        .filter(|(path, content)| !left_out(path, content))
        .map(|(path, content)| {
            let raw = not_utf8.get(path).cloned();
            (path.clone(), std::mem::take(content), raw)
        })
        .collect();
    let n = lent.len();
    let (lent, filed) = ahead.lend(Shared::new(lent, n, |lent: &Texts, i| {
        let (path, content, raw) = &lent[i];
        file_template(path, content, raw.as_ref())
    }));
    let mut back = lent.into_iter().peekable();
    for (path, content) in templates.iter_mut() {
        if let Some((_, text, _)) = back.next_if(|(p, ..)| p == path) {
            *content = text;
        }
    }
    sort_filed(filed.into_iter())
}

/// Whether a template's output is left out of the manifests: a partial, the notes, or empty.
fn left_out(path: &str, content: &str) -> bool {
    let base = path.rsplit('/').next().unwrap_or(path);
    base.starts_with('_') || path.ends_with("NOTES.txt") || content.trim().is_empty()
}

/// A document of a template's output, as [`sort_manifests`] files it.
enum Filed {
    Manifest(Doc),
    Hook(Doc),
}

/// The documents of the template `path` whose output is `content` (its bytes `raw` when they
/// are not UTF-8), in order, each a manifest or a hook; a document with a hook Helm does not
/// know, or a test hook, is left out.
fn file_template(
    path: &str,
    content: &str,
    raw: Option<&Vec<u8>>,
) -> Result<Vec<Filed>, HelmError> {
    let docs = match raw {
        None => split_manifests(content),
        Some(raw) => {
            let mut docs = Vec::new();
            for d in split_manifests_bytes(raw) {
                match String::from_utf8(d) {
                    Ok(t) => docs.push(t),
                    Err(e) => {
                        let msg = yaml_reader_error(e.as_bytes())
                            .unwrap_or("invalid leading UTF-8 octet");
                        return Err(HelmError::Template(format!(
                            "YAML parse error on {path}: error converting YAML to JSON: yaml: {msg}"
                        )));
                    }
                }
            }
            docs
        }
    };
    let mut filed = Vec::with_capacity(docs.len());
    for doc in docs {
        let h = head(&doc, path)?;
        let hook = h
            .annotations
            .as_ref()
            .and_then(|a| a.get("helm.sh/hook").cloned());
        let d = Doc {
            source: path.to_owned(),
            content: doc,
            kind: h.kind,
        };
        let Some(hook_types) = hook else {
            filed.push(Filed::Manifest(d));
            continue;
        };
        let events: Vec<String> = hook_types
            .split(',')
            .map(|e| e.trim().to_lowercase())
            .collect();
        if events.iter().any(|e| !HOOK_EVENTS.contains(&e.as_str())) {
            // Helm skips a document with an unknown hook.
            continue;
        }
        if events.iter().any(|e| e == "test" || e == "test-success") {
            continue;
        }
        filed.push(Filed::Hook(d));
    }
    Ok(filed)
}

/// The manifests and hooks of templates filed in path order, sorted by kind; the first
/// template that failed fails them all, as Helm stops at it.
fn sort_filed(
    filed: impl Iterator<Item = Result<Vec<Filed>, HelmError>>,
) -> Result<(Vec<Doc>, Vec<Doc>), HelmError> {
    let mut manifests = Vec::new();
    let mut hooks = Vec::new();
    for docs in filed {
        for d in docs? {
            match d {
                Filed::Manifest(d) => manifests.push(d),
                Filed::Hook(d) => hooks.push(d),
            }
        }
    }
    sort_by_kind(&mut manifests);
    sort_by_kind(&mut hooks);
    Ok((manifests, hooks))
}

/// The release manifest Helm's install builds (`rel.Manifest`, without CRDs or hooks).
pub fn release_manifest(
    templates: &BTreeMap<String, String>,
    not_utf8: &BTreeMap<String, Vec<u8>>,
) -> Result<String, HelmError> {
    let (manifests, _) = sort_manifests(templates, not_utf8)?;
    let mut out = String::new();
    for m in &manifests {
        push_doc(&mut out, &m.source, &m.content);
    }
    Ok(out)
}

/// `helm template --include-crds --skip-tests` output; with `ahead`, the templates are filed
/// with its helper's help ([`sort_manifests_lent`]), their texts lent to it and put back.
pub fn template_stream(
    chart: &Chart,
    templates: &mut BTreeMap<String, String>,
    not_utf8: &BTreeMap<String, Vec<u8>>,
    ahead: Option<&ParseAhead>,
) -> Result<String, HelmError> {
    let (manifests, hooks) = match ahead {
        Some(a) => sort_manifests_lent(templates, not_utf8, a)?,
        None => sort_manifests(templates, not_utf8)?,
    };
    let objects = chart.crd_objects(&chart.metadata.name);
    let mut crds = Vec::with_capacity(objects.len());
    for (name, data) in &objects {
        let text = std::str::from_utf8(data).map_err(|_| {
            HelmError::Unsupported(format!(
                "{name} is not valid UTF-8 (not supported by Gantry)"
            ))
        })?;
        crds.push((name.as_str(), text));
    }
    // Written once into a string of its final size: each document was formatted apart, then
    // the whole copied again to trim it, fresh memory each time.
    const SOURCE: usize = "---\n# Source: \n\n".len();
    let size: usize = crds
        .iter()
        .map(|(n, t)| SOURCE + n.len() + t.len())
        .chain(
            manifests
                .iter()
                .chain(&hooks)
                .map(|d| SOURCE + d.source.len() + d.content.len()),
        )
        .sum::<usize>()
        + 1;
    let mut out = String::with_capacity(size);
    for (name, text) in &crds {
        push_doc(&mut out, name, text);
    }
    for m in &manifests {
        push_doc(&mut out, &m.source, &m.content);
    }
    // The CRDs and manifests are trimmed as one (each starts with `---`: only the end is).
    out.truncate(out.trim_end().len());
    out.push('\n');
    for h in &hooks {
        push_doc(&mut out, &h.source, &h.content);
    }
    Ok(out)
}

/// Appends a document of the stream under its `# Source:` comment.
fn push_doc(out: &mut String, source: &str, text: &str) {
    for part in ["---\n# Source: ", source, "\n", text, "\n"] {
        out.push_str(part);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Helm reads each document into `SimpleHead`, whose `apiVersion`, `kind` and
    /// `metadata.name` are strings: a scalar of any type becomes one (sigs.k8s.io/yaml converts
    /// it for a string field), a list or a map is encoding/json's type error, named by the field.
    #[test]
    fn a_head_s_strings_are_strings() {
        let words = |doc: &str| match head(doc, "c/templates/t.yaml") {
            Ok(h) => format!("ok {}", h.kind),
            Err(e) => e.to_string(),
        };
        let prefix = "YAML parse error on c/templates/t.yaml: error unmarshaling JSON: while \
                      decoding JSON: json: cannot unmarshal";
        for (doc, want) in [
            (
                "apiVersion: 5\nkind: 1.5\nmetadata:\n  name: true\n",
                "ok 1.5".to_owned(),
            ),
            (
                "apiVersion:\nkind: K\nmetadata:\n  name: ~\n",
                "ok K".to_owned(),
            ),
            (
                "apiVersion: [v1]\nkind: K\n",
                format!("{prefix} array into Go struct field SimpleHead.apiVersion of type string"),
            ),
            (
                "ApiVersion: {a: b}\n",
                format!(
                    "{prefix} object into Go struct field SimpleHead.apiVersion of type string"
                ),
            ),
            (
                "kind: K\nmetadata:\n  name:\n    a: b\n",
                format!("{prefix} object into Go struct field .metadata.name of type string"),
            ),
            (
                "kind: K\nmetadata:\n  Name: [x]\n",
                format!("{prefix} array into Go struct field .metadata.name of type string"),
            ),
        ] {
            assert_eq!(words(doc), want, "{doc:?}");
        }
    }

    #[test]
    fn splits_like_helm() {
        assert_eq!(
            split_manifests("\n\na: 1\n---\nb: 2\n--- \n---x: 3\n"),
            vec!["a: 1", "b: 2", "---x: 3\n"]
        );
        assert_eq!(split_manifests("a: 1\n  ---\n"), vec!["a: 1\n  ---\n"]);
        assert_eq!(
            split_manifests("---\na: 1\n\n---\n\n  b: 2\n"),
            vec!["a: 1", "b: 2\n"]
        );
    }

    /// Filed with the helper's help, the manifests are those filed alone (the same first
    /// error too), and the templates' texts are all put back.
    #[test]
    fn templates_filed_with_help_are_those_filed_alone() {
        let mut files: BTreeMap<String, Vec<u8>> = [
            ("Chart.yaml", "apiVersion: v2\nname: c\nversion: 1.0.0\n"),
            ("values.schema.json", "{}"),
        ]
        .into_iter()
        .map(|(p, t)| (p.to_owned(), t.as_bytes().to_vec()))
        .collect();
        let ahead = ParseAhead::collect(&mut files).expect("a schema is worth a helper");
        let hook = |h: &str| {
            format!("kind: Job\nmetadata:\n  name: j\n  annotations:\n    helm.sh/hook: {h}\n")
        };
        let mut templates: BTreeMap<String, String> = [
            ("c/templates/_helpers.tpl", "kind: Nothing".to_owned()),
            ("c/templates/NOTES.txt", "kind: Nothing".to_owned()),
            ("c/templates/empty.yaml", " \n".to_owned()),
            (
                "c/templates/svc.yaml",
                "kind: Service\n---\nkind: ConfigMap\n".to_owned(),
            ),
            ("c/templates/job.yaml", hook("pre-install,post-upgrade")),
            ("c/templates/test.yaml", hook("test")),
            ("c/templates/odd.yaml", hook("sometime")),
            ("c/templates/ns.yaml", "kind: Namespace\n".to_owned()),
        ]
        .into_iter()
        .map(|(p, t)| (p.to_owned(), t))
        .collect();
        let none = BTreeMap::new();
        let summary = |r: Result<(Vec<Doc>, Vec<Doc>), HelmError>| {
            r.map(|(m, h)| {
                [m, h].map(|docs| {
                    docs.into_iter()
                        .map(|d| format!("{} {} {}", d.source, d.kind, d.content))
                        .collect::<Vec<_>>()
                })
            })
            .map_err(|e| e.to_string())
        };
        let before = templates.clone();
        let alone = summary(sort_manifests(&templates, &none));
        assert_eq!(alone.as_ref().map(|[m, h]| (m.len(), h.len())), Ok((3, 1)));
        assert_eq!(
            summary(sort_manifests_lent(&mut templates, &none, &ahead)),
            alone
        );
        assert_eq!(templates, before);

        templates.insert("c/templates/bad.yaml".into(), "kind: [\n".into());
        templates.insert("c/templates/worse.yaml".into(), "kind: {\n".into());
        let before = templates.clone();
        let alone = summary(sort_manifests(&templates, &none));
        assert!(
            alone.as_ref().is_err_and(|e| e.contains("bad.yaml")),
            "{alone:?}"
        );
        assert_eq!(
            summary(sort_manifests_lent(&mut templates, &none, &ahead)),
            alone
        );
        assert_eq!(templates, before);
    }
}
