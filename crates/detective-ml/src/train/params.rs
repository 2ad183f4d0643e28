//! A model's float tensors as a flat, ordered list of host vectors, and back.
//!
//! The optimiser, the EMA and the training checkpoint work on these lists: the
//! visit order of a module is fixed by its structure, so two models of the same
//! shape line up index by index. Each entry knows its path and its role in
//! Ultralytics' three parameter groups (decayed weights, batch-norm weights,
//! biases) or whether it is a buffer (batch-norm running statistics).

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::{Device, Tensor, TensorData};

/// The role of a float tensor in training.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// Convolution weights: weight decay applies (Ultralytics' group 0).
    Weight,
    /// Batch-norm scale (group 1, no decay).
    NormWeight,
    /// Biases and batch-norm shifts (group 2, no decay).
    Bias,
    /// Running statistics: not trained, but averaged by the EMA.
    Buffer,
}

/// Where a tensor sits in the model.
#[derive(Debug, Clone)]
pub struct ParamInfo {
    pub path: String,
    pub id: ParamId,
    pub shape: Vec<usize>,
    pub kind: ParamKind,
}

impl ParamInfo {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn kind_of(path: &[String]) -> ParamKind {
    let last = path.last().map(String::as_str).unwrap_or("");
    let parent = if path.len() >= 2 {
        path[path.len() - 2].as_str()
    } else {
        ""
    };
    match last {
        "running_mean" | "running_var" => ParamKind::Buffer,
        "gamma" => ParamKind::NormWeight,
        "beta" | "bias" => ParamKind::Bias,
        "weight" if parent == "bn" => ParamKind::NormWeight,
        _ => ParamKind::Weight,
    }
}

fn host_vec<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
    t.to_data().convert::<f32>().try_into_vec::<f32>().unwrap_or_default()
}

struct Collector {
    path: Vec<String>,
    infos: Vec<ParamInfo>,
    values: Option<Vec<Vec<f32>>>,
}

impl ModuleVisitor for Collector {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let tensor = param.val();
        self.infos.push(ParamInfo {
            path: self.path.join("."),
            id: param.id,
            shape: tensor.dims().to_vec(),
            kind: kind_of(&self.path),
        });
        if let Some(values) = self.values.as_mut() {
            values.push(host_vec(&tensor));
        }
    }
}

/// The layout of a model's float tensors, in visit order.
pub fn param_infos<M: Module>(model: &M) -> Vec<ParamInfo> {
    let mut c = Collector {
        path: Vec::new(),
        infos: Vec::new(),
        values: None,
    };
    model.visit(&mut c);
    c.infos
}

/// Folds pending batch-norm statistics into the module: Burn's `RunningState`
/// keeps the latest update aside until it is synchronised, so a visit would
/// otherwise read the statistics of one step earlier, and a write would be
/// overwritten by that pending update. `valid()` synchronises every running
/// state (shared with `model`) as a side effect.
fn sync_running_states<M: Module>(model: &M) {
    let _ = model.valid();
}

/// Layout and host copies of every float tensor (parameters and buffers).
pub fn read_params<M: Module>(model: &M) -> (Vec<ParamInfo>, Vec<Vec<f32>>) {
    sync_running_states(model);
    let mut c = Collector {
        path: Vec::new(),
        infos: Vec::new(),
        values: Some(Vec::new()),
    };
    model.visit(&mut c);
    (c.infos, c.values.unwrap_or_default())
}

struct Writer<'a> {
    values: &'a [Vec<f32>],
    index: usize,
    device: Device,
}

impl ModuleMapper for Writer<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let i = self.index;
        self.index += 1;
        let (id, tensor, mapper) = param.consume();
        let Some(values) = self.values.get(i) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let shape = tensor.dims();
        if values.len() != shape.iter().product::<usize>() {
            return Param::from_mapped_value(id, tensor, mapper);
        }
        let require_grad = tensor.is_require_grad();
        let new = Tensor::<D>::from_data(TensorData::new(values.clone(), shape), &self.device);
        let new = if require_grad { new.require_grad() } else { new };
        Param::from_mapped_value(id, new, mapper)
    }
}

/// Replaces every float tensor of `model` with `values` (same order and sizes as
/// [`read_params`]); tensors whose size does not match are left unchanged.
pub fn write_params<M: Module>(model: M, values: &[Vec<f32>], device: &Device) -> M {
    sync_running_states(&model);
    let mut w = Writer {
        values,
        index: 0,
        device: device.clone(),
    };
    model.map(&mut w)
}
