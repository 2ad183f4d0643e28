//! Sanity check of model, loss and optimiser: fit one fixed batch.
//! `cargo run --release -p detective-ml --example yolo_overfit -- [steps] [lr]`
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use detective_ml::train::assigner::{AssignerConfig, GtBox};
use detective_ml::train::loss::{LossGains, detection_loss};
use detective_ml::train::optimizer::{Optimizer, OptimizerKind, take_grads};
use detective_ml::train::params::{read_params, write_params};
use detective_ml::yolo::{Scale, YoloConfig, YoloV8};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let steps: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(60);
    let lr: f32 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(0.002);
    let (s, batch, nc) = (128usize, 4usize, 2usize);
    let device = Device::flex().autodiff();
    let mut model = YoloV8::new(&YoloConfig { scale: Scale::N, num_classes: nc }, &device);
    // bright rectangles on dark background, one per image
    let mut data = vec![0.1f32; batch * 3 * s * s];
    let mut targets = Vec::new();
    for b in 0..batch {
        let (x1, y1, w, h) = (10 + 20 * b, 20 + 10 * b, 30 + 5 * b, 40);
        for c in 0..3 {
            for y in y1..y1 + h {
                for x in x1..x1 + w {
                    data[((b * 3 + c) * s + y) * s + x] = 0.9;
                }
            }
        }
        targets.push(vec![GtBox { class: b % nc, xyxy: [x1 as f32, y1 as f32, (x1 + w) as f32, (y1 + h) as f32] }]);
    }
    let mut opt = Optimizer::new(OptimizerKind::AdamW, 0.0);
    for step in 0..steps {
        let x = Tensor::<1>::from_data(TensorData::new(data.clone(), [data.len()]), &device).reshape([batch, 3, s, s]);
        let raw = model.forward_raw(x);
        let out = detection_loss(raw, &targets, nc, (s, s), &AssignerConfig::default(), &LossGains::default());
        let grads = out.total.backward();
        let mut gp = GradientsParams::from_grads(grads, &model);
        let g = take_grads(&model, &mut gp);
        let (infos, mut values) = read_params(&model);
        let with_grad = g.iter().filter(|x| x.is_some()).count();
        if step == 0 {
            for (i, info) in infos.iter().enumerate() {
                if g[i].is_none() && info.kind != detective_ml::train::params::ParamKind::Buffer {
                    println!("no grad: {} {:?}", info.path, info.kind);
                }
            }
        }
        opt.step(&infos, &mut values, &g, [lr; 3], 0.9);
        model = write_params(model, &values, &device);
        if step % 5 == 0 || step + 1 == steps {
            println!("step {step}: {:?} ({with_grad}/{} tensors with grad)", out.items, infos.len());
        }
    }
}
