//! Safety rules: reads stay inside the repository, remote and unsupported features are refused
//! by name, limits give clear errors, errors name the file and line, Helm fails cleanly.

use std::time::Duration;

use gantry_render::{
    DirFs, ExternalHelm, Limits, LoadRestrictor, MemFs, RenderError, RenderOptions, render,
};

fn mem(files: &[(&str, &str)]) -> MemFs {
    let mut fs = MemFs::new();
    for (p, c) in files {
        fs.insert(p, c.as_bytes().to_vec());
    }
    fs
}

fn err(fs: &dyn gantry_render::FileSystem, dir: &str, opts: &RenderOptions) -> RenderError {
    match render(fs, dir, opts, None) {
        Ok(r) => panic!("expected an error, got {}", r.to_yaml()),
        Err(e) => e,
    }
}

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n";

#[test]
fn parent_escape_is_refused() {
    let fs = mem(&[(
        "app/kustomization.yaml",
        "resources:\n- ../../secret.yaml\n",
    )]);
    let e = err(&fs, "app", &RenderOptions::default());
    assert!(matches!(e, RenderError::Escapes { .. }), "{e}");
}

#[test]
fn escapes_name_the_kustomization_and_line() {
    let fs = mem(&[
        ("repo/base/cm.yaml", CM),
        ("repo/base/kustomization.yaml", "resources:\n- cm.yaml\n"),
        (
            "repo/apps/web/kustomization.yaml",
            "namePrefix: x-\nresources:\n- ../../../outside\n",
        ),
        ("outside/kustomization.yaml", "resources: []\n"),
    ]);
    let opts = RenderOptions {
        confine_to: Some("repo".into()),
        ..Default::default()
    };
    let e = err(&fs, "repo/apps/web", &opts);
    assert_eq!(
        e.to_string(),
        "/repo/apps/web/kustomization.yaml:3: '../../../outside' is outside the root '/repo'"
    );
    // Without the confinement the same base is read, as kustomize reads it.
    let r = render(&fs, "repo/apps/web", &RenderOptions::default(), None).expect("renders");
    assert!(r.objects.is_empty());
}

#[test]
fn a_kustomizations_own_files_lie_below_its_folder() {
    let fs = mem(&[
        ("base/cm.yaml", CM),
        ("base/kustomization.yaml", "resources:\n- cm.yaml\n"),
        ("overlay/kustomization.yaml", "resources:\n- ../base\n"),
        ("bad/kustomization.yaml", "resources:\n- ../base/cm.yaml\n"),
        (
            "badpatch/kustomization.yaml",
            "resources:\n- ../base\npatches:\n- path: ../base/cm.yaml\n",
        ),
    ]);
    // A base anywhere is fine (kustomize's LoadRestrictionsRootOnly).
    let r = render(&fs, "overlay", &RenderOptions::default(), None).expect("renders");
    assert_eq!(r.objects.len(), 1);
    // A file of its own outside its folder is not.
    assert_eq!(
        err(&fs, "bad", &RenderOptions::default()).to_string(),
        "accumulating resources: accumulation err='accumulating resources from '../base/cm.yaml': \
         security; file '/base/cm.yaml' is not in or below '/bad'': must build at directory: \
         '/base/cm.yaml': file is not directory"
    );
    let e = err(&fs, "badpatch", &RenderOptions::default()).to_string();
    assert!(
        e.ends_with(
            "failed to get the patch file from path(../base/cm.yaml): security; file \
             '/base/cm.yaml' is not in or below '/badpatch'"
        ),
        "{e}"
    );
    // LoadRestrictionsNone lifts the rule.
    let none = RenderOptions {
        load_restrictor: LoadRestrictor::None,
        ..Default::default()
    };
    let r = render(&fs, "bad", &none, None).expect("renders without the restrictor");
    assert_eq!(r.objects.len(), 1);
}

#[test]
fn absolute_path_is_refused() {
    let fs = mem(&[("kustomization.yaml", "resources:\n- /etc/passwd\n")]);
    assert!(matches!(
        err(&fs, "", &RenderOptions::default()),
        RenderError::Escapes { .. }
    ));
}

#[test]
fn symlink_leaving_the_root_is_refused() -> anyhow::Result<()> {
    let outside = tempfile::tempdir()?;
    std::fs::write(outside.path().join("x.yaml"), CM)?;
    let repo = tempfile::tempdir()?;
    std::fs::write(
        repo.path().join("kustomization.yaml"),
        "resources:\n- link.yaml\n",
    )?;
    std::os::unix::fs::symlink(outside.path().join("x.yaml"), repo.path().join("link.yaml"))?;
    let fs = DirFs::new(repo.path())?;
    let e = err(&fs, "", &RenderOptions::default());
    assert!(matches!(e, RenderError::Escapes { .. }), "{e}");
    Ok(())
}

#[test]
fn symlink_inside_the_root_is_followed() -> anyhow::Result<()> {
    let repo = tempfile::tempdir()?;
    std::fs::write(repo.path().join("real.yaml"), CM)?;
    std::fs::write(
        repo.path().join("kustomization.yaml"),
        "resources:\n- link.yaml\n",
    )?;
    std::os::unix::fs::symlink(repo.path().join("real.yaml"), repo.path().join("link.yaml"))?;
    let r = render(
        &DirFs::new(repo.path())?,
        "",
        &RenderOptions::default(),
        None,
    )?;
    assert_eq!(r.objects.len(), 1);
    Ok(())
}

#[test]
fn remote_resources_are_refused() {
    let fs = mem(&[(
        "kustomization.yaml",
        "resources:\n- https://github.com/acme/app//base?ref=v1\n",
    )]);
    let e = err(&fs, "", &RenderOptions::default());
    assert!(
        matches!(e, RenderError::Unsupported(ref m) if m.contains("remote")),
        "{e}"
    );
}

#[test]
fn unsupported_features_are_refused_by_name() {
    let exec_plugin =
        "apiVersion: someteam.example.com/v1\nkind: ChartInflator\nmetadata:\n  name: x\n";
    for (files, name) in [
        (
            vec![("kustomization.yaml", "helmCharts:\n- name: x\n")],
            "helmCharts",
        ),
        (
            vec![
                ("kustomization.yaml", "transformers:\n- t.yaml\n"),
                ("t.yaml", exec_plugin),
            ],
            "only builtin plugins",
        ),
        (
            vec![
                ("kustomization.yaml", "generators:\n- g.yaml\n"),
                ("g.yaml", exec_plugin),
            ],
            "only builtin plugins",
        ),
        (
            vec![("kustomization.yaml", "buildMetadata: [managedByLabel]\n")],
            "managedByLabel",
        ),
        (
            vec![("kustomization.yaml", "validators:\n- v.yaml\n")],
            "validators",
        ),
    ] {
        let fs = mem(&files);
        let e = err(&fs, "", &RenderOptions::default());
        assert!(
            matches!(e, RenderError::Unsupported(ref m) if m.contains(name)),
            "{e}"
        );
    }
}

#[test]
fn bad_openapi_schemas_are_clear_errors() {
    let big = format!("{{\"definitions\": {{}}, \"x\": \"{}\"}}", "a".repeat(2048));
    for (files, want) in [
        (
            vec![("app/kustomization.yaml", "openapi:\n  path: ../../s.json\n")],
            "outside the root",
        ),
        (
            vec![("kustomization.yaml", "openapi:\n  path: missing.json\n")],
            "missing.json",
        ),
        (
            vec![
                ("kustomization.yaml", "openapi:\n  path: s.json\n"),
                ("s.json", "[1, 2]"),
            ],
            "invalid schema file /s.json",
        ),
        (
            vec![
                ("kustomization.yaml", "openapi:\n  path: s.json\n"),
                ("s.json", "{\"definitions\": [1]}"),
            ],
            "invalid schema file /s.json",
        ),
        (
            vec![
                ("kustomization.yaml", "openapi:\n  path: s.json\n"),
                ("s.json", "{\"a\": ["),
            ],
            "/s.json",
        ),
        (
            vec![
                ("kustomization.yaml", "openapi:\n  path: s.json\n"),
                ("s.json", &big),
            ],
            "limit",
        ),
        (
            vec![("kustomization.yaml", "openapi:\n  version: v1.99.0\n")],
            "the specified OpenAPI version is not built in",
        ),
        (vec![("kustomization.yaml", "openapi: [x]\n")], "openapi"),
    ] {
        let fs = mem(&files);
        let dir = if files[0].0.starts_with("app/") {
            "app"
        } else {
            ""
        };
        let limits = Limits {
            max_file_bytes: 1024,
            ..Limits::default()
        };
        let opts = RenderOptions {
            limits,
            ..RenderOptions::default()
        };
        let e = err(&fs, dir, &opts).to_string();
        assert!(
            e.to_lowercase().contains(&want.to_lowercase()),
            "{want}: {e}"
        );
    }
}

#[test]
fn yaml_errors_name_file_and_line() {
    let fs = mem(&[
        ("kustomization.yaml", "resources:\n- bad.yaml\n"),
        (
            "bad.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n",
        ),
    ]);
    let e = err(&fs, "", &RenderOptions::default());
    match &e {
        RenderError::Yaml { path, line, .. } => {
            assert_eq!(path, "/bad.yaml");
            assert!(*line >= 4, "{e}");
        }
        other => panic!("{other}"),
    }
    assert!(e.to_string().starts_with("/bad.yaml:"), "{e}");
}

#[test]
fn deep_nesting_is_a_clear_error_not_a_stack_overflow() {
    let deep = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata: {}{}\n",
        "[".repeat(50_000),
        "]".repeat(50_000)
    );
    let fs = mem(&[
        ("kustomization.yaml", "resources:\n- deep.yaml\n"),
        ("deep.yaml", &deep),
    ]);
    let e = err(&fs, "", &RenderOptions::default());
    // The limit's own error, from the parser's nesting check, at the line it was met.
    match &e {
        RenderError::Yaml {
            path,
            line,
            message,
        } => {
            assert_eq!(path, "/deep.yaml", "{e}");
            assert_eq!(*line, 5, "{e}");
            assert_eq!(message, "nesting deeper than 100 levels", "{e}");
        }
        other => panic!("expected the nesting limit's error, got {other}"),
    }
    // Nesting within a lower limit renders; one level more is refused by that limit.
    let nested = |n: usize| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  k: {}{}\n",
            "[".repeat(n),
            "]".repeat(n)
        )
    };
    let opts = RenderOptions {
        limits: Limits {
            max_depth: 10,
            ..Limits::default()
        },
        ..Default::default()
    };
    // The document's mapping and `data` are two levels; the lists add the rest.
    let ok = mem(&[
        ("kustomization.yaml", "resources:\n- n.yaml\n"),
        ("n.yaml", &nested(8)),
    ]);
    render(&ok, "", &opts, None).expect("10 levels are within a limit of 10");
    let deep = mem(&[
        ("kustomization.yaml", "resources:\n- n.yaml\n"),
        ("n.yaml", &nested(9)),
    ]);
    match err(&deep, "", &opts) {
        RenderError::Yaml { message, .. } => assert_eq!(message, "nesting deeper than 10 levels"),
        other => panic!("expected the nesting limit's error, got {other}"),
    }
}

#[test]
fn total_bytes_limit_counts_every_file_read() {
    // Each file is under the per-file limit; together they pass the per-render one.
    let fs = mem(&[
        ("kustomization.yaml", "resources:\n- a.yaml\n- b.yaml\n"),
        ("a.yaml", &CM.replace("name: c", "name: a")),
        ("b.yaml", &CM.replace("name: c", "name: b")),
    ]);
    let limit = (2 * CM.len()) as u64;
    let opts = RenderOptions {
        limits: Limits {
            max_total_bytes: limit,
            ..Limits::default()
        },
        ..Default::default()
    };
    match err(&fs, "", &opts) {
        RenderError::Limit(m) => assert_eq!(m, format!("more than {limit} bytes read in total")),
        other => panic!("expected the total-bytes limit, got {other}"),
    }
    // With room for every file, the same render succeeds.
    let roomy = RenderOptions {
        limits: Limits {
            max_total_bytes: limit * 2,
            ..Limits::default()
        },
        ..Default::default()
    };
    let r = render(&fs, "", &roomy, None).expect("renders within the limit");
    assert_eq!(r.objects.len(), 2);
}

#[test]
fn resources_per_file_limit() {
    let three = (0..3)
        .map(|i| CM.replace("name: c", &format!("name: c{i}")))
        .collect::<Vec<_>>()
        .join("---\n");
    let fs = mem(&[
        ("kustomization.yaml", "resources:\n- three.yaml\n"),
        ("three.yaml", &three),
    ]);
    let opts = |n| RenderOptions {
        limits: Limits {
            max_resources: n,
            ..Limits::default()
        },
        ..Default::default()
    };
    match err(&fs, "", &opts(2)) {
        RenderError::Limit(m) => assert_eq!(m, "more than 2 resources"),
        other => panic!("expected the resources limit, got {other}"),
    }
    let r = render(&fs, "", &opts(3), None).expect("three resources are within a limit of 3");
    assert_eq!(r.objects.len(), 3);
}

#[test]
fn document_and_size_limits() {
    let many = CM.to_string().replace("name: c", "name: c0")
        + &(1..50)
            .map(|i| format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c{i}\n"))
            .collect::<String>();
    let fs = mem(&[
        ("kustomization.yaml", "resources:\n- many.yaml\n"),
        ("many.yaml", &many),
    ]);
    let opts = RenderOptions {
        limits: Limits {
            max_documents: 10,
            ..Limits::default()
        },
        ..Default::default()
    };
    assert!(
        err(&fs, "", &opts)
            .to_string()
            .contains("more than 10 documents")
    );
    let opts = RenderOptions {
        limits: Limits {
            max_file_bytes: 100,
            ..Limits::default()
        },
        ..Default::default()
    };
    let e = err(&fs, "", &opts);
    assert!(matches!(e, RenderError::Limit(_)), "{e}");
}

#[test]
fn alias_bombs_are_stopped() {
    let mut bomb = String::from(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\nx0: &a0 [x, x, x, x, x, x, x, x, x, x]\n",
    );
    for i in 1..12 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        bomb.push_str(&format!("x{i}: &a{i} [{refs}]\n"));
    }
    let fs = mem(&[
        ("kustomization.yaml", "resources:\n- bomb.yaml\n"),
        ("bomb.yaml", &bomb),
    ]);
    let e = err(&fs, "", &RenderOptions::default());
    assert!(e.to_string().contains("nodes"), "{e}");
}

#[test]
fn kustomization_cycles_stop() {
    let fs = mem(&[
        ("a/kustomization.yaml", "resources:\n- ../b\n"),
        ("b/kustomization.yaml", "resources:\n- ../a\n"),
    ]);
    let e = err(&fs, "a", &RenderOptions::default());
    assert_eq!(
        e.to_string(),
        "accumulating resources: accumulation err='accumulating resources from '../b': \
         '/b' must resolve to a file': recursed accumulation of path '/b': accumulating \
         resources: accumulation err='accumulating resources from '../a': '/a' must resolve \
         to a file': cycle detected: candidate root '/a' contains visited root '/a'"
    );
    // A base that contains the kustomization using it is a cycle too.
    let fs = mem(&[("a/b/kustomization.yaml", "resources:\n- ..\n")]);
    let e = err(&fs, "a/b", &RenderOptions::default());
    assert!(
        e.to_string()
            .ends_with("cycle detected: candidate root '/a' contains visited root '/a/b'"),
        "{e}"
    );
}

#[test]
fn kustomization_nesting_limit() {
    // A chain of 10 bases, deeper than a limit of 5.
    let mut files = Vec::new();
    for i in 0..10 {
        files.push((
            format!("k{i}/kustomization.yaml"),
            format!("resources:\n- ../k{}\n", i + 1),
        ));
    }
    files.push(("k10/kustomization.yaml".into(), "resources: []\n".into()));
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    let opts = RenderOptions {
        limits: Limits {
            max_kustomization_depth: 5,
            ..Limits::default()
        },
        ..Default::default()
    };
    match err(&mem(&refs), "k0", &opts) {
        RenderError::Limit(m) => assert_eq!(
            m,
            "kustomizations nested deeper than 5 levels at /k5 (a cycle?)"
        ),
        other => panic!("expected the nesting limit, got {other}"),
    }
}

#[test]
fn inputs_list_every_file_read() -> anyhow::Result<()> {
    let fs = mem(&[
        (
            "apps/web/base/kustomization.yaml",
            "resources:\n- cm.yaml\nconfigMapGenerator:\n- name: g\n  files:\n  - app.conf\n",
        ),
        ("apps/web/base/cm.yaml", CM),
        ("apps/web/base/app.conf", "x=1\n"),
        (
            "apps/web/dev/kustomization.yaml",
            "resources:\n- ../base\npatches:\n- path: p.yaml\n",
        ),
        (
            "apps/web/dev/p.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: b\n",
        ),
        ("apps/other/x.yaml", CM),
    ]);
    let r = render(&fs, "apps/web/dev", &RenderOptions::default(), None)?;
    let inputs: Vec<&str> = r.inputs.iter().map(String::as_str).collect();
    for want in [
        "apps/web/base/kustomization.yaml",
        "apps/web/base/cm.yaml",
        "apps/web/base/app.conf",
        "apps/web/dev/kustomization.yaml",
        "apps/web/dev/p.yaml",
    ] {
        assert!(inputs.contains(&want), "{want} missing from {inputs:?}");
    }
    assert!(!inputs.iter().any(|p| p.starts_with("apps/other")));
    Ok(())
}

#[test]
fn plain_folders_render_every_manifest() -> anyhow::Result<()> {
    let fs = mem(&[
        (
            "m/b.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: s\n",
        ),
        (
            "m/a.json",
            r#"{"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "j"}}]}"#,
        ),
        ("m/notes.txt", "not yaml"),
    ]);
    let r = render(&fs, "m", &RenderOptions::default(), None)?;
    let kinds: Vec<&str> = r
        .objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(kinds, ["ConfigMap", "Service", "Deployment"]);
    Ok(())
}

#[test]
fn helm_missing_is_a_clear_error() {
    let fs = mem(&[
        (
            "chart/Chart.yaml",
            "apiVersion: v2\nname: c\nversion: 0.1.0\n",
        ),
        ("chart/templates/cm.yaml", CM),
    ]);
    let mut helm = ExternalHelm::new("rel", None, vec![]);
    helm.binary = "/nonexistent/helm".into();
    let e = render(&fs, "chart", &RenderOptions::default(), Some(&helm)).expect_err("no helm");
    assert!(e.to_string().contains("not found"), "{e}");
    // Without an external renderer, Gantry's own engine renders the chart.
    let r = render(&fs, "chart", &RenderOptions::default(), None).expect("native render");
    assert_eq!(r.objects.len(), 1);
}

#[test]
fn helm_runs_with_a_timeout() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let fake = dir.path().join("helm");
    // A stand-in helm: prints a manifest, or hangs when asked for release "slow".
    write_executable(
        &fake,
        "#!/bin/sh\nif [ \"$2\" = slow ]; then sleep 10; fi\nprintf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata:\\n  name: %s\\n' \"$2\"\n",
    )?;
    let fs = mem(&[(
        "chart/Chart.yaml",
        "apiVersion: v2\nname: c\nversion: 0.1.0\n",
    )]);
    let mut helm = ExternalHelm::new("web", None, vec![]);
    helm.binary = fake.clone();
    let r = render(&fs, "chart", &RenderOptions::default(), Some(&helm))?;
    assert_eq!(r.objects[0]["metadata"]["name"], "web");
    assert!(r.inputs.contains("chart/Chart.yaml"));
    let mut slow = ExternalHelm::new("slow", None, vec![]);
    slow.binary = fake;
    slow.timeout = Duration::from_millis(300);
    let e = render(&fs, "chart", &RenderOptions::default(), Some(&slow)).expect_err("timeout");
    assert!(e.to_string().contains("timed out"), "{e}");
    Ok(())
}

/// Writes an executable script from a child process, so no thread of this test binary ever
/// holds a writable descriptor of it: another test forking at that moment would inherit one,
/// and executing the script would then fail with ETXTBSY.
fn write_executable(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg("cat > \"$0\" && chmod 755 \"$0\"")
        .arg(path)
        .stdin(std::process::Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdin"))?
        .write_all(text.as_bytes())?;
    anyhow::ensure!(child.wait()?.success(), "writing {} failed", path.display());
    Ok(())
}

/// `gantry render CHART` roots its file system at `/` and confines reads to the chart: a
/// symlinked folder inside the chart that leads out of it is refused on every read, one that
/// stays inside is followed.
#[test]
fn a_chart_reads_nothing_through_a_symlink_out_of_it() -> anyhow::Result<()> {
    let root = tempfile::tempdir()?;
    let r = root.path();
    std::fs::create_dir_all(r.join("chart/templates"))?;
    std::fs::create_dir_all(r.join("chart/real"))?;
    std::fs::create_dir_all(r.join("secrets"))?;
    std::fs::write(
        r.join("chart/Chart.yaml"),
        "apiVersion: v2\nname: c\nversion: 1.0.0\n",
    )?;
    std::fs::write(r.join("chart/real/cm.yaml"), CM)?;
    std::fs::write(r.join("secrets/cm.yaml"), CM)?;
    std::os::unix::fs::symlink(r.join("chart/real"), r.join("chart/templates/inside"))?;
    let fs = DirFs::new(r)?;
    let opts = RenderOptions {
        confine_to: Some("chart".into()),
        ..Default::default()
    };
    let ok = gantry_render::render_chart(&fs, "chart", &opts, None)?;
    assert_eq!(ok.objects.len(), 1);
    std::os::unix::fs::symlink(r.join("secrets"), r.join("chart/templates/linked"))?;
    let fs = DirFs::new(r)?;
    for _ in 0..2 {
        let Err(e) = gantry_render::render_chart(&fs, "chart", &opts, None) else {
            panic!("a link out of the chart is refused");
        };
        assert!(e.to_string().contains("templates/linked/cm.yaml"), "{e}");
        assert!(e.to_string().contains("outside"), "{e}");
    }
    Ok(())
}

/// A chart of many files on disk is read by two threads; what a render reads, refuses and
/// reports is still that of reading the files one by one in the walk's order.
#[test]
fn a_chart_of_many_files_fails_where_a_serial_read_would() -> anyhow::Result<()> {
    let cm = |i: usize| CM.replace("name: c", &format!("name: c{i:02}"));
    let mut files = vec![(
        "chart/Chart.yaml".to_string(),
        "apiVersion: v2\nname: c\nversion: 1.0.0\n".to_string(),
    )];
    files.extend((0..40).map(|i| (format!("chart/templates/cm{i:02}.yaml"), cm(i))));
    let on_disk = |files: &[(String, String)]| -> anyhow::Result<tempfile::TempDir> {
        let root = tempfile::tempdir()?;
        for (p, c) in files {
            let p = root.path().join(p);
            std::fs::create_dir_all(p.parent().expect("a folder"))?;
            std::fs::write(p, c)?;
        }
        Ok(root)
    };
    let chart = |root: &tempfile::TempDir, limits: Limits| -> anyhow::Result<_> {
        let opts = RenderOptions {
            limits,
            confine_to: Some("chart".into()),
            ..Default::default()
        };
        Ok(gantry_render::render_chart(
            &DirFs::new(root.path())?,
            "chart",
            &opts,
            None,
        ))
    };
    let root = on_disk(&files)?;
    assert_eq!(chart(&root, Limits::default())??.objects.len(), 40);

    // Room for Chart.yaml and 16 templates: the 17th (an odd one, read by the second thread)
    // passes the total, whatever the threads read beyond it.
    let limit = (files[..17].iter().map(|(_, c)| c.len()).sum::<usize>()) as u64;
    let limits = Limits {
        max_total_bytes: limit,
        ..Limits::default()
    };
    let Err(e) = chart(&root, limits)? else {
        panic!("the total is over");
    };
    assert_eq!(
        e.to_string(),
        format!("more than {limit} bytes read in total")
    );

    // One file over the per-file limit, among many that are not: it is the one named.
    let mut big = files.clone();
    big[23].1 = format!("{}# {}\n", big[23].1, "x".repeat(200));
    let limits = Limits {
        max_file_bytes: 150,
        ..Limits::default()
    };
    let Err(e) = chart(&on_disk(&big)?, limits)? else {
        panic!("a file is over the limit");
    };
    assert!(
        e.to_string()
            .contains("/chart/templates/cm22.yaml: file is"),
        "{e}"
    );

    // A link out of the chart among them is refused by name.
    let r = root.path();
    std::fs::create_dir_all(r.join("secrets"))?;
    std::fs::write(r.join("secrets/cm.yaml"), CM)?;
    std::os::unix::fs::symlink(
        r.join("secrets/cm.yaml"),
        r.join("chart/templates/cm20b.yaml"),
    )?;
    let Err(e) = chart(&root, Limits::default())? else {
        panic!("a link out of the chart is refused");
    };
    assert!(e.to_string().contains("templates/cm20b.yaml"), "{e}");
    assert!(e.to_string().contains("outside"), "{e}");
    Ok(())
}
