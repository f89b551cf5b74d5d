//! Probes that load a small program: load attributes the kernel may not know, helpers a
//! feature came with, global data, global subprogram argument tags.

use std::os::fd::{AsFd, AsRawFd};

use super::btf::{int_type, load as load_btf};
use super::probe::{
    answer, answer_with_log, load, load_logged, setup_error, trivial, ProbeError, LICENSE, PLAIN,
};
use super::{has, Feature};
use crate::btf::{BtfBuilder, FuncLinkage, ParamDef, TypeBody, TypeDef};
use crate::insn::opcode::{alu, size};
use crate::insn::{asm, reg::*, Insn};
use crate::syscall::{map_create, AttachType, ExtInfo, MapCreate, MapType, ProgLoad, ProgType};

fn socket_filter(insns: &[Insn]) -> ProgLoad<'_> {
    ProgLoad {
        prog_type: ProgType::SOCKET_FILTER,
        insns,
        license: LICENSE,
        ..Default::default()
    }
}

/// A trivial program with a name.
pub(crate) fn prog_name() -> Result<bool, ProbeError> {
    let insns = trivial();
    let req = ProgLoad {
        name: "oxbpf_probe",
        ..socket_filter(&insns)
    };
    answer("prog_name", load(req), &PLAIN)
}

/// A one-entry array and a program storing through `ld_imm64` of its value address.
pub(crate) fn global_data() -> Result<bool, ProbeError> {
    const NAME: &str = "global_data";
    let map = match map_create(&MapCreate {
        map_type: MapType::ARRAY,
        key_size: 4,
        value_size: 32,
        max_entries: 1,
        ..Default::default()
    }) {
        Ok(m) => m,
        Err(e) => return Err(setup_error(NAME, e)),
    };
    let mut insns = asm::ld_map_value(R1, map.as_fd().as_raw_fd(), 16).to_vec();
    insns.push(asm::st_imm(size::DW, R1, 0, 42));
    insns.extend(trivial());
    answer(NAME, load(socket_filter(&insns)), &PLAIN)
}

/// A CGROUP_SOCK program with a non-zero `expected_attach_type`.
pub(crate) fn exp_attach_type() -> Result<bool, ProbeError> {
    let insns = trivial();
    let req = ProgLoad {
        prog_type: ProgType::CGROUP_SOCK,
        expected_attach_type: AttachType::CGROUP_INET_SOCK_CREATE,
        ..socket_filter(&insns)
    };
    answer("exp_attach_type", load(req), &PLAIN)
}

/// A program of `prog_type` that calls `helper` with `setup` before the call. The verifier
/// rejects an unknown helper with EINVAL.
fn calls_helper(
    probe: &str,
    prog_type: ProgType,
    setup: &[Insn],
    helper: i32,
) -> Result<bool, ProbeError> {
    let mut insns = setup.to_vec();
    insns.push(asm::call_helper(helper));
    insns.push(asm::exit());
    let loaded = load_logged(ProgLoad {
        prog_type,
        kern_version: super::kernel::version_code(),
        ..socket_filter(&insns)
    });
    answer_with_log(probe, loaded.result, &PLAIN, &loaded.log)
}

/// `bpf_probe_read_kernel(fp - 8, 8, NULL)` from a tracepoint program.
pub(crate) fn probe_read_kernel() -> Result<bool, ProbeError> {
    let setup = [
        asm::mov64_reg(R1, R10),
        asm::alu64_imm(alu::ADD, R1, -8),
        asm::mov64_imm(R2, 8),
        asm::mov64_imm(R3, 0),
    ];
    calls_helper(
        "probe_read_kern",
        ProgType::TRACEPOINT,
        &setup,
        HELPER_PROBE_READ_KERNEL,
    )
}

/// `bpf_get_attach_cookie(ctx)` from a tracepoint program.
pub(crate) fn bpf_cookie() -> Result<bool, ProbeError> {
    calls_helper(
        "bpf_cookie",
        ProgType::TRACEPOINT,
        &[],
        HELPER_GET_ATTACH_COOKIE,
    )
}

/// `bpf_ktime_get_coarse_ns()` came in the release that charges BPF memory to memcg (5.11),
/// which is what libbpf checks before leaving RLIMIT_MEMLOCK alone.
pub(crate) fn memcg_account() -> Result<bool, ProbeError> {
    calls_helper(
        "memcg_account",
        ProgType::SOCKET_FILTER,
        &[],
        HELPER_KTIME_GET_COARSE_NS,
    )
}

const HELPER_PROBE_READ_KERNEL: i32 = 113;
const HELPER_GET_ATTACH_COOKIE: i32 = 174;
const HELPER_KTIME_GET_COARSE_NS: i32 = 160;
const HELPER_GET_FUNC_IP: i32 = 173;

/// `BPF_PROG_BIND_MAP` of an array to a trivial program.
pub(crate) fn prog_bind_map() -> Result<bool, ProbeError> {
    const NAME: &str = "prog_bind_map";
    let map = map_create(&MapCreate {
        map_type: MapType::ARRAY,
        key_size: 4,
        value_size: 32,
        max_entries: 1,
        ..Default::default()
    })
    .map_err(|e| setup_error(NAME, e))?;
    let insns = trivial();
    let prog = load(socket_filter(&insns)).map_err(|e| setup_error(NAME, e))?;
    answer(
        NAME,
        crate::syscall::prog_bind_map(prog.as_fd(), map.as_fd()),
        &PLAIN,
    )
}

/// A failing load (`exit` with r0 unset) writes a log; a kernel that reports
/// `log_true_size` sets it to the log's length.
pub(crate) fn log_true_size() -> Result<bool, ProbeError> {
    const NAME: &str = "log_true_size";
    let insns = [asm::exit()];
    let loaded = load_logged(socket_filter(&insns));
    match loaded.result {
        Ok(_) => Err(ProbeError::Inconclusive {
            probe: NAME.into(),
            reason: "a program that reads an unset r0 loaded".into(),
        }),
        Err(e) if e.errno == nix::errno::Errno::EACCES || e.errno == nix::errno::Errno::EINVAL => {
            // Older kernels leave the field as it was sent: 0.
            Ok(loaded.log_true_size > 0)
        }
        Err(e) => super::probe::classify(NAME, e, &PLAIN, &loaded.log).and(Ok(false)),
    }
}

/// A KPROBE program whose global subprogram takes `void *ctx __arg_ctx` (a DECL_TAG
/// `arg:ctx` on the argument) and passes it to `bpf_get_func_ip`, which needs a context.
pub(crate) fn arg_ctx_tag() -> Result<bool, ProbeError> {
    const NAME: &str = "arg_ctx_tag";
    if !has(Feature::BtfDeclTag)? || !has(Feature::BtfGlobalFunc)? {
        return Ok(false);
    }
    let mut b = BtfBuilder::new();
    let int = b.add(int_type("int"));
    let void_ptr = b.add(TypeDef::anon(TypeBody::Ptr { ty: 0 }));
    let proto = |name: &str| {
        TypeDef::anon(TypeBody::FuncProto {
            ret: int,
            params: vec![ParamDef {
                name: name.into(),
                ty: void_ptr,
            }],
        })
    };
    let main_proto = b.add(proto("ctx"));
    let main = b.add(TypeDef::named(
        "probe_main",
        TypeBody::Func {
            proto: main_proto,
            linkage: FuncLinkage::Global,
        },
    ));
    let sub_proto = b.add(proto("ctx"));
    let sub = b.add(TypeDef::named(
        "probe_sub",
        TypeBody::Func {
            proto: sub_proto,
            linkage: FuncLinkage::Global,
        },
    ));
    b.add(TypeDef::named(
        "arg:ctx",
        TypeBody::DeclTag {
            ty: sub,
            component_idx: 0,
            attr: false,
        },
    ));
    let btf = load_btf(NAME, &b)?.map_err(|e| setup_error(NAME, e))?;
    let insns = [
        asm::call_local(1),
        asm::exit(),
        asm::call_helper(HELPER_GET_FUNC_IP),
        asm::exit(),
    ];
    // bpf_func_info records: insn_off (in instructions), type_id.
    let mut func_info = Vec::with_capacity(16);
    for (off, id) in [(0u32, main), (2u32, sub)] {
        func_info.extend_from_slice(&off.to_ne_bytes());
        func_info.extend_from_slice(&id.to_ne_bytes());
    }
    let loaded = load_logged(ProgLoad {
        prog_type: ProgType::KPROBE,
        kern_version: super::kernel::version_code(),
        btf_fd: Some(btf.as_fd()),
        func_info: Some(ExtInfo {
            data: &func_info,
            rec_size: 8,
        }),
        name: "probe_main",
        ..socket_filter(&insns)
    });
    // Without the tag the verifier treats the argument as a scalar and refuses the helper
    // call with EACCES ("arg#0 expected pointer to ctx") or EINVAL.
    let errnos = super::probe::Errnos {
        yes: &[],
        no: &[super::probe::EINVAL, nix::errno::Errno::EACCES as i32],
    };
    answer_with_log(NAME, loaded.result, &errnos, &loaded.log)
}
