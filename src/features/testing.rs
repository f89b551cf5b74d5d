//! Making probes report features missing, to exercise a loader's fallbacks (BTF
//! sanitization, legacy attach paths) on a kernel that has everything.
//!
//! Two switches, combined: [`force_missing`] for the process (tests call it), and the
//! environment variable [`ENV_VAR`] (`OXBPF_FEATURES_MISSING=btf_func,btf_datasec`, read
//! once, the first time a feature is asked for). A forced feature answers `false` from
//! [`has`](super::has) without probing; the probe's cached answer is kept for when the
//! switch is cleared.
//!
//! ```
//! use oxbpf::features::{testing, Feature};
//!
//! testing::force_missing(&[Feature::BtfDeclTag]);
//! assert_eq!(oxbpf::features::has(Feature::BtfDeclTag).ok(), Some(false));
//! testing::clear_forced();
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use super::Feature;

/// The environment variable naming features to report missing: a comma- (or space-)
/// separated list of [`Feature::name`]s; `all` forces every feature.
pub const ENV_VAR: &str = "OXBPF_FEATURES_MISSING";

static FORCED: AtomicU64 = AtomicU64::new(0);

const fn bit(f: Feature) -> u64 {
    1 << f as u8
}

/// What [`ENV_VAR`] held when first read: the mask and the names it did not know.
fn from_env() -> &'static (u64, Vec<String>) {
    static ENV: OnceLock<(u64, Vec<String>)> = OnceLock::new();
    ENV.get_or_init(|| match std::env::var(ENV_VAR) {
        Ok(list) => parse_list(&list),
        Err(_) => (0, Vec::new()),
    })
}

/// Parses a list of feature names (`,` or whitespace separated; `all` for every feature)
/// into a mask, and the names that are not features.
pub fn parse_list(list: &str) -> (u64, Vec<String>) {
    let mut mask = 0;
    let mut unknown = Vec::new();
    for name in list
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
    {
        if name.eq_ignore_ascii_case("all") {
            mask |= Feature::ALL.iter().fold(0, |m, f| m | bit(*f));
        } else if let Some(f) = Feature::from_name(name) {
            mask |= bit(f);
        } else {
            unknown.push(name.to_string());
        }
    }
    (mask, unknown)
}

/// Makes `features` report missing for the rest of the process (or until
/// [`clear_forced`]).
pub fn force_missing(features: &[Feature]) {
    let mask = features.iter().fold(0, |m, f| m | bit(*f));
    FORCED.fetch_or(mask, Ordering::AcqRel);
}

/// Undoes [`force_missing`] (the environment variable still applies).
pub fn clear_forced() {
    FORCED.store(0, Ordering::Release);
}

/// Whether `feature` is forced missing, by [`force_missing`] or [`ENV_VAR`].
pub fn is_forced_missing(feature: Feature) -> bool {
    let mask = FORCED.load(Ordering::Acquire) | from_env().0;
    mask & bit(feature) != 0
}

/// Whether any BTF feature ([`Feature::is_btf`]) is forced missing: the loader then sanitizes
/// by the probes' answers instead of first offering the BTF as it is.
pub fn any_btf_forced_missing() -> bool {
    Feature::ALL
        .iter()
        .any(|f| f.is_btf() && is_forced_missing(*f))
}

/// Every feature currently forced missing.
pub fn forced_missing() -> Vec<Feature> {
    Feature::ALL
        .iter()
        .copied()
        .filter(|f| is_forced_missing(*f))
        .collect()
}

/// Names in [`ENV_VAR`] that are not features (a typo there would otherwise go unnoticed).
pub fn unknown_env_names() -> &'static [String] {
    &from_env().1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse() {
        let (mask, unknown) = parse_list("btf_func, btf-datasec  nope");
        assert_eq!(mask, bit(Feature::BtfFunc) | bit(Feature::BtfDatasec));
        assert_eq!(unknown, vec!["nope".to_string()]);
        let (all, _) = parse_list("ALL");
        assert_eq!(all.count_ones() as usize, Feature::COUNT);
        assert_eq!(parse_list("").0, 0);
    }
}
