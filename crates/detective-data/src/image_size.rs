//! Image dimensions from the file header only (no pixel decoding).

use std::io::{BufRead, Cursor, Seek};
use std::path::Path;

use image::ImageReader;

use crate::DataError;

/// `(width, height)` read from the header; an error names the file and the cause.
pub fn image_size(path: &Path) -> Result<(u32, u32), DataError> {
    let reader = ImageReader::open(path).map_err(DataError::io(path))?;
    size_from_reader(reader, path)
}

/// The median long side of the images at `paths`, read from their headers: the
/// native scale that a model trained on them, resized into its input, learnt
/// from (what `--tile auto` compares a new image with). `None` for no images.
pub fn median_long_side<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Result<Option<u32>, DataError> {
    let mut sides = paths
        .into_iter()
        .map(|p| image_size(p).map(|(w, h)| w.max(h)))
        .collect::<Result<Vec<u32>, DataError>>()?;
    sides.sort_unstable();
    Ok(sides.get(sides.len() / 2).copied())
}

/// The same, for a file already read into memory (`path` only names it in errors).
pub fn image_size_of_bytes(path: &Path, bytes: &[u8]) -> Result<(u32, u32), DataError> {
    size_from_reader(ImageReader::new(Cursor::new(bytes)), path)
}

fn size_from_reader<R: BufRead + Seek>(reader: ImageReader<R>, path: &Path) -> Result<(u32, u32), DataError> {
    let reader = reader.with_guessed_format().map_err(DataError::io(path))?;
    if reader.format().is_none() {
        return Err(DataError::Image {
            path: path.to_path_buf(),
            reason: "not a recognised image format".into(),
        });
    }
    let (w, h) = reader.into_dimensions().map_err(|e| DataError::Image {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    if w == 0 || h == 0 {
        return Err(DataError::Image {
            path: path.to_path_buf(),
            reason: "zero width or height".into(),
        });
    }
    Ok((w, h))
}
