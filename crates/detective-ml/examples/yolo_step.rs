//! Times forward, loss and backward of the YOLOv8 detector on random data.
//! `cargo run --release -p detective-ml --example yolo_step -- [n|s] [imgsz] [batch] [steps]`
use std::time::Instant;

use burn::tensor::{Device, Tensor, TensorData};
use detective_ml::train::assigner::{AssignerConfig, GtBox};
use detective_ml::train::loss::{LossGains, detection_loss};
use detective_ml::yolo::{Scale, YoloConfig, YoloV8};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let scale = Scale::parse(args.get(1).map(String::as_str).unwrap_or("n")).unwrap_or(Scale::N);
    let imgsz: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(320);
    let batch: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(16);
    let steps: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(4);
    let device = Device::flex().autodiff();
    let model = YoloV8::new(&YoloConfig { scale, num_classes: 6 }, &device);
    let n = batch * 3 * imgsz * imgsz;
    let data: Vec<f32> = (0..n).map(|i| ((i * 7919) % 255) as f32 / 255.0).collect();
    let targets: Vec<Vec<GtBox>> = (0..batch)
        .map(|b| {
            (0..3)
                .map(|k| {
                    let x = 20.0 + (b * 13 + k * 50) as f32 % 200.0;
                    GtBox { class: k % 6, xyxy: [x, x * 0.8, x + 40.0, x * 0.8 + 60.0] }
                })
                .collect()
        })
        .collect();
    for step in 0..steps {
        let x = Tensor::<1>::from_data(TensorData::new(data.clone(), [n]), &device).reshape([batch, 3, imgsz, imgsz]);
        let t0 = Instant::now();
        let raw = model.forward_raw(x);
        let _ = raw.clone().detach().into_data();
        let t1 = Instant::now();
        let out = detection_loss(raw, &targets, 6, (imgsz, imgsz), &AssignerConfig::default(), &LossGains::default());
        let t2 = Instant::now();
        let grads = out.total.backward();
        drop(grads);
        let t3 = Instant::now();
        println!(
            "step {step}: forward {:.0} ms, loss {:.0} ms, backward {:.0} ms, total {:.0} ms ({:.1} img/s) items {:?}",
            (t1 - t0).as_secs_f64() * 1e3,
            (t2 - t1).as_secs_f64() * 1e3,
            (t3 - t2).as_secs_f64() * 1e3,
            (t3 - t0).as_secs_f64() * 1e3,
            batch as f64 / (t3 - t0).as_secs_f64(),
            out.items
        );
    }
}
