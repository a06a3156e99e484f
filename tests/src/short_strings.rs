//! Every short string over an alphabet, for unit tests that check a fast path against the code
//! it bypasses on all of them (the template lexer, `.helmignore` rules, semver, paths).

use std::fmt::Display;

/// Every string of up to `n` symbols of `alphabet`, the empty one first, shorter ones first.
pub fn up_to<S: Display>(alphabet: &[S], n: usize) -> Vec<String> {
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
