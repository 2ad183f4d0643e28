//! Datasets in the Ultralytics YOLO layout (as Ultralytics and Roboflow write them)
//! and COCO JSON: reading, writing, checking, statistics and stratified splits.

pub mod check;
pub mod coco;
pub mod data_yaml;
pub mod dataset;
pub mod error;
pub mod image_size;
pub mod labels;
pub mod split;
pub mod stats;
pub mod unzip;
pub mod writer;

pub use data_yaml::{DataYaml, SPLITS};
pub use dataset::{Sample, SplitData, YoloDataset, is_image_path, label_path_for, mask_path_for};
pub use error::DataError;
pub use labels::YoloLabel;
pub use writer::DatasetWriter;
