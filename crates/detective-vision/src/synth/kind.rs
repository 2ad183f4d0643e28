//! The defect families the generator draws, by name. Its own file because the
//! drawing code (`defects.rs`) needs it and `mod.rs` needs the drawing code.

use crate::VisionError;

/// The defect families the generator draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DefectKind {
    /// Thin curved anti-aliased line, bright or dark.
    Scratch,
    /// Soft dark or bright blotch, or a pit with a dark core and bright rim.
    Spot,
    /// Branching dark thin random-walk line.
    Crack,
    /// Smooth depression lit from one side: light and shadow lobes.
    Dent,
}

impl DefectKind {
    pub const ALL: [DefectKind; 4] = [
        DefectKind::Scratch,
        DefectKind::Spot,
        DefectKind::Crack,
        DefectKind::Dent,
    ];

    pub fn from_name(name: &str) -> Result<Self, VisionError> {
        match name.trim().to_ascii_lowercase().as_str() {
            "scratch" => Ok(DefectKind::Scratch),
            "spot" => Ok(DefectKind::Spot),
            "crack" => Ok(DefectKind::Crack),
            "dent" => Ok(DefectKind::Dent),
            other => Err(VisionError::InvalidArgument(format!(
                "unknown defect class {other:?} (known: scratch, spot, crack, dent)"
            ))),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            DefectKind::Scratch => "scratch",
            DefectKind::Spot => "spot",
            DefectKind::Crack => "crack",
            DefectKind::Dent => "dent",
        }
    }
}
