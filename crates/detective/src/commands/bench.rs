//! `detective bench infer|train`: the speed figures of the benchmarks doc
//! (`train --task segment` times the segmenter's step).

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use detective_ml::Detector;
use detective_ml::bench::{bench_infer, bench_infer_segmenter, bench_train, bench_train_segmenter};
use detective_ml::detect::Scale;
use detective_ml::segment::segmenter::AnySegmenter;
use detective_vision::synth::{SynthConfig, generate};

use crate::cli::{BenchCommand, TaskArg};
use crate::config::Config;

pub fn run(cmd: BenchCommand, config: &Config) -> Result<ExitCode> {
    match cmd {
        BenchCommand::Ingest {
            url,
            key,
            clients,
            batch,
            duration,
            rate,
            query_every,
            server_pid,
            json,
        } => {
            if rate > 0.0 {
                super::bench_http::check(clients, duration)?;
                if !(1..=1000).contains(&batch) {
                    bail!("--batch must be within 1..=1000");
                }
                return super::bench_sustained::run(super::bench_sustained::Sustained {
                    url,
                    key: super::bench_http::key_or_bail(key)?,
                    clients,
                    rate,
                    batch,
                    duration,
                    query_every,
                    server_pid,
                    json,
                });
            }
            return super::bench_http::ingest(&url, key, clients, batch, duration, json);
        }
        BenchCommand::Edge {
            source,
            model,
            frames,
            threads,
            json,
        } => {
            return super::bench_edge::run(&source, &model, frames, threads, json, config);
        }
        BenchCommand::Predict {
            url,
            key,
            clients,
            source,
            duration,
            json,
        } => {
            return super::bench_http::predict(&url, key, clients, source.as_deref(), duration, json, config);
        }
        BenchCommand::Infer {
            model,
            source,
            warmup,
            runs,
            threads,
            json,
            tiles,
        } => {
            let frame = match &source {
                Some(p) => detective_vision::decode_file(p, &config.decode_limits())
                    .with_context(|| format!("reading {}", p.display()))?,
                None => {
                    let cfg = SynthConfig {
                        width: 640,
                        height: 480,
                        ..SynthConfig::default()
                    };
                    generate(&cfg, 1, 0)?.image
                }
            };
            let path = detective_ml::detect::bundled::resolve(&model)?;
            let (b, backend, imgsz) = if detective_ml::segment::segmenter::is_segmenter(&path) {
                let seg = AnySegmenter::load(&path, threads)?.with_tiles(tiles.plan());
                (
                    bench_infer_segmenter(&seg, &frame, warmup, runs.max(1))?,
                    seg.backend(),
                    seg.imgsz(),
                )
            } else {
                let detector = Detector::load(&path, None, threads)?.with_tiles(tiles.plan());
                (
                    bench_infer(&detector, &frame, warmup, runs.max(1))?,
                    detector.backend,
                    detector.imgsz,
                )
            };
            let t = &b.total;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"model": model, "backend": backend, "imgsz": imgsz,
                        "image": [frame.width(), frame.height()], "timing": t,
                        "median_ms": {"preprocess": b.preprocess_ms, "inference": b.inference_ms, "postprocess": b.postprocess_ms}})
                );
            } else {
                println!(
                    "{} on {} at {}: median {:.2} ms, p95 {:.2} ms, {:.1} images/s ({} runs, image {}×{})\n  \
                     medians: preprocess {:.2} ms, engine {:.2} ms, postprocess {:.2} ms",
                    model.display(),
                    backend,
                    imgsz,
                    t.median_ms,
                    t.p95_ms,
                    t.images_per_sec,
                    t.runs,
                    frame.width(),
                    frame.height(),
                    b.preprocess_ms,
                    b.inference_ms,
                    b.postprocess_ms
                );
            }
        }
        BenchCommand::Parity {
            data,
            split,
            imgsz,
            batch,
            seed,
            out,
        } => {
            let cpu = detective_ml::runtime::device::ComputeDevice::Cpu.burn_device()?;
            let d = detective_ml::segment::parity::write_parity_batch(&data, &split, imgsz, batch, seed, &cpu, &out)
                .with_context(|| format!("parity batch of {}", data.display()))?;
            println!(
                "{} images of {split} at {imgsz}: BCE {:.6}, Dice loss {:.6}; {} tensors in {}",
                d.images.len(),
                d.bce,
                d.dice,
                d.tensors.len(),
                out.join("tensors.f32").display()
            );
        }
        BenchCommand::Train {
            task,
            model,
            imgsz,
            batch,
            warmup,
            steps,
            json,
            device,
        } => {
            let device = super::device::resolve(&device, true)?;
            let on = device.burn_device()?;
            let (json_value, split, what) = match task {
                TaskArg::Segment | TaskArg::Anomaly => {
                    let (imgsz, batch) = (imgsz.unwrap_or(256), batch.unwrap_or(8));
                    let b = bench_train_segmenter(imgsz, batch, warmup, steps.max(1), &on)?;
                    let what = format!(
                        "UNetTiny ({} parameters) train step at {imgsz}, batch {batch} on {device}",
                        b.params
                    );
                    (serde_json::to_value(&b)?, b.split, what)
                }
                TaskArg::Detect => {
                    let (imgsz, batch) = (imgsz.unwrap_or(320), batch.unwrap_or(16));
                    let scale = Scale::parse(&model).context("--model must be t, n or s")?;
                    let b = bench_train(scale, imgsz, batch, warmup, steps.max(1), &on)?;
                    let what = format!(
                        "yolov8{} train step at {imgsz}, batch {batch} on {device}",
                        scale.as_str()
                    );
                    (serde_json::to_value(&b)?, b.split, what)
                }
            };
            let peak_rss_mib = super::bench_edge::usage().1 as f64 / 1024.0;
            if json {
                let mut v = json_value;
                v["peak_rss_mib"] = serde_json::json!(peak_rss_mib);
                println!("{v}");
            } else {
                println!(
                    "{what}: {:.1} images/s (median step {:.0} ms: forward {:.0}, loss {:.0}, backward {:.0}, \
                     optimiser {:.0}); peak RSS {peak_rss_mib:.0} MiB",
                    split.step.images_per_sec,
                    split.step.median_ms,
                    split.forward_ms,
                    split.loss_ms,
                    split.backward_ms,
                    split.optimizer_ms
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
