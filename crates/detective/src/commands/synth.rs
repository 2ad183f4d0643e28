//! `detective synth`: writes a synthetic metal-defect dataset in the YOLO layout,
//! with masks for `--task segment`, in parallel, with a progress bar.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use detective_core::Rng;
use detective_data::split::SplitRatios;
use detective_data::{DatasetWriter, YoloLabel};
use detective_vision::encode::{encode_gray_png, encode_jpeg, encode_png};
use detective_vision::synth::{DefectKind, SynthConfig, Task, Variety, generate};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

use crate::cli::{ImageFormatArg, SynthArgs, TaskArg};
use crate::config::Config;

/// Parses `WxH`.
pub fn parse_size(s: &str) -> Result<(u32, u32)> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .with_context(|| format!("size {s:?} must look like 320x320"))?;
    Ok((
        w.trim().parse().with_context(|| format!("width in {s:?}"))?,
        h.trim().parse().with_context(|| format!("height in {s:?}"))?,
    ))
}

/// Parses `WxH[,WxH…]`.
pub fn parse_sizes(s: &str) -> Result<Vec<(u32, u32)>> {
    let sizes = s.split(',').map(parse_size).collect::<Result<Vec<_>>>()?;
    if sizes.len() > 16 {
        bail!("--size lists {} sizes; at most 16", sizes.len());
    }
    Ok(sizes)
}

/// The size of image `index`: one of `sizes` at random (always the only one).
fn size_of(sizes: &[(u32, u32)], seed: u64, index: u64) -> (u32, u32) {
    if sizes.len() == 1 {
        return sizes[0];
    }
    sizes[Rng::derive(seed ^ 0x7369_7a65_7069_636b, index).range_usize(0, sizes.len())]
}

/// Split counts for `count` images; the rest after train and val goes to test.
fn split_counts(count: u64, fractions: &[f64]) -> Result<[u64; 3]> {
    let [train, val, test] = fractions else {
        bail!("--split needs three fractions train,val,test")
    };
    let ratios = SplitRatios::new(*train, *val, *test).context("--split")?;
    Ok(ratios.counts(count as usize).map(|c| c as u64))
}

pub fn run(args: &SynthArgs, _config: &Config) -> Result<ExitCode> {
    let sizes = parse_sizes(&args.size)?;
    let (width, height) = sizes[0];
    let classes = args
        .classes
        .iter()
        .map(|c| DefectKind::from_name(c))
        .collect::<Result<Vec<_>, _>>()?;
    let cfg = SynthConfig {
        width,
        height,
        task: if args.task != TaskArg::Detect {
            Task::Segment
        } else {
            Task::Detect
        },
        classes,
        defect_rate: args.defect_rate,
        max_defects: args.max_defects,
        variety: Variety::from_name(&args.variety).context("--variety is standard or wide")?,
    };
    cfg.validate()?;
    for &(width, height) in &sizes[1..] {
        SynthConfig {
            width,
            height,
            ..cfg.clone()
        }
        .validate()?;
    }
    if args.count == 0 || args.count > 10_000_000 {
        bail!("--count {} must be within 1..=10000000", args.count);
    }
    let counts = split_counts(args.count, &args.split)?;
    let splits: Vec<&str> = detective_data::SPLITS
        .iter()
        .zip(counts)
        .filter(|(_, n)| *n > 0)
        .map(|(s, _)| *s)
        .collect();
    let writer = DatasetWriter::create(&args.out, &cfg.class_names(), &splits, args.force)?;
    let ext = match args.format {
        ImageFormatArg::Png => "png",
        ImageFormatArg::Jpg => "jpg",
    };
    let bar = ProgressBar::new(args.count);
    bar.set_style(
        ProgressStyle::with_template("{spinner} synth [{bar:40}] {pos}/{len} images {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let started = Instant::now();
    let boxes = AtomicU64::new(0);
    (0..args.count).into_par_iter().try_for_each(|i| -> Result<()> {
        let split = if i < counts[0] {
            "train"
        } else if i < counts[0] + counts[1] {
            "val"
        } else {
            "test"
        };
        let (width, height) = size_of(&sizes, args.seed, i);
        let sample = generate(
            &SynthConfig {
                width,
                height,
                ..cfg.clone()
            },
            args.seed,
            i,
        )?;
        let name = format!("synth_{i:06}.{ext}");
        let bytes = match args.format {
            ImageFormatArg::Png => encode_png(&sample.image)?,
            ImageFormatArg::Jpg => encode_jpeg(&sample.image, 95)?,
        };
        let labels: Vec<YoloLabel> = sample
            .objects
            .iter()
            .map(|o| {
                YoloLabel::from_xyxy(
                    o.class,
                    [o.bbox.x1 as f64, o.bbox.y1 as f64, o.bbox.x2 as f64, o.bbox.y2 as f64],
                    width,
                    height,
                )
            })
            .collect();
        writer.add_image_bytes(split, &name, &bytes, &labels)?;
        if cfg.task == Task::Segment {
            writer.add_mask_png(split, &name, &encode_gray_png(&sample.mask)?)?;
        }
        boxes.fetch_add(labels.len() as u64, Ordering::Relaxed);
        bar.inc(1);
        Ok(())
    })?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "wrote {} images ({} train / {} val / {} test, {} boxes) to {} in {:.1} s ({:.0} images/s)",
        args.count,
        counts[0],
        counts[1],
        counts[2],
        boxes.load(Ordering::Relaxed),
        args.out.display(),
        secs,
        args.count as f64 / secs.max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_and_split_arguments_are_validated() {
        assert_eq!(parse_size("320x240").unwrap(), (320, 240));
        assert!(parse_size("320").is_err() && parse_size("ax3").is_err());
        assert_eq!(parse_sizes("200x200,640x480").unwrap(), vec![(200, 200), (640, 480)]);
        assert!(parse_sizes("200x200,").is_err());
        let sizes = [(200, 200), (320, 320), (640, 480)];
        let picked: Vec<_> = (0..60).map(|i| size_of(&sizes, 1, i)).collect();
        assert!(sizes.iter().all(|s| picked.contains(s)), "every size is used");
        assert_eq!(size_of(&sizes, 1, 5), size_of(&sizes, 1, 5));
        assert_eq!(split_counts(1000, &[0.7, 0.15, 0.15]).unwrap(), [700, 150, 150]);
        assert_eq!(split_counts(7, &[0.7, 0.15, 0.15]).unwrap().iter().sum::<u64>(), 7);
        assert!(split_counts(10, &[0.5, 0.5]).is_err());
        assert!(split_counts(10, &[0.5, 0.5, 0.5]).is_err());
    }
}
