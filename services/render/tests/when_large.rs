//! `NativeHelm::when_large`, the hook `gantry render` turns transparent huge pages back on
//! with, is called once for a large chart (found with many templates before the read, or read
//! with many bytes of them) and never for a small one.

use std::sync::atomic::{AtomicUsize, Ordering};

use gantry_render::{MemFs, NativeHelm, RenderOptions, render_chart_stream};

static CALLS: AtomicUsize = AtomicUsize::new(0);

fn count() {
    CALLS.fetch_add(1, Ordering::SeqCst);
}

/// A chart of `n` templates, and one more of `pad` bytes.
fn chart(n: usize, pad: usize) -> MemFs {
    let mut fs = MemFs::new();
    fs.insert(
        "c/Chart.yaml",
        b"apiVersion: v2\nname: c\nversion: 1.0.0\n".to_vec(),
    );
    for i in 0..n {
        let cm = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm{i}\n");
        fs.insert(&format!("c/templates/cm{i}.yaml"), cm.into_bytes());
    }
    let pad = format!("{{{{/* {} */}}}}\n", "x".repeat(pad));
    fs.insert("c/templates/_pad.tpl", pad.into_bytes());
    fs
}

#[test]
fn called_once_for_a_large_chart_only() {
    // As `gantry render` calls it: on a thread with the engine's stack.
    let run = std::thread::Builder::new()
        .stack_size(gantry_render::HELM_STACK_SIZE)
        .spawn(|| {
            let mut helm = NativeHelm::new("rel", None, Vec::new());
            helm.on_caller_thread = true;
            helm.when_large = Some(count);
            let cases = [
                // Small.
                (3, 10, 0),
                // Many templates, found before the read, and many bytes: still once.
                (
                    gantry_helm::ahead::PLANNED_MIN_TEMPLATES,
                    gantry_helm::LARGE_CHART_BYTES,
                    1,
                ),
                (gantry_helm::ahead::PLANNED_MIN_TEMPLATES, 10, 1),
                // Few templates, many bytes of them.
                (3, gantry_helm::LARGE_CHART_BYTES, 1),
            ];
            for (n, pad, calls) in cases {
                let before = CALLS.load(Ordering::SeqCst);
                let out = render_chart_stream(
                    &chart(n, pad),
                    "c",
                    &RenderOptions::default(),
                    Some(&helm),
                )
                .expect("renders");
                assert!(out.stream.contains("name: cm0"), "{}", out.stream);
                assert_eq!(
                    CALLS.load(Ordering::SeqCst) - before,
                    calls,
                    "{n} templates, {pad} bytes"
                );
            }
        })
        .expect("a thread");
    run.join().expect("the cases pass");
}
