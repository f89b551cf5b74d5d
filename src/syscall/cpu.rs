//! The possible-CPU count, which sizes per-CPU map values and per-CPU buffers.

use std::sync::OnceLock;

use nix::errno::Errno;

use super::error::{Call, Result, SyscallError};

const POSSIBLE: &str = "/sys/devices/system/cpu/possible";

/// The number of possible CPUs (`/sys/devices/system/cpu/possible`), read once per process.
///
/// Per-CPU map values move one value per possible CPU, not per online CPU.
pub fn possible_cpus() -> Result<u32> {
    static COUNT: OnceLock<std::result::Result<u32, i32>> = OnceLock::new();
    let answer = COUNT.get_or_init(|| {
        let text =
            std::fs::read_to_string(POSSIBLE).map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
        parse_cpu_list(&text).ok_or(libc::EINVAL)
    });
    answer.map_err(|code| SyscallError::new(Call::Read(POSSIBLE), Errno::from_raw(code)))
}

const ONLINE: &str = "/sys/devices/system/cpu/online";

/// The ids of the online CPUs (`/sys/devices/system/cpu/online`), read on each call (CPUs
/// come and go). Perf buffers open one ring per online CPU.
pub fn online_cpus() -> Result<Vec<u32>> {
    let text = std::fs::read_to_string(ONLINE).map_err(|e| {
        SyscallError::from_code(Call::Read(ONLINE), e.raw_os_error().unwrap_or(libc::EIO))
    })?;
    parse_cpu_ids(&text).ok_or_else(|| SyscallError::new(Call::Read(ONLINE), Errno::EINVAL))
}

/// The CPU ids of a kernel CPU list such as `0-3,8`, in order; `None` if malformed or if it
/// names more than 65536 CPUs.
pub fn parse_cpu_ids(text: &str) -> Option<Vec<u32>> {
    let count = parse_cpu_list(text)?;
    if count > 65536 {
        return None;
    }
    let mut ids = Vec::with_capacity(count as usize);
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((lo, hi)) => ids.extend(lo.trim().parse::<u32>().ok()?..=hi.trim().parse().ok()?),
            None => ids.push(part.trim().parse().ok()?),
        }
    }
    Some(ids)
}

/// Counts the CPUs of a kernel CPU list such as `0-3,8,10-11`; `None` if malformed.
pub fn parse_cpu_list(text: &str) -> Option<u32> {
    let mut count: u32 = 0;
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        let n = match part.split_once('-') {
            Some((lo, hi)) => {
                let lo: u32 = lo.trim().parse().ok()?;
                let hi: u32 = hi.trim().parse().ok()?;
                hi.checked_sub(lo)?.checked_add(1)?
            }
            None => {
                part.trim().parse::<u32>().ok()?;
                1
            }
        };
        count = count.checked_add(n)?;
    }
    (count > 0).then_some(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu_lists() {
        assert_eq!(parse_cpu_list("0-3\n"), Some(4));
        assert_eq!(parse_cpu_list("0"), Some(1));
        assert_eq!(parse_cpu_list("0-1,4,6-7"), Some(5));
        assert_eq!(parse_cpu_list(""), None);
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("x"), None);
        assert_eq!(parse_cpu_list("0-4294967295"), None);
        assert!(possible_cpus().unwrap() >= 1);
        assert_eq!(parse_cpu_ids("0-2,5\n"), Some(vec![0, 1, 2, 5]));
        assert_eq!(parse_cpu_ids("0-99999"), None);
        assert_eq!(parse_cpu_ids("2-1"), None);
        assert!(!online_cpus().unwrap().is_empty());
    }
}
