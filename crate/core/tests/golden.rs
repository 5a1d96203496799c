//! The golden version-1 page files of `__test__/fixtures/golden/` (made once
//! by `generate.js` there, described in `expected.json` from the generator's
//! own model) decode with this crate's reader to exactly the records
//! described: kind, address and size of each, and the kept addresses of each
//! dealloc record. (`__test__/golden.spec.ts` checks the page bytes too.)

use std::path::PathBuf;

use photon_wb_core::{PageFile, RecordKind};

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../__test__/fixtures/golden")
}

/// The string values of `"key": "..."` and the numbers of `"key": N` in
/// `text`, in order (expected.json is flat enough for this).
fn values(text: &str, key: &str) -> Vec<String> {
    let pat = format!("\"{key}\": ");
    text.match_indices(&pat)
        .map(|(i, _)| {
            let rest = &text[i + pat.len()..];
            let end = rest.find([',', '\n', '}']).unwrap_or(rest.len());
            rest[..end].trim().trim_matches('"').to_owned()
        })
        .collect()
}

#[test]
fn golden_files_decode_to_their_description() {
    let expected = std::fs::read_to_string(golden_dir().join("expected.json")).unwrap();
    let blocks: Vec<&str> = expected.split("\"name\": ").skip(1).collect();
    assert_eq!(blocks.len(), 4, "four golden files");
    for block in blocks {
        let name = block[1..].split('"').next().unwrap();
        let file = PageFile::open(&golden_dir().join(name)).unwrap();
        let group: u32 = values(block, "groupId")[0].parse().unwrap();
        assert_eq!(file.group_id(), group, "{name}");
        assert_eq!(file.capacity().to_string(), values(block, "capacity")[0]);
        let kinds = values(block, "kind");
        let addrs = values(block, "addr");
        let sizes = values(block, "size");
        assert_eq!(file.len(), kinds.len(), "{name}");
        let mut dealloc_addrs = Vec::new();
        for (i, r) in file.records().enumerate() {
            let kind = match r.kind {
                RecordKind::Page => "page",
                RecordKind::Dealloc => "dealloc",
            };
            assert_eq!(kind, kinds[i], "{name} record {i}");
            assert_eq!(format!("{:#x}", r.addr), addrs[i], "{name} record {i}");
            assert_eq!(r.body().len().to_string(), sizes[i], "{name} record {i}");
            dealloc_addrs.extend(r.dealloc_addrs().map(|a| format!("{a:#x}")));
        }
        // Each dealloc record's "addrs" list, in file order.
        let listed: Vec<String> = block
            .split("\"addrs\": [")
            .skip(1)
            .flat_map(|l| {
                l[..l.find(']').unwrap()]
                    .split(',')
                    .map(|a| a.trim().trim_matches('"').to_owned())
                    .filter(|a| !a.is_empty())
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(dealloc_addrs, listed, "{name}");
    }
}
