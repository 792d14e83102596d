//! Images to classify from PNG files (the `png` crate): any colour type and bit depth,
//! normalised to 8 bits, converted to grey (ITU-R BT.601 luma) and checked against the
//! model's input shape. No resizing: a 28×28 model takes 28×28 images.

use crate::driver::Images;
use crate::error::{Error, Result};
use ndarray::Array4;
use png::{ColorType, Transformations};
use std::path::{Path, PathBuf};
use unibit_core::graph::Shape;

/// One grey-level image from `file`, `shape.h × shape.w` pixels (`shape.c` must be 1).
pub fn read_png(file: &Path, shape: Shape) -> Result<Vec<u8>> {
    let f = std::fs::File::open(file).map_err(|source| Error::File {
        file: file.into(),
        source,
    })?;
    let png_err = |source| Error::Png {
        file: file.into(),
        source,
    };
    let mut dec = png::Decoder::new(f);
    dec.set_transformations(Transformations::normalize_to_color8());
    let mut reader = dec.read_info().map_err(png_err)?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let out = reader.next_frame(&mut buf).map_err(png_err)?;
    let size = (out.width as usize, out.height as usize);
    if shape.c != 1 || size != (shape.w, shape.h) {
        return Err(Error::Invalid {
            what: format!("{}: image size", file.display()),
            expected: format!("{}×{} grey ({} channel)", shape.w, shape.h, shape.c),
            found: format!("{}×{}", size.0, size.1),
        });
    }
    let channels = out.color_type.samples();
    let grey = |p: &[u8]| match out.color_type {
        ColorType::Rgb | ColorType::Rgba => {
            ((299 * p[0] as u32 + 587 * p[1] as u32 + 114 * p[2] as u32 + 500) / 1000) as u8
        }
        _ => p[0],
    };
    Ok((0..size.1)
        .flat_map(|y| {
            let row = &buf[y * out.line_size..][..size.0 * channels];
            row.chunks_exact(channels).map(grey).collect::<Vec<_>>()
        })
        .collect())
}

/// `files` as one batch `[N, 1, H, W]` for the model in `bundle_dir`, without labels.
pub fn read_pngs(bundle_dir: &Path, files: &[PathBuf]) -> Result<Images> {
    let shape = unibit_core::bundle::read_with(bundle_dir, false)?
        .model
        .graph
        .input;
    let mut pixels = vec![];
    for f in files {
        pixels.extend(read_png(f, shape)?);
    }
    let pixels = Array4::from_shape_vec((files.len(), shape.c, shape.h, shape.w), pixels)
        .expect("each image checked");
    Ok(Images {
        pixels,
        labels: None,
        source: format!("{} PNG files", files.len()),
    })
}
