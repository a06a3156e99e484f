//! A Go map's entries in Go's sorted key order: a sorted vector while the map is small, a
//! B-tree once it is large.
//!
//! Nearly every map a chart holds is small (an image's `repository` and `tag`, a resource's
//! `limits`), and a `BTreeMap` gives each, however small, a node of eleven slots: 632 bytes
//! for two entries. The 1,000-template chart's values were five such maps per app, twice
//! (the chart's defaults and the user's file), so that much of the render's fresh memory, each
//! page of it a fault, held empty slots. Past [`SMALL_MAX`] entries a map becomes a B-tree,
//! so that a template filling a large `dict` key by key stays O(log n) per key, as Go's hash
//! map is O(1).

use std::collections::BTreeMap;
use std::fmt;

use crate::value::Value;

/// The most entries kept in a sorted vector (an insertion moves at most this many).
pub const SMALL_MAX: usize = 32;

/// A map's entries, in sorted key order.
#[derive(Clone, Default)]
pub struct Entries(Repr);

#[derive(Clone)]
enum Repr {
    Small(Vec<(String, Value)>),
    Large(BTreeMap<String, Value>),
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Small(Vec::new())
    }
}

impl fmt::Debug for Entries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// One of two iterators with the same items.
#[derive(Debug, Clone)]
pub enum Either<A, B> {
    /// A small map's.
    A(A),
    /// A large map's.
    B(B),
}

impl<A: Iterator, B: Iterator<Item = A::Item>> Iterator for Either<A, B> {
    type Item = A::Item;

    fn next(&mut self) -> Option<A::Item> {
        match self {
            Either::A(a) => a.next(),
            Either::B(b) => b.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Either::A(a) => a.size_hint(),
            Either::B(b) => b.size_hint(),
        }
    }
}

impl<A: DoubleEndedIterator, B: DoubleEndedIterator<Item = A::Item>> DoubleEndedIterator
    for Either<A, B>
{
    fn next_back(&mut self) -> Option<A::Item> {
        match self {
            Either::A(a) => a.next_back(),
            Either::B(b) => b.next_back(),
        }
    }
}

impl<A: ExactSizeIterator, B: ExactSizeIterator<Item = A::Item>> ExactSizeIterator
    for Either<A, B>
{
}

type Pair<'a> = (&'a String, &'a Value);

/// The entries in key order.
pub type Iter<'a> = Either<
    std::iter::Map<std::slice::Iter<'a, (String, Value)>, fn(&'a (String, Value)) -> Pair<'a>>,
    std::collections::btree_map::Iter<'a, String, Value>,
>;

impl Entries {
    /// No entries.
    pub fn new() -> Entries {
        Entries::default()
    }

    fn find(v: &[(String, Value)], key: &str) -> Result<usize, usize> {
        v.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    /// The value at `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match &self.0 {
            // A look at each key's length first: most keys differ in it, and a binary search
            // calls `memcmp` at each step (a field lookup is most of a template's work).
            Repr::Small(v) if v.len() <= 8 => v
                .iter()
                .find(|(k, _)| k.len() == key.len() && k == key)
                .map(|(_, v)| v),
            Repr::Small(v) => Entries::find(v, key).ok().map(|i| &v[i].1),
            Repr::Large(m) => m.get(key),
        }
    }

    /// Sets `key`, returning the value it replaced.
    pub fn insert(&mut self, key: String, value: Value) -> Option<Value> {
        match &mut self.0 {
            Repr::Small(v) => {
                // Keys often come in order (a copy, a sorted source): then it is a push.
                let at = match v.last() {
                    Some((last, _)) if last.as_str() < key.as_str() => Err(v.len()),
                    None => Err(0),
                    _ => Entries::find(v, &key),
                };
                match at {
                    Ok(i) => Some(std::mem::replace(&mut v[i].1, value)),
                    Err(i) if v.len() < SMALL_MAX => {
                        v.insert(i, (key, value));
                        None
                    }
                    Err(_) => {
                        let mut m: BTreeMap<String, Value> =
                            std::mem::take(v).into_iter().collect();
                        m.insert(key, value);
                        self.0 = Repr::Large(m);
                        None
                    }
                }
            }
            Repr::Large(m) => m.insert(key, value),
        }
    }

    /// Deletes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        match &mut self.0 {
            Repr::Small(v) => Entries::find(v, key).ok().map(|i| v.remove(i).1),
            Repr::Large(m) => m.remove(key),
        }
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Small(v) => v.len(),
            Repr::Large(m) => m.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entries in key order.
    pub fn iter(&self) -> Iter<'_> {
        match &self.0 {
            Repr::Small(v) => Either::A(v.iter().map(|(k, v)| (k, v))),
            Repr::Large(m) => Either::B(m.iter()),
        }
    }

    /// The keys in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &String> + ExactSizeIterator {
        self.iter().map(|(k, _)| k)
    }

    /// The values in key order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Value> + ExactSizeIterator {
        self.iter().map(|(_, v)| v)
    }

    /// Keeps the entries for which `keep` holds.
    pub fn retain(&mut self, mut keep: impl FnMut(&String, &mut Value) -> bool) {
        match &mut self.0 {
            Repr::Small(v) => v.retain_mut(|(k, v)| keep(k, v)),
            Repr::Large(m) => m.retain(|k, v| keep(k, v)),
        }
    }
}

impl FromIterator<(String, Value)> for Entries {
    /// Of equal keys, the last one's value stays, as inserting them in turn would leave it.
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Entries {
        let mut v: Vec<(String, Value)> = iter.into_iter().collect();
        if v.len() > SMALL_MAX {
            return Entries(Repr::Large(v.into_iter().collect()));
        }
        // Stable, so that of equal keys the last stays last; in place (a vector's `into_iter`
        // collects into its own buffer), the kept entry of a run taking each later value.
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                std::mem::swap(&mut later.1, &mut kept.1);
            }
            same
        });
        Entries(Repr::Small(v))
    }
}

impl IntoIterator for Entries {
    type Item = (String, Value);
    type IntoIter = Either<
        std::vec::IntoIter<(String, Value)>,
        std::collections::btree_map::IntoIter<String, Value>,
    >;

    fn into_iter(self) -> Self::IntoIter {
        match self.0 {
            Repr::Small(v) => Either::A(v.into_iter()),
            Repr::Large(m) => Either::B(m.into_iter()),
        }
    }
}

impl<'a> IntoIterator for &'a Entries {
    type Item = (&'a String, &'a Value);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(e: &Entries) -> Vec<String> {
        e.keys().cloned().collect()
    }

    #[test]
    fn stays_sorted_and_becomes_a_tree_past_the_small_size() {
        let mut e = Entries::new();
        // A shuffled order: each insertion lands somewhere inside.
        let order: Vec<usize> = (0..100).map(|i| (i * 37) % 100).collect();
        for (n, &i) in order.iter().enumerate() {
            assert!(e.insert(format!("k{i:03}"), Value::Int(i as i64)).is_none());
            assert_eq!(e.len(), n + 1);
            let k = keys(&e);
            assert!(k.windows(2).all(|w| w[0] < w[1]), "sorted after {n}");
            assert_eq!(matches!(e.0, Repr::Large(_)), n + 1 > SMALL_MAX);
        }
        for i in 0..100 {
            assert!(matches!(e.get(&format!("k{i:03}")), Some(Value::Int(x)) if *x == i));
        }
        assert!(matches!(
            e.insert("k005".into(), Value::Nil),
            Some(Value::Int(5))
        ));
        assert!(matches!(e.remove("k005"), Some(Value::Nil)));
        assert_eq!(e.get("k005").map(|_| ()), None);
    }

    #[test]
    fn from_iter_keeps_the_last_of_equal_keys_like_inserting_in_turn() {
        for n in [3, SMALL_MAX + 5] {
            let pairs: Vec<(String, Value)> = (0..n)
                .flat_map(|i| {
                    [
                        (format!("{}", n - i), Value::Int(i as i64)),
                        (format!("{}", n - i), Value::Int(-(i as i64))),
                    ]
                })
                .collect();
            let built: Entries = pairs.clone().into_iter().collect();
            let mut inserted = Entries::new();
            for (k, v) in pairs {
                inserted.insert(k, v);
            }
            let show = |e: &Entries| format!("{e:?}");
            assert_eq!(show(&built), show(&inserted));
            assert!(matches!(built.get("1"), Some(Value::Int(x)) if *x == -(n as i64 - 1)));
        }
    }

    #[test]
    fn retain_sees_every_entry_and_may_change_it() {
        let mut e: Entries = (0..10).map(|i| (format!("{i}"), Value::Int(i))).collect();
        e.retain(|_, v| {
            if let Value::Int(x) = v {
                *x *= 10;
            }
            matches!(v, Value::Int(x) if *x % 20 == 0)
        });
        assert!(matches!(e.get("4"), Some(Value::Int(40))));
        assert_eq!(keys(&e), ["0", "2", "4", "6", "8"]);
        assert_eq!(e.iter().next_back().map(|(k, _)| k.as_str()), Some("8"));
    }
}
