//! Every short string over an alphabet, for tests that check a fast path against the code it
//! bypasses on all of them (the helm crate's tests keep their own copy: test code is not shared
//! across crates).

/// Every string of up to `n` symbols of `alphabet`, the empty one first, shorter ones first.
pub(crate) fn up_to(alphabet: &[char], n: usize) -> Vec<String> {
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
