//! Unpacking an uploaded zip into a folder, with limits: files only (folders
//! made as needed; symlinks and `__MACOSX/` metadata skipped), every path inside
//! the folder, at most `max_entries` entries and `max_bytes` in all — counted as
//! read, not as the zip claims, so a zip bomb stops at the limit.

use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Why a zip was not unpacked (what was written so far is left to the caller's
/// temporary folder).
#[derive(Debug, Error)]
pub enum UnzipError {
    #[error("not a zip file: {0}")]
    NotZip(String),
    #[error("{entries} entries in the zip")]
    TooManyEntries { entries: usize, max: usize },
    #[error("zip entry {0:?} would be written outside the dataset folder")]
    Outside(String),
    #[error("the zip unpacks to more than {max} bytes")]
    TooLarge { max: u64 },
    #[error("zip entry {name}: {reason}")]
    Entry { name: String, reason: String },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

/// Unpacks the zip read from `reader` into `dest`; returns the bytes written.
pub fn unpack<R: Read + Seek>(reader: R, dest: &Path, max_bytes: u64, max_entries: usize) -> Result<u64, UnzipError> {
    let mut archive = zip::ZipArchive::new(reader).map_err(|e| UnzipError::NotZip(e.to_string()))?;
    if archive.len() > max_entries {
        return Err(UnzipError::TooManyEntries {
            entries: archive.len(),
            max: max_entries,
        });
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| UnzipError::Io { path, source }
    };
    let mut total = 0u64;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| UnzipError::Entry {
            name: i.to_string(),
            reason: e.to_string(),
        })?;
        let name = entry.name().to_string();
        let Some(rel) = entry.enclosed_name() else {
            return Err(UnzipError::Outside(name));
        };
        if entry.is_dir() || name.starts_with("__MACOSX/") || entry.is_symlink() {
            continue;
        }
        let path = dest.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let mut out = std::fs::File::create(&path).map_err(io(&path))?;
        let left = max_bytes.saturating_sub(total);
        let copied = std::io::copy(&mut (&mut entry).take(left + 1), &mut out).map_err(|e| UnzipError::Entry {
            name: format!("{name:?}"),
            reason: e.to_string(),
        })?;
        total += copied;
        if total > max_bytes {
            return Err(UnzipError::TooLarge { max: max_bytes });
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Write};

    use zip::write::SimpleFileOptions;

    use super::*;

    fn zip_of(entries: &[(&str, &[u8])], symlink: Option<(&str, &str)>) -> Cursor<Vec<u8>> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = SimpleFileOptions::default();
        for (name, data) in entries {
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
        if let Some((name, target)) = symlink {
            w.add_symlink(name, target, opts).unwrap();
        }
        let mut c = w.finish().unwrap();
        c.set_position(0);
        c
    }

    #[test]
    fn files_land_inside_the_folder_and_symlinks_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let z = zip_of(
            &[("data.yaml", b"names: [a]"), ("images/train/a.jpg", b"jpg")],
            Some(("link", "/etc/passwd")),
        );
        assert_eq!(unpack(z, dir.path(), 1000, 10).unwrap(), 13);
        assert!(dir.path().join("images/train/a.jpg").is_file());
        assert!(std::fs::symlink_metadata(dir.path().join("link")).is_err());
    }

    #[test]
    fn a_name_leaving_the_folder_a_bomb_and_too_many_entries_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let out = unpack(zip_of(&[("../escape.txt", b"x")], None), dir.path(), 1000, 10);
        assert!(matches!(out, Err(UnzipError::Outside(_))), "{out:?}");
        assert!(!dir.path().join("../escape.txt").exists());
        let big = vec![0u8; 10_000];
        let out = unpack(zip_of(&[("a", &big)], None), dir.path(), 4096, 10);
        assert!(matches!(out, Err(UnzipError::TooLarge { max: 4096 })), "{out:?}");
        assert!(std::fs::metadata(dir.path().join("a")).unwrap().len() <= 4097);
        let out = unpack(
            zip_of(&[("a", b"1"), ("b", b"2"), ("c", b"3")], None),
            dir.path(),
            100,
            2,
        );
        assert!(
            matches!(out, Err(UnzipError::TooManyEntries { entries: 3, max: 2 })),
            "{out:?}"
        );
        let out = unpack(Cursor::new(b"not a zip".to_vec()), dir.path(), 100, 2);
        assert!(matches!(out, Err(UnzipError::NotZip(_))), "{out:?}");
    }
}
