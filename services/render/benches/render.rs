//! placeholder (lead): replaced by the render helper
fn main() {}
