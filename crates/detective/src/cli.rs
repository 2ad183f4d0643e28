//! Command-line grammar (clap derive). Each sub-command's work lives in `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "detective",
    version,
    about = "Defect Detective: find surface defects on parts coming down a production line",
    long_about = "Defect Detective finds surface defects on parts coming down a production line.\n\
                  One binary: synthetic data, datasets, and (as they land) training, serving and the edge agent."
)]
pub struct Cli {
    /// Configuration file (default: ./detective.toml when present).
    #[arg(long, global = true, env = "DETECTIVE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Data folder for the embedded database, objects and spool (default ./detective-data).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a synthetic metal-surface defect dataset (YOLO layout, masks for segment).
    Synth(SynthArgs),
    /// Inspect, validate, split and convert datasets (YOLO, Roboflow, COCO).
    #[command(subcommand)]
    Dataset(DatasetCommand),
    /// Detect defects in images with a YOLO model (ours, or any Ultralytics ONNX export).
    Predict(PredictArgs),
    /// Train a YOLOv8-style detector on a YOLO dataset (Ultralytics' recipe).
    Train(TrainCliArgs),
    /// Precision, recall, mAP50 and mAP50-95 of a detector, or Dice and IoU of a
    /// segmenter, on a dataset split.
    Val(ValArgs),
    /// Export our checkpoint (.bpk) to ONNX for serving in ONNX Runtime.
    Export(ExportArgs),
    /// Build our detector (.bpk) from Ultralytics YOLOv8 weights (.onnx export or .pt
    /// checkpoint), to serve, validate or fine-tune.
    Import(ImportArgs),
    /// Measure inference latency or training throughput.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Show the effective configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Run the cloud API (and, as it lands, the dashboard) on SQLite + a local
    /// folder by default, or PostgreSQL + S3.
    Serve(ServeArgs),
    /// Run the edge agent: camera → detector → local spool → cloud (POST /api/log).
    Edge(EdgeArgs),
    /// The whole product in one process on embedded defaults: the API on SQLite and a
    /// local folder, the bundled model, and an edge agent on a synthetic camera.
    Demo(DemoArgs),
    /// Manage API keys (stored hashed; a new key is shown once).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage user accounts (dashboard sign-in with a name and password; the
    /// password is read from standard input).
    #[command(subcommand)]
    Users(UsersCommand),
    /// Database maintenance.
    #[command(subcommand)]
    Db(DbCommand),
    /// MLflow (`[mlflow] tracking_uri`): import a model version into our registry,
    /// show or send the outbox of calls waiting for MLflow.
    #[command(subcommand)]
    Mlflow(MlflowCommand),
    /// Run training jobs from the database queue (PostgreSQL for several workers):
    /// takes the oldest queued job, heartbeats, re-queues the jobs of dead workers.
    Worker(WorkerArgs),
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Seconds between polls of an empty queue.
    #[arg(long, default_value_t = 2.0)]
    pub poll_secs: f64,
    /// Seconds between heartbeats of a running job.
    #[arg(long, default_value_t = 2.0)]
    pub heartbeat_secs: f64,
    /// A running job whose heartbeat is older than this many seconds lost its
    /// worker and goes back to the queue.
    #[arg(long, default_value_t = 30.0)]
    pub stale_secs: f64,
    /// Exit after this many jobs (default: run until Ctrl-C/SIGTERM).
    #[arg(long)]
    pub max_jobs: Option<usize>,
    /// Training threads (0 = every core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Where this worker trains: `cpu` (default), `cuda[:N]` (a `cuda` build with that
    /// GPU; else it refuses to start) or `auto` (the first usable GPU, else the CPU).
    #[arg(long, default_value = "cpu", value_name = "cpu|cuda[:N]|auto")]
    pub device: String,
}

/// Where the service keeps its data; the same flags on every command that
/// touches storage, so `keys create` works on the database a server uses.
#[derive(Debug, Clone, Args)]
pub struct StorageArgs {
    /// Database: sqlite://PATH or postgres://USER@HOST/DB (default: SQLite file
    /// DATA_DIR/detective.db).
    #[arg(long, env = "DETECTIVE_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// Object store: a folder, file:///path or s3://bucket/prefix (credentials,
    /// region and endpoint from the AWS_* variables; default DATA_DIR/objects).
    #[arg(long, env = "DETECTIVE_OBJECT_STORE", value_name = "URL")]
    pub object_store: Option<String>,
}

/// `--tile` and `--overlap`: one definition for every command and task that runs a
/// model on images.
#[derive(Debug, Clone, Args)]
pub struct TileArgs {
    /// Native-resolution tiles: auto (tile an image whose long side is more than twice
    /// the images the model was trained on; a model trained on tiles always tiles), 0
    /// (never: the whole image is resized into the model), or a window side in pixels
    /// (16..=4096), each window resized to the model's input.
    #[arg(long, default_value = "auto", value_name = "auto|0|N")]
    pub tile: detective_vision::tiles::TileChoice,
    /// Share of a tile that its neighbour overlaps (0..0.9); seams are blended
    /// (segment) or merged by NMS (detect).
    #[arg(long, default_value_t = detective_vision::tiles::DEFAULT_OVERLAP, value_parser = parse_overlap)]
    pub overlap: f32,
}

impl TileArgs {
    /// The plan (both values were checked when the arguments were parsed).
    pub fn plan(&self) -> detective_vision::tiles::TilePlan {
        detective_vision::tiles::TilePlan {
            choice: self.tile,
            overlap: self.overlap,
        }
    }
}

/// `--overlap`: a number that [`detective_vision::tiles::check_overlap`] accepts.
fn parse_overlap(s: &str) -> Result<f32, String> {
    let v: f32 = s.trim().parse().map_err(|e| format!("{s:?} is not a number: {e}"))?;
    detective_vision::tiles::check_overlap(v).map_err(|e| e.to_string())?;
    Ok(v)
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<String>,
    /// Serve HTTPS with this PEM certificate chain (server certificate first);
    /// needs --tls-key. Default `server.tls_cert`.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM, unencrypted). Default `server.tls_key`.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Detector served by /api/inference/predict and the live stream: a .onnx or
    /// .bpk file, `bundled`, or `production` (the registry's Production detector,
    /// swapped in without restart whenever another version is promoted).
    #[arg(long, default_value = "bundled")]
    pub model: PathBuf,
    /// Segmenter served by /api/inference/predict?task=segment: our UNetTiny
    /// checkpoint (.bpk) or its ONNX export, or `production`: the registry's
    /// Production segmenter, swapped in without restart whenever another is
    /// promoted (each task has its own Production model). None by default.
    #[arg(long, value_name = "PATH")]
    pub segment_model: Option<PathBuf>,
    /// Segmentation training runs the dashboard's Segmentation lab compares
    /// (folders with weights/epoch_N.bpk); default DATA_DIR/runs.
    #[arg(long, value_name = "DIR")]
    pub segment_runs: Option<PathBuf>,
    #[command(flatten)]
    pub tiles: TileArgs,
    /// Predictions run at once (each uses --threads cores).
    #[arg(long, default_value_t = 1)]
    pub predict_workers: usize,
    /// Predict requests allowed to wait for a worker; more get 503 + Retry-After.
    #[arg(long, default_value_t = 8)]
    pub predict_queue: usize,
    /// ONNX Runtime threads per prediction (0 = every core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Where models run: `cpu` (default); `cuda`, `cuda:N` or `N` (a GPU: an ONNX model
    /// through ONNX Runtime's CUDA provider in any build, our .bpk checkpoints in a build
    /// with the `cuda` feature; an error where there is none); or `auto` (the first usable
    /// GPU, else the CPU, saying why in the log).
    #[arg(long, default_value = "cpu", value_name = "cpu|cuda[:N]|auto")]
    pub device: String,
    /// Serve without API keys: every caller is admin. Local demos only.
    #[arg(long)]
    pub insecure_no_auth: bool,
    /// Do not run training jobs in this process (leave them to `detective worker`
    /// processes). By default one job at a time runs here, below inference's priority.
    #[arg(long)]
    pub no_worker: bool,
}

#[derive(Debug, Args)]
pub struct EdgeArgs {
    /// synthetic://?fps=30&defect_rate=0.2&seed=1, dir://PATH?fps=10&loop=1,
    /// file://clip.mp4, rtsp://…, v4l2:///dev/video0?width=640&height=480&fps=30&format=auto
    /// (V4L2 needs a build with `--features v4l2`)
    #[arg(long)]
    pub source: String,
    /// Cloud base URL (a `detective serve`).
    #[arg(long)]
    pub cloud: String,
    /// API key (device role); default $DETECTIVE_KEY.
    #[arg(long, env = "DETECTIVE_KEY", hide_env_values = true)]
    pub key: String,
    /// For an https:// cloud whose certificate a private CA signed: that CA's
    /// certificate (PEM, one or a bundle); the agent then trusts only these for
    /// the cloud. Default: the system's CA store.
    #[arg(long, value_name = "PEM")]
    pub cloud_ca: Option<PathBuf>,
    #[arg(long, default_value = "camera-1")]
    pub camera_id: String,
    /// Project the frames belong to in the cloud.
    #[arg(long)]
    pub project: Option<String>,
    /// Model: a detector or a segmenter (.onnx, .bpk), `bundled`, or `production`: the cloud's Production
    /// model of --task, pulled at start and followed while running (a detector: the
    /// bundled model until the cloud has one; the last pulled copy when the cloud is
    /// down at start).
    #[arg(long, default_value = "bundled")]
    pub model: PathBuf,
    /// With `--model production`: follow the Production detector (`detect`, the
    /// default) or the Production segmenter (`segment`). Each task has its own.
    #[arg(long, value_enum, default_value_t = TaskArg::Detect)]
    pub task: TaskArg,
    /// Seconds between checks of the cloud's channel (`GET /api/edge/config`): the
    /// camera's inspection rules and, with `--model production`, a newly promoted model.
    /// The first check is at start.
    #[arg(long, default_value_t = 60.0)]
    pub model_poll_secs: f64,
    /// One confidence threshold for every class, over the rules (default: the
    /// rules' per class: the cloud's for this camera, else `[rules]` and `thresholds.conf`).
    #[arg(long)]
    pub conf: Option<f32>,
    /// Spool quota in MB (defective and uncertain results are evicted last).
    #[arg(long, default_value_t = 512)]
    pub spool_mb: u64,
    /// Do not keep frame JPEGs of defective and uncertain results.
    #[arg(long)]
    pub no_frames: bool,
    /// Stop after this many frames.
    #[arg(long)]
    pub max_frames: Option<u64>,
    /// Append each prediction's id to this file once it is in the spool (one per
    /// line): what this agent produced, to check against the cloud's log.
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
    /// Seconds to keep uploading after the source ends or a stop signal.
    #[arg(long, default_value_t = 10.0)]
    pub drain_secs: f64,
    /// Results per upload batch.
    #[arg(long, default_value_t = 200)]
    pub batch: usize,
    /// ONNX Runtime threads (0 = every core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Where models run: `cpu` (default); `cuda`, `cuda:N` or `N` (a GPU: an ONNX model
    /// through ONNX Runtime's CUDA provider in any build, our .bpk checkpoints in a build
    /// with the `cuda` feature; an error where there is none); or `auto` (the first usable
    /// GPU, else the CPU, saying why in the log).
    #[arg(long, default_value = "cpu", value_name = "cpu|cuda[:N]|auto")]
    pub device: String,
    /// MQTT broker for reject messages, e.g. mqtt://127.0.0.1:1883 (needs --line).
    #[arg(long, requires = "line")]
    pub mqtt: Option<String>,
    /// Production line: reject messages go to detective/{line}/reject.
    #[arg(long, requires = "mqtt")]
    pub line: Option<String>,
    /// Serve a local preview here: MJPEG with red boxes at /, JSON status at /status.
    #[arg(long, value_name = "ADDR")]
    pub preview: Option<std::net::SocketAddr>,
    #[command(flatten)]
    pub tiles: TileArgs,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Address of the API.
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub bind: String,
    /// Frames per second of the synthetic camera.
    #[arg(long, default_value_t = 10.0)]
    pub fps: f64,
    /// Share of parts with a defect.
    #[arg(long, default_value_t = 0.3)]
    pub defect_rate: f32,
    /// Stop after this many frames (default: run until Ctrl-C).
    #[arg(long)]
    pub max_frames: Option<u64>,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum RoleArg {
    Admin,
    Operator,
    Device,
    Viewer,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key; prints it alone on the last line (it is not stored, only its hash).
    Create {
        #[arg(long, value_enum)]
        role: RoleArg,
        #[arg(long)]
        name: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// List keys (id, name, role, prefix, created, revoked).
    List {
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Revoke a key by id; it stops working at once.
    Revoke {
        id: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum UserRoleArg {
    Admin,
    Operator,
    Viewer,
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create an account; its password is the first line of standard input
    /// (at least 10 characters), e.g. `detective users create --name ann
    /// --role operator < password.txt`; typed at a terminal, it is asked for.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        role: UserRoleArg,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// List accounts (id, name, role, created, state).
    List {
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Set an account's password (first line of standard input); its sessions end.
    Passwd {
        /// User name or id.
        user: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Disable an account: it cannot sign in, and its sessions end.
    Disable {
        /// User name or id.
        user: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Enable a disabled account again.
    Enable {
        /// User name or id.
        user: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum MlflowCommand {
    /// Register an MLflow model version (its ONNX artifact, or our model.bpk +
    /// model.json) as the next version of a model of ours.
    Import {
        /// The MLflow registered model.
        #[arg(long)]
        name: String,
        /// Its version number, or `@alias` (e.g. `@production`).
        #[arg(long)]
        version: String,
        /// The name in our registry (default: the MLflow name).
        #[arg(long = "as")]
        as_name: Option<String>,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// What the outbox holds: calls waiting for MLflow, delivered, refused.
    Status {
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Send what waits in the outbox now, then exit (a server or worker with
    /// `[mlflow]` does this continuously).
    Flush {
        #[command(flatten)]
        storage: StorageArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Apply the embedded migrations (serve does this at start too).
    Migrate {
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Back up a single node into a new folder: the SQLite database (a consistent
    /// copy, taken while serve may run) and every object, with the row counts.
    /// PostgreSQL + S3: use pg_dump and an S3 sync (docs/backup.md).
    Backup {
        /// The folder to write (must not exist).
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Apply retention now (`[retention]` of detective.toml: prediction logs
    /// and frames older than its days; labelled and queued frames are kept),
    /// as serve does every `interval_secs`.
    Prune {
        /// Print what was removed as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Restore a backup of `db backup` into this data dir's SQLite database and
    /// object store (stop serve first); checks every table's row count after.
    Restore {
        /// The backup folder.
        #[arg(long)]
        from: PathBuf,
        /// Replace a database that is already there.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        storage: StorageArgs,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum TaskArg {
    Detect,
    Segment,
    /// Anomaly detection: a map of "not like the good parts", trained on good parts only.
    Anomaly,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ImageFormatArg {
    Png,
    Jpg,
}

#[derive(Debug, Args)]
pub struct SynthArgs {
    /// detect: boxes only; segment: boxes plus binary masks under masks/.
    #[arg(long, value_enum, default_value = "detect")]
    pub task: TaskArg,
    /// Number of images in total over the three splits.
    #[arg(long, default_value_t = 1000)]
    pub count: u64,
    /// Image size as WxH; several sizes separated by commas (e.g.
    /// `200x200,320x320,640x480`) give each image one of them at random, so defects
    /// come at several scales once the trainer resizes them.
    #[arg(long, default_value = "320x320")]
    pub size: String,
    /// standard: the demo's surfaces and camera; wide: also a per-image contrast,
    /// brightness, defocus blur and grey output (a pretraining corpus).
    #[arg(long, default_value = "standard", value_parser = ["standard", "wide"])]
    pub variety: String,
    /// Output folder (created; must be empty or absent unless --force).
    #[arg(long)]
    pub out: PathBuf,
    /// Random seed: the same seed gives byte-identical output.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Probability that an image has at least one defect.
    #[arg(long, default_value_t = 0.8)]
    pub defect_rate: f32,
    /// Most defects in one image.
    #[arg(long, default_value_t = 4)]
    pub max_defects: usize,
    /// Defect classes, in class-index order.
    #[arg(long, value_delimiter = ',', default_value = "scratch,spot,crack,dent")]
    pub classes: Vec<String>,
    /// Fractions for train,val,test.
    #[arg(long, value_delimiter = ',', default_value = "0.7,0.15,0.15")]
    pub split: Vec<f64>,
    /// Image file format.
    #[arg(long, value_enum, default_value = "png")]
    pub format: ImageFormatArg,
    /// Write into a non-empty output folder, replacing files of the same name.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
pub enum DatasetCommand {
    /// Images and instances per split and class, image sizes, box sizes (COCO small/medium/large).
    Info {
        /// Dataset folder (holding data.yaml) or the data.yaml itself.
        path: PathBuf,
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Report every problem as file:line: reason; exit code 1 when anything is wrong.
    Check {
        path: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Deterministic stratified re-split of all images into a new dataset folder.
    Split {
        path: PathBuf,
        #[arg(long, default_value_t = 0.7)]
        train: f64,
        #[arg(long, default_value_t = 0.15)]
        val: f64,
        #[arg(long, default_value_t = 0.15)]
        test: f64,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Output folder for the new dataset.
        #[arg(long)]
        out: PathBuf,
    },
    /// Convert between YOLO and COCO JSON.
    Convert(ConvertArgs),
    /// Import a labelled set (Ultralytics/Roboflow YOLO layout) into the product's
    /// storage as a new dataset (version 1): checked first, then each image ingested
    /// into the project, each image's split and labels kept.
    Import {
        /// Dataset folder (holding data.yaml) or the data.yaml itself.
        path: PathBuf,
        /// Name of the new dataset.
        #[arg(long)]
        name: String,
        /// Project the images go into.
        #[arg(long)]
        project: String,
        /// A note on version 1.
        #[arg(long)]
        note: Option<String>,
        #[command(flatten)]
        storage: StorageArgs,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum DatasetFormat {
    Yolo,
    Coco,
}

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// Source: a YOLO dataset folder / data.yaml, or a COCO JSON file.
    pub input: PathBuf,
    /// Target format.
    #[arg(long, value_enum)]
    pub to: DatasetFormat,
    /// Output: a COCO JSON file (to coco) or a dataset folder (to yolo).
    #[arg(long)]
    pub out: PathBuf,
    /// YOLO → COCO: which split to export.
    #[arg(long, default_value = "train")]
    pub split: String,
    /// COCO → YOLO: folder holding the images named in the JSON.
    #[arg(long)]
    pub images: Option<PathBuf>,
    /// COCO → YOLO: split to write the images into.
    #[arg(long, default_value = "train")]
    pub into_split: String,
}

#[derive(Debug, Args)]
pub struct PredictArgs {
    /// detect or segment (default: what the model's metadata says, else detect).
    #[arg(long, value_enum)]
    pub task: Option<TaskArg>,
    /// Model: our checkpoint (.bpk with its .json), any YOLO ONNX export (.onnx), or
    /// "bundled": the synthetic metal-defect detector built into the binary.
    #[arg(long, default_value = "bundled")]
    pub model: PathBuf,
    /// An image, a folder of images, a glob pattern (quote it: 'parts/*.jpg'), or a
    /// video: a file (mp4, mkv, avi, mov, …) or a stream URL (rtsp://…), decoded by ffmpeg.
    #[arg(long)]
    pub source: String,
    /// Confidence threshold (default: thresholds.conf of the configuration, 0.25);
    /// for a segmenter, the pixel probability threshold (default: the model's, 0.5).
    #[arg(long)]
    pub conf: Option<f32>,
    /// IoU threshold of non-maximum suppression.
    #[arg(long, default_value_t = 0.7)]
    pub iou: f32,
    /// Most detections per image.
    #[arg(long, default_value_t = 300)]
    pub max_det: usize,
    /// Class-agnostic NMS: one box per defect where the model hesitates between
    /// classes (Ultralytics' `agnostic_nms`; `serve` and `edge` always use it).
    #[arg(long)]
    pub agnostic_nms: bool,
    /// Input size; must match a model with a fixed input size.
    #[arg(long)]
    pub imgsz: Option<u32>,
    /// Class names, overriding the model's metadata (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub names: Option<Vec<String>>,
    /// Write annotated images (red boxes) into this folder; for a video, one
    /// annotated NAME.mp4; for a segmenter NAME_heatmap.png, NAME_overlay.png and
    /// NAME_mask.png per image.
    #[arg(long)]
    pub save: Option<PathBuf>,
    /// One JSON object per image (per frame for a video, with "frame") on stdout.
    #[arg(long)]
    pub json: bool,
    /// Inference threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Where models run: `cpu` (default); `cuda`, `cuda:N` or `N` (a GPU: an ONNX model
    /// through ONNX Runtime's CUDA provider in any build, our .bpk checkpoints in a build
    /// with the `cuda` feature; an error where there is none); or `auto` (the first usable
    /// GPU, else the CPU, saying why in the log).
    #[arg(long, default_value = "cpu", value_name = "cpu|cuda[:N]|auto")]
    pub device: String,
    #[command(flatten)]
    pub tiles: TileArgs,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration (defaults < file < DETECTIVE_* env < flags).
    Show {
        /// Output format.
        #[arg(long, default_value = "toml", value_parser = ["toml", "json"])]
        format: String,
    },
}

#[derive(Debug, Args)]
pub struct TrainCliArgs {
    /// detect: the YOLO-style detector (boxes); segment: the UNetTiny segmenter
    /// (pixel masks from masks/{split}/); anomaly: a UNetTiny anomaly model trained on
    /// the defect-free images only (empty label file), with synthetic anomalies pasted
    /// onto them, its threshold calibrated on the validation split's good images.
    #[arg(long, value_enum, default_value = "detect")]
    pub task: TaskArg,
    /// Dataset: folder holding data.yaml, or the data.yaml itself.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Model scale: n (depth 0.33, width 0.25) or s (0.33, 0.50) as Ultralytics; t (0.33,
    /// 0.125) is ours, about a third of n's weights, for small tasks (default: the scale of
    /// --weights, else n).
    #[arg(long, value_parser = ["t", "n", "s"])]
    pub model: Option<String>,
    /// Start from these weights: our .bpk, or Ultralytics YOLOv8 weights (.pt checkpoint or
    /// .onnx export, imported as `detective import` does); layers whose shape differs (the
    /// class head for other classes) stay fresh. Default (`prior`): the detector's
    /// pretrained defect prior of the scale (t and n; models/README.md); `none`: random
    /// weights. Segmentation: a segmenter checkpoint (default none).
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Epochs (default 100 detect, 50 segment; with --resume: raise the saved run's count).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Square input size (multiple of 32 for detect, of 16 for segment; default 640
    /// detect, 256 segment).
    #[arg(long)]
    pub imgsz: Option<u32>,
    /// Images per batch (default 16 detect, 8 segment).
    #[arg(long)]
    pub batch: Option<usize>,
    /// Run folder: results.csv, args.yaml, weights/, plots (default
    /// runs/detect/train or runs/segment/train).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the interrupted run in --out exactly where it stopped.
    #[arg(long)]
    pub resume: bool,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Data-loading threads.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Where to train (either task): `cpu` (default); `cuda`, `cuda:N` or `N`
    /// (Ultralytics' spelling; a build with the `cuda` feature and a GPU, else an error);
    /// or `auto` (the first usable GPU, else the CPU, saying why).
    #[arg(long, default_value = "cpu", value_name = "cpu|cuda[:N]|auto")]
    pub device: String,
    /// Stop when validation fitness has not improved for this many epochs.
    #[arg(long, default_value_t = 100)]
    pub patience: usize,
    /// auto (Ultralytics' choice), SGD or AdamW.
    #[arg(long, default_value = "auto", value_parser = ["auto", "SGD", "AdamW"])]
    pub optimizer: String,
    /// Initial learning rate (SGD/AdamW; auto picks its own).
    #[arg(long)]
    pub lr0: Option<f32>,
    /// Turn mosaic off for the last N epochs.
    #[arg(long, default_value_t = 10)]
    pub close_mosaic: usize,
    /// Epochs of learning-rate warm-up (detect: default 3 as Ultralytics, at least 100
    /// steps; segment: default 1).
    #[arg(long)]
    pub warmup_epochs: Option<f32>,
    /// Mosaic probability.
    #[arg(long)]
    pub mosaic: Option<f32>,
    /// Skip validation after each epoch.
    #[arg(long)]
    pub no_val: bool,
    /// Also save weights/epoch_N every this many epochs.
    #[arg(long, default_value_t = 0)]
    pub save_period: usize,
    /// Do not write plots.
    #[arg(long)]
    pub no_plots: bool,
    /// Also export weights/best.bpk to weights/best.onnx at the end.
    #[arg(long)]
    pub export: bool,
    /// Segmentation: one output map per dataset class instead of one defect map;
    /// a defect pixel's class comes from the image's YOLO boxes (labels/).
    #[arg(long)]
    pub classes: bool,
    /// Segmentation: train on N×N windows of the imgsz images (a multiple of 16;
    /// validation and prediction still see whole images).
    #[arg(long)]
    pub patch: Option<u32>,
    /// Segmentation with --patch or --tile: probability that a window holds a defect
    /// pixel (default 0.5).
    #[arg(long)]
    pub patch_defect: Option<f32>,
    /// Segmentation: train on N×N windows at the images' native scale (a multiple of
    /// 16; no resizing, so a 2-px crack stays 2 px) and validate on overlapping N×N
    /// windows stitched together; the model then predicts tiled by default.
    #[arg(long)]
    pub tile: Option<u32>,
    /// Segmentation: weight of the defect pixels' cross-entropy against the
    /// background's (default 1; e.g. 10 where defects are well under 1 % of the pixels).
    #[arg(long)]
    pub pos_weight: Option<f32>,
    /// Segmentation: smallest random crop side as a fraction of the image side before
    /// the crop is resized back to imgsz (default 1 = no crop, so thin defects keep the
    /// width they have at prediction time; e.g. 0.6 to zoom in up to 1.7×).
    #[arg(long)]
    pub crop_min: Option<f32>,
    /// Segmentation: the soft Dice loss per image (default: each image's Dice alike, as
    /// val's per-image Dice counts them), or over the whole batch.
    #[arg(long, value_parser = ["batch", "image"])]
    pub dice: Option<String>,
    /// Segmentation: share of each epoch's draws that are images with a defect
    /// (default 0: every image once per epoch; e.g. 0.5 where most images are clean).
    #[arg(long)]
    pub defect_share: Option<f32>,
    /// Segmentation: `image` standardises each image per channel inside the network
    /// (zero mean, unit variance), so parts lit brighter or darker than the training
    /// parts look the same to it; `none` (default) feeds the pixels as they are.
    #[arg(long, value_parser = ["none", "image"])]
    pub input_norm: Option<String>,
    /// Anomaly: share of the training draws that get synthetic anomalies pasted
    /// onto them (default 0.5; the others stay good parts).
    #[arg(long)]
    pub anomaly_share: Option<f32>,
    /// Anomaly: the share of good validation images allowed to score above the
    /// calibrated threshold (default 0.01: 1 % false alarms).
    #[arg(long)]
    pub false_alarms: Option<f32>,
}

#[derive(Debug, Args)]
pub struct ValArgs {
    /// detect or segment (default: what the model's metadata says, else detect).
    #[arg(long, value_enum)]
    pub task: Option<TaskArg>,
    /// Model: our checkpoint (.bpk), an ONNX export (detector or segmenter, float or int8), or "bundled".
    #[arg(long)]
    pub model: PathBuf,
    /// Dataset: folder holding data.yaml, or the data.yaml itself.
    #[arg(long)]
    pub data: PathBuf,
    /// Split to evaluate.
    #[arg(long, default_value = "val")]
    pub split: String,
    /// Input size; must match a model with a fixed input size.
    #[arg(long)]
    pub imgsz: Option<u32>,
    /// NMS IoU threshold.
    #[arg(long, default_value_t = 0.7)]
    pub iou: f32,
    #[arg(long, default_value_t = 300)]
    pub max_det: usize,
    /// Segment: probability from which a pixel is a defect (default: the model's).
    #[arg(long)]
    pub threshold: Option<f32>,
    /// Print JSON (detect: precision, recall, map50, map50_95, per_class, coco;
    /// segment: dice, iou, dice_pixels, iou_pixels, best_threshold, best_dice).
    #[arg(long)]
    pub json: bool,
    /// Inference threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Where models run: `cpu` (default); `cuda`, `cuda:N` or `N` (a GPU: an ONNX model
    /// through ONNX Runtime's CUDA provider in any build, our .bpk checkpoints in a build
    /// with the `cuda` feature; an error where there is none); or `auto` (the first usable
    /// GPU, else the CPU, saying why in the log).
    #[arg(long, default_value = "cpu", value_name = "cpu|cuda[:N]|auto")]
    pub device: String,
    #[command(flatten)]
    pub tiles: TileArgs,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Latency of one prediction (detector: letterbox, engine, NMS; segmenter: resize, engine,
    /// map back to the frame): median, p95, images/s.
    Infer {
        /// Model: our checkpoint (.bpk), an ONNX export (detector or segmenter, float or int8), or "bundled".
        #[arg(long, default_value = "bundled")]
        model: PathBuf,
        /// Image to predict on (default: a synthetic 640×480 part).
        #[arg(long)]
        source: Option<PathBuf>,
        #[arg(long, default_value_t = 10)]
        warmup: usize,
        #[arg(long, default_value_t = 100)]
        runs: usize,
        /// Inference threads (0 = all cores).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        tiles: TileArgs,
    },
    /// Load on a running server's POST /api/log: N clients send batches of B
    /// predictions (fresh ids) for S seconds; predictions/s and p50/p99 latency.
    /// With --rate, a sustained line instead: each client a camera sending R
    /// predictions a second, the dashboard's queries meanwhile, nothing lost.
    Ingest {
        /// Server base URL.
        #[arg(long, default_value = "http://127.0.0.1:8000")]
        url: String,
        /// API key (device or admin); default $DETECTIVE_KEY.
        #[arg(long, env = "DETECTIVE_KEY", hide_env_values = true)]
        key: Option<String>,
        #[arg(long, default_value_t = 4)]
        clients: usize,
        /// Predictions per batch (1..=1000).
        #[arg(long, default_value_t = 100)]
        batch: usize,
        /// Seconds to run.
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        /// Predictions per second per client, paced (e.g. 30 for a 30 FPS camera);
        /// 0: as fast as the server answers. Paced runs read /api/metrics before
        /// and after to count what was stored: the key must be operator or admin.
        #[arg(long, default_value_t = 0.0)]
        rate: f64,
        /// Paced runs: seconds between the reader's queries of the Live list and
        /// the analytics summary (0: no reader).
        #[arg(long, default_value_t = 5.0)]
        query_every: f64,
        /// Paced runs: the server's process id, to sample its resident memory.
        #[arg(long)]
        server_pid: Option<u32>,
        #[arg(long)]
        json: bool,
    },
    /// The edge pipeline end to end (source → detector → spool → an API in this
    /// process): FPS, inference latency, drops, CPU use and peak RSS.
    Edge {
        #[arg(long, default_value = "synthetic://?fps=0&defect_rate=0.2&seed=1")]
        source: String,
        /// Detector: .onnx, .bpk or `bundled`.
        #[arg(long, default_value = "bundled")]
        model: PathBuf,
        #[arg(long, default_value_t = 300)]
        frames: u64,
        /// ONNX Runtime threads (0 = every core).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        #[arg(long)]
        json: bool,
    },
    /// Throughput of a running server's POST /api/inference/predict with N
    /// concurrent clients sending one image.
    Predict {
        #[arg(long, default_value = "http://127.0.0.1:8000")]
        url: String,
        #[arg(long, env = "DETECTIVE_KEY", hide_env_values = true)]
        key: Option<String>,
        #[arg(long, default_value_t = 4)]
        clients: usize,
        /// Image to send (default: a synthetic 640×480 part as JPEG).
        #[arg(long)]
        source: Option<PathBuf>,
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        #[arg(long)]
        json: bool,
    },
    /// Training throughput (forward, loss, backward, optimiser) of a fresh model on a fixed batch,
    /// and the process's peak memory.
    Train {
        /// detect: the YOLOv8 detector of --model's scale; segment: UNetTiny.
        #[arg(long, value_enum, default_value = "detect")]
        task: TaskArg,
        /// The detector's scale (not used with --task segment).
        #[arg(long, default_value = "n", value_parser = ["t", "n", "s"])]
        model: String,
        /// Input side (default: 320 to detect, 256 to segment).
        #[arg(long)]
        imgsz: Option<u32>,
        /// Images per step (default: 16 to detect, 8 to segment).
        #[arg(long)]
        batch: Option<usize>,
        #[arg(long, default_value_t = 1)]
        warmup: usize,
        #[arg(long, default_value_t = 5)]
        steps: usize,
        #[arg(long)]
        json: bool,
        /// Where to train: cpu (default), cuda[:N] (a `cuda` build) or auto.
        #[arg(long, default_value = "cpu", value_name = "cpu|cuda[:N]|auto")]
        device: String,
    },
    /// One segmenter training batch written out for the side-by-side check against the
    /// PyTorch reference (`scripts/seg-parity.py`): the first --batch images of --split
    /// resized to --imgsz, a fresh UNetTiny's weights, and our logits, loss, gradients
    /// and batch-norm statistics (docs/segmentation.md#parity-with-the-pytorch-reference).
    Parity {
        /// Dataset folder (data.yaml, images/, masks/).
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value = "train")]
        split: String,
        #[arg(long, default_value_t = 128)]
        imgsz: u32,
        #[arg(long, default_value_t = 8)]
        batch: usize,
        /// Seed of the network's initial weights.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Folder for parity.json and tensors.f32.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// An Ultralytics YOLOv8 t/n/s detector: an ONNX export (best.onnx) or a PyTorch
    /// checkpoint (best.pt, last.pt). A .pt is read without running any of its code.
    pub model: PathBuf,
    /// Our checkpoint to write (.bpk, with its .json beside it).
    #[arg(long)]
    pub out: PathBuf,
    /// An ONNX export of the same weights to check the import against in ONNX Runtime
    /// (default: the imported file itself when it is an .onnx).
    #[arg(long)]
    pub check_against: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Our checkpoint (.bpk, with its .json beside it).
    #[arg(long)]
    pub model: PathBuf,
    /// Output format.
    #[arg(long, default_value = "onnx", value_parser = ["onnx"])]
    pub format: String,
    /// Square input size of the exported model, a multiple of 32 for a detector, of 16 for
    /// a segmenter (default: the checkpoint's).
    #[arg(long)]
    pub imgsz: Option<u32>,
    /// Output file (default: the model's path with extension .onnx, where `predict` finds
    /// it; with --int8, .int8.onnx).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Static int8 quantisation (QDQ: int8 weights per output channel, uint8 activations
    /// per tensor), calibrated on --calibration images.
    #[arg(long, requires = "calibration")]
    pub int8: bool,
    /// Calibration images for --int8: a folder, a glob pattern or one image (use images
    /// like the ones the model will see, e.g. the dataset's train or val folder).
    #[arg(long, requires = "int8")]
    pub calibration: Option<String>,
    /// How many calibration images to use, spread over the folder.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub calib_count: u64,
    /// How activation ranges are taken: percentile (the --percentile-th and its mirror,
    /// ignoring rare outliers) or minmax (every value seen).
    #[arg(long, default_value = "percentile", value_parser = ["minmax", "percentile"])]
    pub calib_method: String,
    /// Percentile for --calib-method percentile (50..=100).
    #[arg(long, default_value_t = 99.999)]
    pub percentile: f32,
    /// Bits of the int8 weights: 7 (±63) avoids the int16 saturation of ONNX Runtime's
    /// AVX2 kernels on CPUs without VNNI, which costs accuracy; 8 (±127) is finer
    /// where the serving CPU has VNNI.
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u8).range(7..=8))]
    pub weight_bits: u8,
    /// SiLU between the integer convolutions: `float` (dequantised, as the float
    /// graph computes it) or `int8` (QLinearSigmoid + QLinearMul).
    #[arg(long, default_value = "int8", value_parser = ["float", "int8"])]
    pub silu: String,
    /// ONNX Runtime threads for calibration and the check (0 = every core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}
