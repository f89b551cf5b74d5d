//! The loader: `Object` + target BTF → relocated programs → maps created → programs loaded.
