//! `detective dataset info|check|split|convert|import`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use detective_data::check::check_dataset;
use detective_data::coco::{from_coco, read_coco, to_coco, write_coco};
use detective_data::split::{SplitRatios, write_split};
use detective_data::stats::dataset_stats;
use detective_data::writer::safe_relative;
use detective_data::{DatasetWriter, Sample, YoloDataset};

use crate::cli::{ConvertArgs, DatasetCommand, DatasetFormat};
use crate::config::Config;

fn load(path: &Path) -> Result<YoloDataset> {
    YoloDataset::load(path).with_context(|| format!("loading dataset {}", path.display()))
}

pub fn run(cmd: DatasetCommand, config: &Config) -> Result<ExitCode> {
    match cmd {
        DatasetCommand::Info { path, json } => {
            let stats = dataset_stats(&load(&path)?);
            if json {
                println!("{}", serde_json::to_string_pretty(&stats)?);
            } else {
                print!("{stats}");
            }
            Ok(ExitCode::SUCCESS)
        }
        DatasetCommand::Check { path, json } => {
            let report = check_dataset(&load(&path)?);
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!("{report}");
            }
            Ok(if report.is_ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        DatasetCommand::Split {
            path,
            train,
            val,
            test,
            seed,
            out,
        } => {
            let ds = load(&path)?;
            let counts = write_split(&ds, SplitRatios::new(train, val, test)?, seed, &out, false)?;
            println!(
                "wrote {} train / {} val / {} test images to {}",
                counts[0],
                counts[1],
                counts[2],
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        DatasetCommand::Convert(args) => convert(&args),
        DatasetCommand::Import {
            path,
            name,
            project,
            note,
            storage,
        } => import(path, name, project, note, &storage, config),
    }
}

/// `dataset import`: [`detective_ops::datasets::import`] on the configured storage.
fn import(
    path: std::path::PathBuf,
    name: String,
    project: String,
    note: Option<String>,
    storage: &crate::cli::StorageArgs,
    config: &Config,
) -> Result<ExitCode> {
    use crate::commands::storage::{open_db, open_objects, runtime};
    runtime()?.block_on(async {
        let db = open_db(storage, config).await?;
        let objects = open_objects(storage, config)?;
        let req = detective_ops::datasets::ImportFolder {
            path,
            name,
            project,
            note,
        };
        let limits = detective_vision::DecodeLimits::default();
        let done = detective_ops::datasets::import(&db, &objects, &limits, req)
            .await
            .context("importing the dataset")?;
        let v = done.dataset.versions.first();
        println!(
            "imported {} dataset {} {:?} of project {}: {} images ({} already in the project), {} masks, version 1 \
             splits {}",
            done.dataset.task,
            done.dataset.id,
            done.dataset.name,
            done.dataset.project,
            done.images,
            done.duplicates,
            done.masks,
            v.map(|v| format!("{:?}", v.splits)).unwrap_or_default()
        );
        Ok(ExitCode::SUCCESS)
    })
}

fn convert(args: &ConvertArgs) -> Result<ExitCode> {
    match args.to {
        DatasetFormat::Coco => {
            let ds = load(&args.input)?;
            let split = ds
                .split(&args.split)
                .with_context(|| format!("the dataset has no {:?} split", args.split))?;
            let samples: Vec<&Sample> = split.samples.iter().collect();
            let coco = to_coco(&samples, ds.names(), &ds.yaml.root)?;
            write_coco(&args.out, &coco)?;
            println!(
                "wrote {} images, {} boxes, {} categories to {}",
                coco.images.len(),
                coco.annotations.len(),
                coco.categories.len(),
                args.out.display()
            );
        }
        DatasetFormat::Yolo => {
            let images = args
                .images
                .as_ref()
                .context("--images DIR is needed to convert COCO to YOLO")?;
            if !detective_data::SPLITS.contains(&args.into_split.as_str()) {
                bail!("--into-split must be train, val or test");
            }
            let coco = read_coco(&args.input)?;
            let imp = from_coco(&coco, &[])?;
            let writer = DatasetWriter::create(&args.out, &imp.names, &[args.into_split.as_str()], false)?;
            let mut boxes = 0;
            for im in &imp.images {
                let rel = safe_relative(&im.file_name)?;
                let src = images.join(rel);
                if !src.is_file() {
                    bail!("{}: image named in the COCO file not found", src.display());
                }
                writer.add_image_file(&args.into_split, &im.file_name, &src, &im.labels)?;
                boxes += im.labels.len();
            }
            println!(
                "wrote {} images, {} boxes, {} classes to {}",
                imp.images.len(),
                boxes,
                imp.names.len(),
                args.out.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
