//! Renders a chart directory with the native engine and prints each template (a debugging aid).

use std::collections::BTreeMap;
use std::path::Path;

fn read_tree(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) -> anyhow::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            read_tree(root, &p, out)?;
        } else {
            let rel = p.strip_prefix(root)?.to_string_lossy().replace('\\', "/");
            out.insert(rel, std::fs::read(&p)?);
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let dir = Path::new(&args[1]);
    let mut chart = BTreeMap::new();
    read_tree(dir, dir, &mut chart)?;
    let mut req = gantry_helm::Request {
        chart,
        ..Default::default()
    };
    for v in &args[2..] {
        req.values_files
            .push((v.clone(), std::fs::read_to_string(v)?));
    }
    let out = gantry_helm::render(req)?;
    for (k, v) in out.templates {
        println!("--- {k}\n{v}");
    }
    Ok(())
}
