//! Every short string over an alphabet, for tests that check a hand-written reader or order
//! against what it replaces on all of them.

/// Every string of up to `n` symbols of `alphabet`, the empty one first, shorter ones first.
pub(crate) fn up_to(alphabet: &[&str], n: usize) -> Vec<String> {
    let mut all = vec![String::new()];
    let mut level = vec![String::new()];
    for _ in 0..n {
        level = level
            .iter()
            .flat_map(|p| alphabet.iter().map(move |c| format!("{p}{c}")))
            .collect();
        all.extend(level.iter().cloned());
    }
    all
}
