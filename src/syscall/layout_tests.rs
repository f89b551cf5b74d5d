//! Sizes and field offsets of the attribute and info structs, against the numbers read from
//! Linux 6.18's BTF (`bpftool btf dump file /sys/kernel/btf/vmlinux format raw`).

use std::mem::{offset_of, size_of};

use super::*;

macro_rules! layout {
    ($ty:ty, $size:expr, { $($field:ident : $off:expr),* $(,)? }) => {{
        assert_eq!(size_of::<$ty>(), $size, concat!("size of ", stringify!($ty)));
        $( assert_eq!(offset_of!($ty, $field), $off,
            concat!(stringify!($ty), ".", stringify!($field))); )*
    }};
}

#[test]
fn map_attrs() {
    layout!(MapCreateAttr, 96, {
        map_type: 0, key_size: 4, value_size: 8, max_entries: 12, map_flags: 16,
        inner_map_fd: 20, numa_node: 24, map_name: 28, map_ifindex: 44, btf_fd: 48,
        btf_key_type_id: 52, btf_value_type_id: 56, btf_vmlinux_value_type_id: 60,
        map_extra: 64, value_type_btf_obj_fd: 72, map_token_fd: 76, excl_prog_hash: 80,
        excl_prog_hash_size: 88,
    });
    layout!(MapElemAttr, 32, { map_fd: 0, key: 8, value: 16, flags: 24 });
}

#[test]
fn prog_attrs() {
    layout!(ProgLoadAttr, 168, {
        prog_type: 0, insn_cnt: 4, insns: 8, license: 16, log_level: 24, log_size: 28,
        log_buf: 32, kern_version: 40, prog_flags: 44, prog_name: 48, prog_ifindex: 64,
        expected_attach_type: 68, prog_btf_fd: 72, func_info_rec_size: 76, func_info: 80,
        func_info_cnt: 88, line_info_rec_size: 92, line_info: 96, line_info_cnt: 104,
        attach_btf_id: 108, attach_prog_fd: 112, core_relo_cnt: 116, fd_array: 120,
        core_relos: 128, core_relo_rec_size: 136, log_true_size: 140, prog_token_fd: 144,
        fd_array_cnt: 148, signature: 152, signature_size: 160, keyring_id: 164,
    });
    layout!(TestRunAttr, 80, {
        prog_fd: 0, retval: 4, data_size_in: 8, data_size_out: 12, data_in: 16,
        data_out: 24, repeat: 32, duration: 36, ctx_size_in: 40, ctx_size_out: 44,
        ctx_in: 48, ctx_out: 56, flags: 64, cpu: 68, batch_size: 72,
    });
    layout!(ProgBindMapAttr, 12, { prog_fd: 0, map_fd: 4, flags: 8 });
}

#[test]
fn obj_attrs() {
    layout!(ObjAttr, 24, { pathname: 0, bpf_fd: 8, file_flags: 12, path_fd: 16 });
    layout!(GetIdAttr, 16, { start_id: 0, next_id: 4, open_flags: 8, fd_by_id_token_fd: 12 });
    layout!(InfoAttr, 16, { bpf_fd: 0, info_len: 4, info: 8 });
}

#[test]
fn info_structs() {
    layout!(ProgInfo, 232, {
        type_: 0, id: 4, tag: 8, jited_prog_len: 16, xlated_prog_len: 20,
        jited_prog_insns: 24, xlated_prog_insns: 32, load_time: 40, created_by_uid: 48,
        nr_map_ids: 52, map_ids: 56, name: 64, ifindex: 80, gpl_compatible_bits: 84,
        netns_dev: 88, netns_ino: 96, nr_jited_ksyms: 104, nr_jited_func_lens: 108,
        jited_ksyms: 112, jited_func_lens: 120, btf_id: 128, func_info_rec_size: 132,
        func_info: 136, nr_func_info: 144, nr_line_info: 148, line_info: 152,
        jited_line_info: 160, nr_jited_line_info: 168, line_info_rec_size: 172,
        jited_line_info_rec_size: 176, nr_prog_tags: 180, prog_tags: 184, run_time_ns: 192,
        run_cnt: 200, recursion_misses: 208, verified_insns: 216, attach_btf_obj_id: 220,
        attach_btf_id: 224,
    });
    layout!(MapInfo, 104, {
        type_: 0, id: 4, key_size: 8, value_size: 12, max_entries: 16, map_flags: 20,
        name: 24, ifindex: 40, btf_vmlinux_value_type_id: 44, netns_dev: 48, netns_ino: 56,
        btf_id: 64, btf_key_type_id: 68, btf_value_type_id: 72, btf_vmlinux_id: 76,
        map_extra: 80, hash: 88, hash_size: 96,
    });
    layout!(BtfInfo, 32, { btf: 0, btf_size: 8, id: 12, name: 16, name_len: 24, kernel_btf: 28 });
    layout!(LinkInfo, 64, { type_: 0, id: 4, prog_id: 8, detail: 16 });
    layout!(FuncInfoRec, 8, { insn_off: 0, type_id: 4 });
    layout!(LineInfoRec, 16, { insn_off: 0, file_name_off: 4, line_off: 8, line_col: 12 });
}

#[test]
fn link_and_attach_attrs() {
    layout!(BatchAttr, 56, {
        in_batch: 0, out_batch: 8, keys: 16, values: 24, count: 32, map_fd: 36,
        elem_flags: 40, flags: 48,
    });
    layout!(ProgAttachAttr, 32, {
        target_fd: 0, attach_bpf_fd: 4, attach_type: 8, attach_flags: 12, replace_bpf_fd: 16,
        relative_fd: 20, expected_revision: 24,
    });
    layout!(QueryAttr, 64, {
        target_fd: 0, attach_type: 4, query_flags: 8, attach_flags: 12, prog_ids: 16,
        prog_cnt: 24, prog_attach_flags: 32, link_ids: 40, link_attach_flags: 48, revision: 56,
    });
    layout!(RawTracepointAttr, 24, { name: 0, prog_fd: 8, cookie: 16 });
    layout!(BtfLoadAttr, 40, {
        btf: 0, btf_log_buf: 8, btf_size: 16, btf_log_size: 20, btf_log_level: 24,
        btf_log_true_size: 28, btf_flags: 32, btf_token_fd: 36,
    });
    layout!(TaskFdQueryAttr, 48, {
        pid: 0, fd: 4, flags: 8, buf_len: 12, buf: 16, prog_id: 24, fd_type: 28,
        probe_offset: 32, probe_addr: 40,
    });
    layout!(LinkCreateAttr, 64, { prog_fd: 0, target_fd: 4, attach_type: 8, flags: 12, extra: 16 });
    layout!(LinkUpdateAttr, 16, { link_fd: 0, new_prog_fd: 4, flags: 8, old_prog_fd: 12 });
    layout!(LinkDetachAttr, 4, { link_fd: 0 });
    layout!(EnableStatsAttr, 4, { type_: 0 });
    layout!(IterCreateAttr, 8, { link_fd: 0, flags: 4 });
    layout!(ProgBindMapAttr, 12, { prog_fd: 0, map_fd: 4, flags: 8 });
    layout!(TokenCreateAttr, 8, { flags: 0, bpffs_fd: 4 });
}

/// Field tables must be sorted by offset and start at 0, or the E2BIG hint misreads them.
#[test]
fn field_tables_are_ordered() {
    use super::sys::Attr;
    fn check<A: Attr>(name: &str) {
        let f = A::FIELDS;
        assert_eq!(f.first().map(|f| f.offset), Some(0), "{name}");
        for w in f.windows(2) {
            assert!(
                w[0].offset < w[1].offset,
                "{name}: {} / {}",
                w[0].name,
                w[1].name
            );
        }
        assert!(f.last().unwrap().offset < size_of::<A>(), "{name}");
    }
    check::<MapCreateAttr>("MapCreateAttr");
    check::<MapElemAttr>("MapElemAttr");
    check::<ProgLoadAttr>("ProgLoadAttr");
    check::<TestRunAttr>("TestRunAttr");
    check::<ProgBindMapAttr>("ProgBindMapAttr");
    check::<ObjAttr>("ObjAttr");
    check::<GetIdAttr>("GetIdAttr");
    check::<InfoAttr>("InfoAttr");
    check::<BatchAttr>("BatchAttr");
    check::<ProgAttachAttr>("ProgAttachAttr");
    check::<QueryAttr>("QueryAttr");
    check::<RawTracepointAttr>("RawTracepointAttr");
    check::<BtfLoadAttr>("BtfLoadAttr");
    check::<TaskFdQueryAttr>("TaskFdQueryAttr");
    check::<LinkUpdateAttr>("LinkUpdateAttr");
    check::<LinkDetachAttr>("LinkDetachAttr");
    check::<EnableStatsAttr>("EnableStatsAttr");
    check::<IterCreateAttr>("IterCreateAttr");
    check::<TokenCreateAttr>("TokenCreateAttr");
}
