//! Plot text needs a TrueType font (plotters' `ab_glyph` backend lays text out from font data we
//! register; SVG sizes its labels with it too). We load one from the system once: `UNIBIT_FONT`
//! if set, else DejaVu Sans (Debian's fonts-dejavu-core, installed by scripts/setup.sh), else a
//! few common alternatives.

use crate::error::{Error, Result};
use plotters::style::{register_font, FontStyle};
use std::path::PathBuf;
use std::sync::OnceLock;

/// The family name plots ask for.
pub const FAMILY: &str = "sans-serif";

const REGULAR: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/lato/Lato-Regular.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
];
const BOLD: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    "/usr/share/fonts/truetype/lato/Lato-Bold.ttf",
    "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf",
];

static LOADED: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();

/// Register the plot font (once per process); the path used, or why none could be loaded.
pub fn ensure() -> Result<PathBuf> {
    LOADED.get_or_init(load).clone().map_err(Error::Font)
}

fn load() -> std::result::Result<PathBuf, String> {
    let env = std::env::var_os("UNIBIT_FONT").map(PathBuf::from);
    if let Some(p) = env.as_ref().filter(|p| !p.is_file()) {
        return Err(format!(
            "UNIBIT_FONT: expected a TrueType font file, found no file at {}",
            p.display()
        ));
    }
    let candidates: Vec<PathBuf> = env
        .iter()
        .cloned()
        .chain(REGULAR.iter().map(PathBuf::from))
        .collect();
    let Some(regular) = candidates.iter().find(|p| p.is_file()) else {
        return Err(format!(
            "no TrueType font for plot text: expected UNIBIT_FONT=<file.ttf> or one of {} \
             (Debian: apt-get install fonts-dejavu-core)",
            REGULAR.join(", ")
        ));
    };
    register(regular, FontStyle::Normal)?;
    // Bold titles when a bold face sits beside the regular one; plotters falls back to regular.
    if env.is_none() {
        if let Some(b) = BOLD.iter().map(PathBuf::from).find(|p| p.is_file()) {
            let _ = register(&b, FontStyle::Bold);
        }
    }
    Ok(regular.clone())
}

fn register(path: &PathBuf, style: FontStyle) -> std::result::Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    // plotters keeps fonts for the life of the process; leaking one file per style is that.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    register_font(FAMILY, style, bytes)
        .map_err(|_| format!("{}: expected a TrueType/OpenType font file", path.display()))
}
